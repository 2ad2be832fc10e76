"""A small calibration ensemble for tests (no real members ship yet).

``write_fixture_ensemble(root)`` makes ``root`` a parameter directory
(``$SCSIM_PARAMS_DIR``) holding the shipped pair and an ensemble of three:

* member 0: exact copies of the shipped pair (runs with it equal shipped runs bit for bit);
* member 1: the shipped generator, and the shipped joint model with the coefficients of
  ``disadvantages`` at -0.66 and ``male`` at 0.44 (a plausible other calibration);
* member 2: copies of the shipped pair, marked not accepted in the manifest.
"""

import json
import shutil
from pathlib import Path

from calibration.ensemble_files import ENSEMBLE_DIR, FIT_FILE, MANIFEST_FILE
from calibration.parameter_files import JOINT_FILE, POPULATION_FILE, SHIPPED_DIR

MEMBER_1_COEFFICIENTS = {"disadvantages": -0.66, "male": 0.44}
ACCEPTED = [0, 1]
REJECTED = 2


def write_fixture_ensemble(root: Path) -> Path:
    """Write the fixture parameter directory into ``root`` (created) and return it."""
    root.mkdir(parents=True, exist_ok=True)
    for name in (POPULATION_FILE, JOINT_FILE):
        shutil.copyfile(SHIPPED_DIR / name, root / name)
    ensemble = root / ENSEMBLE_DIR
    for index in range(3):
        member = ensemble / f"member_{index:02d}"
        member.mkdir(parents=True, exist_ok=True)
        for name in (POPULATION_FILE, JOINT_FILE):
            shutil.copyfile(SHIPPED_DIR / name, member / name)
        if index == 1:
            joint = json.loads((SHIPPED_DIR / JOINT_FILE).read_text())
            joint["coefficients"].update(MEMBER_1_COEFFICIENTS)
            (member / JOINT_FILE).write_text(json.dumps(joint, indent=1) + "\n")
        (member / FIT_FILE).write_text(json.dumps({"fixture": True, "member": index}) + "\n")
    manifest = {
        "kind": "test fixture",
        "members": [{"index": index, "accepted": index != REJECTED} for index in range(3)],
    }
    (ensemble / MANIFEST_FILE).write_text(json.dumps(manifest, indent=1) + "\n")
    return root
