"""The month's uniform draws, kept only where a rule can read them.

Every monthly rule of the policy and awareness stages compares a citizen's
uniform draw ``u`` with a chance no larger than a ceiling known before the
month's draws (a lever, or the maximum of a small table of chances): the rule
fires when ``u < chance``. A draw at or above the ceiling therefore decides
nothing, whichever citizen holds it. ``uniforms_below`` draws only the
uniforms below the ceiling, with the citizens who hold them:

* the positions of ``u < ceiling`` among n independent uniforms are a
  Bernoulli(ceiling) process, whose gaps are independent geometric variables;
* given that ``u < ceiling``, ``u`` is uniform on [0, ceiling).

So the rules meet the same distribution of outcomes as with a full array of
n uniforms, at a cost that grows with n × ceiling instead of n (the month's
uniforms took about 28 of 100 ms a month at a million citizens as full
arrays). The numbers drawn, and so a seed's outputs, differ from full arrays;
``tests/test_draws.py`` tests the distribution.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from sim.params import ADVANTAGE_TYPES


@dataclass(frozen=True)
class Streams:
    """One generator per monthly rule, each a child of the monthly seed.

    A rule's draws depend only on its own ceilings, so runs that differ in one rule's ceiling
    still give every other rule the same numbers month after month: paired runs keep their
    common random numbers, as with full arrays of draws. Listings draw for whom no lever
    decides (``listing_draws``), so runs differing in listing levers share those numbers too.
    """

    shock: np.random.Generator
    listing: np.random.Generator
    wrongful: np.random.Generator
    redlist: np.random.Generator
    benefits: tuple[np.random.Generator, ...]
    disadvantage: np.random.Generator
    learn: np.random.Generator
    forget: np.random.Generator

    @classmethod
    def spawned(cls, seed: np.random.SeedSequence) -> Streams:
        """The streams of the children of ``seed`` (as ``seed.spawn`` would give them, without spawning)."""
        children = [
            np.random.default_rng(
                np.random.SeedSequence(seed.entropy, spawn_key=(*seed.spawn_key, index), pool_size=seed.pool_size)
            )
            for index in range(7 + len(ADVANTAGE_TYPES))
        ]
        shock, listing, wrongful, redlist, disadvantage, learn, forget = children[:7]
        return cls(shock, listing, wrongful, redlist, tuple(children[7:]), disadvantage, learn, forget)

    @classmethod
    def single(cls, rng: np.random.Generator) -> Streams:
        """Every rule drawing from ``rng`` (a stage run on its own, as in tests)."""
        return cls(rng, rng, rng, rng, (rng,) * len(ADVANTAGE_TYPES), rng, rng, rng)


@dataclass(frozen=True)
class ListingDraws:
    """The month's black- and redlisting draws, none of them decided by a lever.

    Attributes:
        conduct: One uniform per citizen who defaulted (in citizen order), for the blacklist rate.
        wrongful: Everyone's uniforms below the largest false-positive rate the schema allows.
        redlist: One uniform per citizen in the top decile of pilot scores (in citizen order).

    A harsher rate then lists everyone a milder one lists, and more, in paired runs.
    """

    conduct: np.ndarray
    wrongful: SparseUniforms
    redlist: np.ndarray


def listing_draws(
    streams: Streams, n: int, defaulters: np.ndarray, top_decile: np.ndarray, wrongful_ceiling: float
) -> ListingDraws:
    """The month's listing draws for citizens ``defaulters`` and ``top_decile`` (indices) among n."""
    return ListingDraws(
        streams.listing.random(defaulters.size),
        uniforms_below(streams.wrongful, n, wrongful_ceiling),
        streams.redlist.random(top_decile.size),
    )


_NOBODY = np.empty(0, dtype=np.int32)
# From this ceiling on every uniform is drawn: a gap (an exponential and a uniform) costs about 6 ns
# a citizen drawn, a uniform about 2.5 ns a citizen (measured at a million).
GAP_CEILING = 0.35


@dataclass(frozen=True)
class Groups:
    """Citizens sorted into groups that share a ceiling (a rule's largest chance within the group).

    Attributes:
        codes: Each citizen's group.
        members: Citizens in group order (ascending within a group).
        starts: Group g's members are ``members[starts[g]:starts[g + 1]]``.
        sizes: How many citizens each group has.
    """

    codes: np.ndarray
    members: np.ndarray
    starts: np.ndarray
    sizes: np.ndarray

    @classmethod
    def of(cls, codes: np.ndarray, count: int) -> Groups:
        """The groups of citizens with each code in 0..count-1."""
        # Codes in one byte while they fit: 7 B a citizen less than intp, kept for the whole run,
        # and NumPy's stable sort of bytes is a radix sort (10 ms at a million citizens against 34).
        codes = codes.astype(np.uint8) if count <= 256 else codes
        # int32 members: 4 B a citizen for a partition kept for the whole run.
        members = np.argsort(codes, kind="stable").astype(np.int32)
        sizes = np.bincount(codes, minlength=count)
        return cls(codes, members, np.concatenate([[0], np.cumsum(sizes)]), sizes)


