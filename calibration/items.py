"""The questionnaire items of the synthetic sample and how the survey branched.

Codes follow the public schema of ``scsim population``: −1 = "I don't know",
−2 = "I'd rather not answer", missing = not asked. Substantive codes are listed
in the order of the underlying latent variable (low to high).
"""

from __future__ import annotations

from dataclasses import dataclass

from sim.params import ADVANTAGE_TYPES


@dataclass(frozen=True)
class Item:
    """One ordinal item of Table A2.

    Attributes:
        name: Public column name.
        codes: Substantive answer codes, in latent order.
        asked_of: Name of the branch that was asked (see ``BRANCHES``).
        nonresponse: Non-substantive codes offered (−1 and/or −2), as in Table A2.
        factor: Latent factor the item loads on: "ses" (socio-economic and
            digital resources) or "att" (attitude towards SCS and the state).
    """

    name: str
    codes: tuple[int, ...]
    asked_of: str
    nonresponse: tuple[int, ...] = ()
    factor: str = "ses"


# Branching, as in the questionnaire (Table A2 notes b–e and the Model 5/6
# subsamples): scores only for users of that system, relative score and
# (dis)advantages for Sesame/Tencent users, the government-pilot score for
# pilot participants, and the SCS-characteristics block for commercial users.
BRANCHES = (
    "all",
    "sesame_users",
    "tencent_users",
    "sesame_or_tencent_users",
    "commercial_users",
    "gov_pilot_participants",
)

ITEMS: tuple[Item, ...] = (
    Item("income_group", (1, 2, 3), "all", (-2,), "ses"),
    Item("education", (1, 2, 3, 4), "all", (), "ses"),
    Item("urban", (0, 1), "all", (), "ses"),
    Item("smartphone_time", (0, 1, 2, 3, 4, 5, 6), "all", (), "ses"),
    Item("post_frequency", (1, 2, 3, 4, 5, 6), "all", (), "ses"),
    Item("ccp_member", (0, 1), "all", (-2,), "ses"),
    Item("gov_confidence", (1, 2, 3, 4), "all", (), "att"),
    Item("received_info", (0, 1), "all", (), "att"),
    Item("accountability", (1, 2, 3, 4, 5), "all", (), "att"),
    Item("abiding_regulations", (1, 2, 3, 4), "all", (-1,), "att"),
    Item("quality_of_life", (1, 2, 3, 4, 5), "all", (), "att"),
    Item("sesame_score_band", (1, 2, 3, 4, 5, 6), "sesame_users", (-1, -2), "ses"),
    Item("tencent_score_band", tuple(range(1, 10)), "tencent_users", (-1, -2), "ses"),
    Item("relative_score", (1, 2, 3, 4, 5), "sesame_or_tencent_users", (-1, -2), "att"),
    Item("advantages", (0, 1), "sesame_or_tencent_users", (), "att"),
    Item("disadvantages", (0, 1), "sesame_or_tencent_users", (-2,), "att"),
    Item("transparency", (1, 2, 3), "commercial_users", (), "att"),
    Item("auto_joined", (0, 1), "commercial_users", (), "att"),
    Item("fairness", (1, 2, 3, 4), "commercial_users", (-1,), "att"),
    Item("gov_relative_score", (1, 2, 3), "gov_pilot_participants", (-1, -2), "att"),
)

# Multi-select "Which social credit systems do you use?" (Table A2, note a).
USAGE_COLUMNS = (
    "uses_sesame",
    "uses_tencent",
    "uses_other_commercial",
    "gov_pilot_participant",
)

# The seven advantage types (Table 5, withheld) as public columns; the engine's
# names (``sim.params.ADVANTAGE_TYPES``) are the canonical ones.
ADVANTAGE_COLUMNS = tuple(f"adv_{name}" for name in ADVANTAGE_TYPES)

# The public schema of `scsim population`, in column order.
SCHEMA_COLUMNS = (
    "age",
    "income_group",
    "male",
    "education",
    "urban",
    "region",
    "smartphone_time",
    "post_frequency",
    "ccp_member",
    "gov_confidence",
    "uses_sesame",
    "uses_tencent",
    "uses_other_commercial",
    "gov_pilot_participant",
    "scs_dont_know",
    "scs_none",
    "lives_in_pilot_locality",
    "sesame_score_band",
    "tencent_score_band",
    "relative_score",
    "gov_relative_score",
    "transparency",
    "received_info",
    "auto_joined",
    "fairness",
    "advantages",
    "disadvantages",
    "accountability",
    "abiding_regulations",
    "quality_of_life",
    *ADVANTAGE_COLUMNS,
    "weight",
    "approval",
)
