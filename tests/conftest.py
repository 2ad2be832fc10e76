"""Shared fixtures: one large synthetic sample per session (generation takes seconds)."""

import pytest

from calibration.rules import approval_rule
from calibration.sample import generate_sample

LARGE_N = 200_000


@pytest.fixture(scope="session")
def default_rule():
    return approval_rule()


@pytest.fixture(scope="session")
def large_sample(default_rule):
    return generate_sample(LARGE_N, 11, default_rule)


@pytest.fixture(scope="session")
def small_sample(default_rule):
    return generate_sample(5_000, 3, default_rule)
