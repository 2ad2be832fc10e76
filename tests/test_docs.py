"""The documentation states what the code does: parameter tables are generated from the schema."""

from pathlib import Path

from sim.params import PARAMETER_GROUPS
from sim.schema import markdown_table

ROOT = Path(__file__).resolve().parents[1]


def test_sim_readme_tables_are_the_schema():
    readme = (ROOT / "sim" / "README.md").read_text()
    for group, title in (("levers", "PolicyLevers"), ("dynamics", "DynamicsParams"), ("scores", "ScoreParams")):
        assert markdown_table(PARAMETER_GROUPS[group], title) in readme, f"regenerate the {title} table"


def test_readme_lists_every_shipped_scenario():
    from experiments.scenario import shipped_scenarios

    readme = (ROOT / "README.md").read_text()
    for name in shipped_scenarios():
        assert f"`{name}`" in readme, name
