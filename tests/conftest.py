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


@pytest.fixture(scope="session")
def fixture_params_dir(tmp_path_factory):
    """A parameter directory with the shipped pair and a three-member ensemble (``tests/ensemble_fixture.py``)."""
    from ensemble_fixture import write_fixture_ensemble

    return write_fixture_ensemble(tmp_path_factory.mktemp("params"))


@pytest.fixture
def ensemble_params(fixture_params_dir, monkeypatch):
    """Point ``$SCSIM_PARAMS_DIR`` at the fixture ensemble for one test."""
    monkeypatch.setenv("SCSIM_PARAMS_DIR", str(fixture_params_dir))
    return fixture_params_dir
