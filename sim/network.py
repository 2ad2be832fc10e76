"""A sparse social network with homophily by region, urban residence and age.

Generator: citizens are grouped by region × urban/rural; inside each group they
are ordered by age (ties in age broken at random), and each citizen is linked
to ``degree`` others whose position in that order lies within ``2 × degree``
places of their own. Ties are therefore always within the same region and
location type and between people of similar age; they are directed (i names
j as a tie), which is all the relative-score and peer-fairness channels need.
Memory is one (degree, n) int8 array of offsets and two int32 orders, so a
million citizens are cheap.

``homophilous_network`` also keeps that order (``TieNetwork``): citizens'
indices are in random order, so gathering every tie's value by index reads
memory at random, while in the group × age order each citizen's ties lie
within ``2 × degree`` places of their own (``sim.perceptions`` reads them so).
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np


@dataclass(frozen=True)
class TieNetwork:
    """The ties in the group × age order they were drawn in.

    Attributes:
        order: int32, the citizens in group × age order (place → citizen).
        rank: int32, each citizen's place in that order (citizen → place).
        offsets: (degree, n), the places of the ties of the citizen at each place
            relative to that place (tie place − own place), one row per tie in the
            order of ``ties``' columns; int8 while ``reach`` allows (1 B a tie, not 4).
        reach: The largest distance between a citizen's place and a tie's.
    """

    order: np.ndarray
    rank: np.ndarray
    offsets: np.ndarray
    reach: int

    @property
    def degree(self) -> int:
        return self.offsets.shape[0]

    @property
    def ties(self) -> np.ndarray:
        """(n, degree) int32, the citizens each citizen names, in the order of ``offsets``' rows.

        Built on each call from the offsets (the engine reads ties in place order and
        never needs this): not keeping it saves 4 B a tie, 32 B a citizen at degree 8.
        """
        ties = np.empty((self.order.size, self.degree), dtype=np.int32)
        ties[self.order] = self.order[self.places].T
        return ties

    @property
    def places(self) -> np.ndarray:
        """(degree, n) int32, the places of the ties (``offsets`` made absolute; built on each call)."""
        return (self.offsets + np.arange(self.order.size, dtype=np.int32)).astype(np.int32)


def in_place_order(network: TieNetwork) -> TieNetwork:
    """The same ties for citizens stored in ``network``'s place order (citizen i at place i)."""
    identity = np.arange(network.order.size, dtype=np.int32)
    return TieNetwork(identity, identity, network.offsets, network.reach)


# Citizens per block of the network's draws: the int64 draws of a block, not of everyone
# (saves two (n, degree) int64 arrays and their int32 copies, ~190 B a citizen at degree 8).
DRAW_BLOCK = 1 << 16


def homophilous_network(
    rng: np.random.Generator, region: np.ndarray, urban: np.ndarray, age: np.ndarray, degree: int
) -> TieNetwork:
    """Each citizen's ties and the order they were drawn in; a citizen alone in their group is tied to themself."""
    n = len(age)
    degree = int(degree)
    if not 1 <= degree <= PAIRWISE_BLOCK:
        raise ValueError(f"network_degree: must be between 1 and {PAIRWISE_BLOCK}, got {degree}")
    group = np.asarray(region, dtype=np.int64) * 2 + np.asarray(urban, dtype=np.int64)
    order = _group_age_order(rng.random(n), np.asarray(age), group).astype(np.int32)
    sorted_group = group[order]
    del group
    starts = np.searchsorted(sorted_group, sorted_group, side="left")
    ends = np.searchsorted(sorted_group, sorted_group, side="right")
    del sorted_group
    # Places and sizes fit in int32 (n < 2^31): half the memory traffic of int64 arrays.
    sizes = (ends - starts).astype(np.int32)[:, None]
    del ends
    position = (np.arange(n) - starts).astype(np.int32)
    del starts
    window = 2 * degree
    # Drawn in blocks of rows into one int32 array: the same numbers in the same order
    # (all distances, then all signs), as the generator's stream does not depend on the blocks.
    target = np.empty((n, degree), dtype=np.int32)
    for start in range(0, n, DRAW_BLOCK):
        target[start : start + DRAW_BLOCK] = rng.integers(1, window + 1, size=(min(DRAW_BLOCK, n - start), degree))
    for start in range(0, n, DRAW_BLOCK):
        target[start : start + DRAW_BLOCK] *= rng.choice([-1, 1], size=(min(DRAW_BLOCK, n - start), degree))
    target += position[:, None]
    # Reflect at the group's edges so every tie stays inside the group (in place: no (n, degree) temporaries).
    np.abs(target, out=target)
    np.subtract(2 * (sizes - 1), target, out=target, where=target >= sizes)
    np.clip(target, 0, sizes - 1, out=target)
    del sizes
    # Place within the group − own place within the group = tie place − own place.
    target -= position[:, None]
    del position
    reach = int(np.abs(target).max()) if n else 0
    offsets = np.empty((degree, n), dtype=np.min_scalar_type(-max(reach, 1) - 1))
    for row, column in zip(offsets, target.T, strict=True):
        row[...] = column
    del target
    rank = np.empty(n, dtype=np.int32)
    rank[order] = np.arange(n, dtype=np.int32)
    return TieNetwork(order, rank, offsets, reach)