@dataclass(frozen=True)
class SparseUniforms:
    """The uniforms of n citizens that fall below their group's ceiling: who holds one and its value.

    Every other citizen's uniform lies in [ceiling, 1) and decides no rule that reads it.
    ``citizens`` run group by group, ascending within a group.
    """

    citizens: np.ndarray
    draws: np.ndarray
    ceilings: np.ndarray
    groups: Groups | None
    n: int

    def expanded(self) -> np.ndarray:
        """A full array of n draws: the values below the ceiling, the citizen's ceiling everywhere else.

        Every rule compares ``u < chance`` with ``chance <= ceiling`` (false at the ceiling, as
        for any uniform at or above it), or with a chance of 1 (true, as for any uniform).
        """
        codes = np.zeros(self.n, dtype=np.intp) if self.groups is None else self.groups.codes
        full = self.ceilings[codes].astype(float)
        full[self.citizens] = self.draws
        return full


class Buffers:
    """Room for one draw's citizens and values, kept between draws and grown when needed.

    A month at a million citizens finds about 0.7 million draws below their ceilings: in
    fresh arrays every month, faulting in their pages took about 3 ms.
    """

    def __init__(self) -> None:
        self.citizens = np.empty(0, dtype=np.int64)
        self.draws = np.empty(0)

    def room(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        """Arrays of at least ``size`` (their old values lost)."""
        if self.citizens.size < size:
            self.citizens, self.draws = np.empty(size, dtype=np.int64), np.empty(size)
        return self.citizens, self.draws


def uniforms_below(
    rng: np.random.Generator,
    n: int,
    ceiling: float | np.ndarray,
    groups: Groups | None = None,
    buffers: Buffers | None = None,
) -> SparseUniforms:
    """Which of n uniform draws fall below their ceiling, and their values, drawn from ``rng``.

    Args:
        rng: The month's generator.
        n: Number of citizens.
        ceiling: The largest chance any rule will compare these draws with (clipped to [0, 1]):
            one for everyone, or one per group of ``groups``.
        groups: Citizens who share a ceiling (everyone, if None).
        buffers: Room to draw into, if kept by the caller; the result then holds views of it,
            valid until its next use.
    """
    # Small runs make many draws a month: scalars stay Python floats here (~45 → ~20 µs a draw).
    if groups is None:
        ceilings = np.array([min(max(float(ceiling), 0.0), 1.0)])
        members, starts = _NOBODY, np.array([0, n])
        expected = n * float(ceilings[0])
    else:
        ceilings = np.minimum(np.maximum(np.asarray(ceiling, dtype=float), 0.0), 1.0)
        members, starts = groups.members, groups.starts
        expected = float(groups.sizes @ ceilings)
    # Room for the expected number below the ceilings and ten standard deviations: nearly always enough,
    # and grown between calls of the compiled loop when not (growing inside it slowed it by ~70%).
    buffers = Buffers() if buffers is None else buffers
    citizens, draws = buffers.room(int(expected + 10 * np.sqrt(expected) + 64))
    group, resume, count = 0, -1, 0
    while True:
        group, resume, count = _below(
            rng, groups is None, members, starts, ceilings, GAP_CEILING, citizens, draws, group, resume, count
        )
        if group == ceilings.size:
            return SparseUniforms(citizens[:count], draws[:count], ceilings, groups, n)
        full_citizens, full_draws = citizens, draws
        citizens, draws = buffers.room(2 * citizens.size)
        citizens[:count], draws[:count] = full_citizens[:count], full_draws[:count]


@numba.njit(cache=True)
def _below(
    rng: np.random.Generator,
    everyone: bool,
    members: np.ndarray,
    starts: np.ndarray,
    ceilings: np.ndarray,
    gap_ceiling: float,
    citizens: np.ndarray,
    draws: np.ndarray,
    group: int,
    resume: int,
    count: int,
) -> tuple[int, int, int]:
    """The citizens of each group whose uniform falls below the group's ceiling, and their values,
    from group ``group`` on (``resume``: where a full buffer stopped it, or -1).

    Returns where it stopped (the group, ``resume``, the count); the group is past the last when done.
    Compiled with NumPy's own generator (numba draws from its state): no arrays of gaps or of
    uniforms, one pass over the citizens below the ceilings.
    """
    while group < ceilings.size:
        start, stop, ceiling = starts[group], starts[group + 1], ceilings[group]
        if 0.0 < ceiling < gap_ceiling:
            # Gaps between successive positions below the ceiling are geometric: 1 + ⌊E / −log(1 − ceiling)⌋
            # for a standard exponential E. Capped at the group's size before the cast (a tiny ceiling's
            # gaps can exceed any integer).
            rate = -np.log1p(-ceiling)
            position = start - 1 if resume < 0 else resume
            while True:
                if count == citizens.size:
                    return group, position, count
                position += 1 + int(min(rng.standard_exponential() / rate, stop - start))
                if position >= stop:
                    break
                citizens[count] = position if everyone else members[position]
                # Given u < ceiling, u is uniform on [0, ceiling).
                draws[count] = rng.random() * ceiling
                count += 1
        elif ceiling >= gap_ceiling:
            for position in range(start if resume < 0 else resume, stop):
                if count == citizens.size:
                    return group, position, count
                u = rng.random()
                citizens[count] = position if everyone else members[position]
                draws[count] = u
                # No branch on the draw: the next citizen overwrites this one if it was not below.
                count += u < ceiling
        group, resume = group + 1, -1
    return group, resume, count
