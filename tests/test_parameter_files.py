"""The calibrated parameter files: checked on load, one-line errors, SCSIM_PARAMS_DIR, JSON round trips."""

import json
import math
import shutil

import numpy as np
import pytest

from calibration.joint import PARAMS_FILE, JointParams
from calibration.parameter_files import ENV_VAR, JOINT_FILE, POPULATION_FILE, SHIPPED_DIR, ParameterFileError
from calibration.population import GeneratorParams
from calibration.rules import default_rule
from experiments.cli import main
from sim.errors import UserError

LOADERS = {POPULATION_FILE: GeneratorParams, JOINT_FILE: JointParams}


def shipped(name):
    return json.loads((SHIPPED_DIR / name).read_text())


def params_dir_with(tmp_path, name, data=None, text=None):
    """A copy of the shipped parameter files in which file ``name`` is replaced."""
    directory = tmp_path / "params"
    directory.mkdir(exist_ok=True)
    for other in LOADERS:
        shutil.copy(SHIPPED_DIR / other, directory / other)
    target = directory / name
    if text is not None:
        target.write_bytes(text if isinstance(text, bytes) else text.encode())
    else:
        target.write_text(json.dumps(data))  # NaN is written as the JSON-like token NaN
    return directory


def setitem(data, path, value):
    *parents, last = path
    for key in parents:
        data = data[key]
    data[last] = value


def delitem(data, path):
    *parents, last = path
    for key in parents:
        data = data[key]
    del data[last]


# (file, what is wrong, edit of the parsed JSON, fragments the one-line error must contain)
CORRUPTIONS = [
    (POPULATION_FILE, "nan loading", lambda d: setitem(d, ("loadings", "fairness"), math.nan),
     ("loadings.fairness", "must be a finite number, got nan")),
    (POPULATION_FILE, "missing key", lambda d: delitem(d, ("pilot_link",)), ("pilot_link", "required key is missing")),
    (POPULATION_FILE, "extra key", lambda d: setitem(d, ("surplus",), 1.0), ("surplus", "unknown key")),
    (POPULATION_FILE, "list for mapping", lambda d: setitem(d, ("loadings",), list(d["loadings"].values())),
     ("loadings", "must be a mapping")),
    (POPULATION_FILE, "string for number", lambda d: setitem(d, ("factor_correlation",), "0.2"),
     ("factor_correlation", "must be a number")),
    (POPULATION_FILE, "bool for number", lambda d: setitem(d, ("thresholds", "education", 1), True),
     ("thresholds.education.1", "must be a number")),
    (POPULATION_FILE, "missing loading", lambda d: delitem(d, ("cross_loadings", "fairness")),
     ("cross_loadings", "missing key(s) ['fairness']")),
    (POPULATION_FILE, "unknown threshold", lambda d: setitem(d, ("thresholds", "shoe_size"), [0.0]),
     ("thresholds", "unknown key(s) ['shoe_size']; allowed: income_group,")),
    (POPULATION_FILE, "threshold count", lambda d: d["thresholds"]["education"].pop(),
     ("thresholds.education", "must have 3 values")),
    (POPULATION_FILE, "thresholds out of order", lambda d: d["thresholds"]["education"].reverse(),
     ("thresholds.education", "strictly increasing")),
    (POPULATION_FILE, "margin length", lambda d: d["margins_weighted"]["region"].pop(),
     ("margins_weighted.region", "must have 3 values")),
    (POPULATION_FILE, "meta not a mapping", lambda d: setitem(d, ("meta",), []), ("meta", "must be a mapping")),
    (JOINT_FILE, "nan coefficient", lambda d: setitem(d, ("coefficients", "fairness"), math.nan),
     ("coefficients.fairness", "must be a finite number, got nan")),
    (JOINT_FILE, "missing key", lambda d: delitem(d, ("cuts",)), ("cuts", "required key is missing")),
    (JOINT_FILE, "extra key", lambda d: setitem(d, ("surplus",), {}), ("surplus", "unknown key")),
    (JOINT_FILE, "list for mapping", lambda d: setitem(d, ("coefficients",), list(d["coefficients"].values())),
     ("coefficients", "must be a mapping")),
    (JOINT_FILE, "string for number", lambda d: setitem(d, ("cuts", 1), "7.9"), ("cuts.1", "must be a number")),
    (JOINT_FILE, "infinite covariance", lambda d: setitem(d, ("covariance", 2, 3), math.inf),
     ("covariance.2.3", "finite")),
    (JOINT_FILE, "unknown coefficient", lambda d: setitem(d, ("coefficients", "shoe_size"), 0.1),
     ("coefficients", "unknown key(s) ['shoe_size']; allowed: age,")),
    (JOINT_FILE, "three cuts", lambda d: d["cuts"].pop(), ("cuts", "must have 4 values")),
    (JOINT_FILE, "cuts out of order", lambda d: d["cuts"].reverse(), ("cuts", "strictly increasing")),
    (JOINT_FILE, "parameter names", lambda d: d["parameter_names"].reverse(), ("parameter_names", "must be exactly")),
    (JOINT_FILE, "covariance not square", lambda d: d["covariance"][4].pop(), ("covariance.4", "must have 29")),
    (JOINT_FILE, "asymmetric covariance", lambda d: setitem(d, ("covariance", 0, 1), d["covariance"][0][1] + 0.1),
     ("covariance", "symmetric")),
    (JOINT_FILE, "covariance not PSD", lambda d: setitem(d, ("covariance", 0, 0), -1.0),
     ("covariance", "positive semi-definite")),
]  # fmt: skip
IDS = [f"{name.split('_')[0]}: {what}" for name, what, _, _ in CORRUPTIONS]

