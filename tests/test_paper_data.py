"""The paper's numbers come from the data files, once; a file that lacks one fails in one line."""

import shutil

import pandas as pd
import pytest

from calibration import paper
from calibration.items import ADVANTAGE_COLUMNS
from calibration.paper import DataFileError
from calibration.population import standardisation
from calibration.targets import a2_targets, advantage_type_shares, design_effect_target
from sim.params import ADVANTAGE_TYPES


@pytest.fixture
def data_copy(tmp_path, monkeypatch):
    """A writable copy of calibration/data that every loader reads instead."""
    directory = tmp_path / "data"
    shutil.copytree(paper.DATA_DIR, directory)
    monkeypatch.setattr(paper, "DATA_DIR", directory)
    paper.usage_facts.cache_clear()
    yield directory
    paper.usage_facts.cache_clear()


def test_text_facts_and_derived_targets():
    assert paper.sample_size() == 2209 and paper.max_weight() == 2.0
    assert paper.fact("margin_of_error") == 2.22
    assert design_effect_target() == pytest.approx(1.1336, abs=1e-4)
    assert a2_targets("weighted_pct")["lives_in_pilot_locality"] == {1: 0.43}


def test_standardisation_is_read_from_the_tables():
    # Table A3's weighted age mean and SD, Table A2's unweighted share of men:
    # exactly the values the shipped thresholds were fitted with.
    assert standardisation() == (31.21, 10.318, 0.5826)


def test_advantage_columns_follow_the_engine():
    assert ADVANTAGE_COLUMNS == tuple(f"adv_{name}" for name in ADVANTAGE_TYPES)
    assert list(advantage_type_shares()) == list(ADVANTAGE_COLUMNS)


@pytest.mark.parametrize("fact", ["margin_of_error", "sample_size", "max_weight", "sesame_and_tencent"])
def test_missing_fact_is_a_data_file_error(data_copy, fact):
    path = data_copy / "usage_facts.csv"
    frame = pd.read_csv(path)
    frame[frame["fact"] != fact].to_csv(path, index=False)
    with pytest.raises(DataFileError, match=f"usage_facts.csv: fact '{fact}' is missing"):
        paper.fact(fact)


def test_advantage_types_must_match_the_engine(data_copy):
    path = data_copy / "assumptions_advantage_types.csv"
    frame = pd.read_csv(path)
    frame.loc[frame["type"] == "adv_dating", "type"] = "adv_romance"
    frame.to_csv(path, index=False)
    with pytest.raises(DataFileError, match=r"must list each of adv_credit.*adv_romance"):
        advantage_type_shares()