def _group_age_order(draws: np.ndarray, age: np.ndarray, group: np.ndarray) -> np.ndarray:
    """``np.lexsort((draws, age, group))``: by group, then age, then the draw, then index.

    Sorting the draws, then stably by one small integer key of (group, age), gives the
    same order in ~0.1 s instead of ~0.3 s at a million citizens.
    """
    whole = age.size and np.array_equal(age, np.floor(age)) and age.min() >= 0 and age.max() < 256
    if not whole or (group.size and (group.min() < 0 or group.max() >= 2**22)):
        return np.lexsort((draws, age, group))
    by_draw = np.argsort(draws, kind="stable")
    key = (group * 256 + age.astype(np.int64))[by_draw].astype(np.int32)
    return by_draw[np.argsort(key, kind="stable")]


# NumPy sums up to 128 values with eight interleaved partial sums (``_ties_sum``); longer rows it
# splits in halves, which ``_ties_sum`` does not follow: the network allows at most this many ties.
PAIRWISE_BLOCK = 128


# Inlined into its caller and reading the ties' values where they lie, with no array of them
# (a call per place with an array of the ties cost ~5 ms a month at a million citizens, the array ~1.5).
@numba.njit(cache=True, inline="always")
def _ties_sum(placed: np.ndarray, offsets: np.ndarray, place: int) -> float:
    """``np.add.reduce`` of the values of the ties of ``place`` (at most 128), in NumPy's order of additions.

    Fewer than 8 values are added left to right from 0.0; otherwise in eight
    interleaved partial sums joined as ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7)),
    then the rest left to right (tests/test_network.py checks every degree).
    """
    degree = offsets.shape[0]
    if degree < 8:
        total = 0.0
        for tie in range(degree):
            total += placed[place + offsets[tie, place]]
        return total
    r0, r1 = placed[place + offsets[0, place]], placed[place + offsets[1, place]]
    r2, r3 = placed[place + offsets[2, place]], placed[place + offsets[3, place]]
    r4, r5 = placed[place + offsets[4, place]], placed[place + offsets[5, place]]
    r6, r7 = placed[place + offsets[6, place]], placed[place + offsets[7, place]]
    stop = degree - degree % 8
    for start in range(8, stop, 8):
        r0 += placed[place + offsets[start, place]]
        r1 += placed[place + offsets[start + 1, place]]
        r2 += placed[place + offsets[start + 2, place]]
        r3 += placed[place + offsets[start + 3, place]]
        r4 += placed[place + offsets[start + 4, place]]
        r5 += placed[place + offsets[start + 5, place]]
        r6 += placed[place + offsets[start + 6, place]]
        r7 += placed[place + offsets[start + 7, place]]
    total = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    for tie in range(stop, degree):
        total += placed[place + offsets[tie, place]]
    return total


@numba.njit(cache=True)
def place_means(placed: np.ndarray, offsets: np.ndarray, means: np.ndarray) -> None:
    """Each place's ties' mean of ``placed`` (values in place order) into ``means``, to NumPy's bits.

    Compiled: one pass with no (n, degree) gathered array (64 MB at a million citizens);
    each place's ties lie within ``reach`` places, so the reads stay in cache.
    """
    degree, n = offsets.shape
    for place in range(n):
        # ndarray.mean divides the sum by the count, as here.
        means[place] = _ties_sum(placed, offsets, place) / degree


def tie_means(network: TieNetwork, values: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``values[ties].mean(axis=1)`` to the last bit, read in group × age order (``place_means``)."""
    means = np.empty(network.order.size)
    place_means(np.take(np.asarray(values, dtype=np.float64), network.order), network.offsets, means)
    out = np.empty(network.order.size) if out is None else out
    out[network.order] = means
    return out


@numba.njit(cache=True)
def _tie_counts(
    flagged_places: np.ndarray, order: np.ndarray, offsets: np.ndarray, reach: int
) -> tuple[np.ndarray, np.ndarray]:
    degree, n = offsets.shape
    is_flagged = np.zeros(n, dtype=np.bool_)
    for place in flagged_places:
        is_flagged[place] = True
    seen = np.zeros(n, dtype=np.bool_)
    citizens = np.empty(min(n, flagged_places.size * (2 * reach + 1)), dtype=np.int64)
    counts = np.empty(citizens.size, dtype=np.int64)
    found = 0
    for flagged in flagged_places:
        # Only citizens within ``reach`` places can name this one.
        for place in range(max(flagged - reach, 0), min(flagged + reach + 1, n)):
            if seen[place]:
                continue
            seen[place] = True
            count = 0
            for tie in range(degree):
                count += is_flagged[place + offsets[tie, place]]
            if count:
                citizens[found] = order[place]
                counts[found] = count
                found += 1
    return citizens[:found], counts[:found]


def tie_counts(network: TieNetwork, flagged: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``flags[ties].sum(axis=1)`` where positive, for the few flagged citizens (indices).

    Only citizens within ``reach`` places of a flagged one can name them, so a
    month with a few thousand new listings reads their neighbourhoods, not every
    tie, in one compiled pass (saves ~15 ms a month at a million citizens against
    NumPy's ``unique`` and ``isin`` over the same places).

    Returns:
        The citizens naming at least one flagged citizen (ascending) and how many each names.
    """
    places = network.rank[flagged].astype(np.int64)
    citizens, counts = _tie_counts(places, network.order, network.offsets, network.reach)
    sort = np.argsort(citizens)
    return citizens[sort], counts[sort]