# The five kinds of corruption also checked through the command line, for each file.
CLI_KINDS = ("nan loading", "nan coefficient", "missing key", "extra key", "list for mapping", "string for number")
CLI_CASES = [pytest.param(*case, id=i) for case, i in zip(CORRUPTIONS, IDS, strict=True) if case[1] in CLI_KINDS]


def corrupted(tmp_path, name, edit):
    data = shipped(name)
    edit(data)
    return params_dir_with(tmp_path, name, data)


def assert_one_line(message, name, fragments):
    assert "\n" not in message and "\r" not in message, message
    assert name in message, message
    for fragment in fragments:
        assert fragment in message, message


@pytest.mark.parametrize(("name", "what", "edit", "fragments"), CORRUPTIONS, ids=IDS)
def test_corrupted_file_is_rejected_with_one_line(tmp_path, name, what, edit, fragments):
    directory = corrupted(tmp_path, name, edit)
    with pytest.raises(ParameterFileError) as caught:
        LOADERS[name].load(directory / name)
    assert isinstance(caught.value, UserError)
    assert_one_line(str(caught.value), name, fragments)


@pytest.mark.parametrize(("name", "what", "edit", "fragments"), CLI_CASES)
@pytest.mark.parametrize("command", ["run", "population"])
def test_cli_reports_a_corrupted_file_in_one_line(tmp_path, monkeypatch, capsys, command, name, what, edit, fragments):
    monkeypatch.setenv(ENV_VAR, str(corrupted(tmp_path, name, edit)))
    if command == "run":
        argv = ["run", "baseline", "--out", str(tmp_path / "o"), "--n", "200", "--months", "1", "--replications", "1"]
    else:
        argv = ["population", "--n", "50", "--out", str(tmp_path / "x.parquet")]
    assert main(argv) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("scsim: error: ")
    assert_one_line(lines[0], name, fragments)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("{", "invalid JSON at line 1"),
        (b'{"coefficients": "\xff\xfe"}', "not UTF-8"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ("[1, 2]", "(top level): must be a JSON object, got a list"),
        ("", "invalid JSON"),
    ],
    ids=["truncated", "not utf-8", "deep", "top-level list", "empty"],
)
@pytest.mark.parametrize("name", list(LOADERS))
def test_unreadable_file_is_one_line(tmp_path, name, text, fragment):
    directory = params_dir_with(tmp_path, name, text=text)
    with pytest.raises(ParameterFileError) as caught:
        LOADERS[name].load(directory / name)
    assert_one_line(str(caught.value), name, (fragment,))


@pytest.mark.parametrize("name", list(LOADERS))
def test_cli_reports_an_unreadable_file_in_one_line(tmp_path, monkeypatch, capsys, name):
    monkeypatch.setenv(ENV_VAR, str(params_dir_with(tmp_path, name, text='{"cuts": [1, 2')))
    assert main(["population", "--n", "50", "--out", str(tmp_path / "x.parquet")]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1, lines
    assert_one_line(lines[0], name, ("scsim: error: ", "invalid JSON at line 1"))


def test_missing_file_and_bad_directory(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    with pytest.raises(ParameterFileError, match=f"{POPULATION_FILE}: file not found"):
        GeneratorParams.load()
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "nowhere"))
    with pytest.raises(ParameterFileError, match=f"{ENV_VAR}: .*nowhere is not a directory"):
        JointParams.load()


def test_params_dir_is_read_at_load_time(tmp_path, monkeypatch):
    data = shipped(JOINT_FILE)
    data["coefficients"]["fairness"] += 1.0
    directory = params_dir_with(tmp_path, JOINT_FILE, data)
    monkeypatch.setenv(ENV_VAR, str(directory))
    assert JointParams.load().coefficients["fairness"] == data["coefficients"]["fairness"]
    assert default_rule().primary.coefficients["fairness"] == data["coefficients"]["fairness"]
    monkeypatch.delenv(ENV_VAR)
    assert JointParams.load() == JointParams.load(PARAMS_FILE)
    assert JointParams.load().coefficients["fairness"] == shipped(JOINT_FILE)["coefficients"]["fairness"]


@pytest.mark.parametrize("name", list(LOADERS))
def test_shipped_files_round_trip(tmp_path, name):
    loaded = LOADERS[name].load()
    loaded.save(tmp_path / name)
    assert LOADERS[name].load(tmp_path / name) == loaded
    # Saving reproduces the shipped file byte for byte.
    assert (tmp_path / name).read_bytes() == (SHIPPED_DIR / name).read_bytes()


def test_modified_parameters_round_trip(tmp_path):
    generator = GeneratorParams.load()
    generator.loadings = {k: v + 0.125 for k, v in generator.loadings.items()}
    generator.meta = {**generator.meta, "note": "perturbed", "nested": {"a": [1, 2.5, None, True]}}
    generator.save(tmp_path / POPULATION_FILE)
    assert GeneratorParams.load(tmp_path / POPULATION_FILE) == generator
    joint = JointParams.load()
    joint.cuts = [c + 0.5 for c in joint.cuts]
    joint.covariance = (np.asarray(joint.covariance) * 1.5).tolist()
    joint.save(tmp_path / JOINT_FILE)
    assert JointParams.load(tmp_path / JOINT_FILE) == joint


def test_save_refuses_non_finite_numbers(tmp_path):
    joint = JointParams.load()
    joint.coefficients = {**joint.coefficients, "age": math.nan}
    with pytest.raises(ValueError, match="not JSON compliant"):
        joint.save(tmp_path / JOINT_FILE)
