"""Architecture: imports flow one way, and the simulation does not load the offline fitting code."""

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("sim", "calibration", "experiments")
# Refits and reports: no module a simulation run needs may import these.
OFFLINE = (
    "calibration.fit_population",
    "calibration.fit_joint",
    "calibration.ologit_fit",
    "calibration.report",
    "calibration.joint_report",
)


def project_modules() -> dict[str, Path]:
    """Every module of the three packages, by dotted name (a package by its own name)."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            modules[name] = path
    return modules


def imported_modules(name: str, path: Path, known: set[str]) -> set[str]:
    """Project modules that module ``name`` imports anywhere in its source, functions included."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                # Relative import: resolve against the importing module's package.
                package = name.split(".") if is_package else name.split(".")[:-1]
                base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            # ``from calibration import design`` imports the module calibration.design.
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        for target in targets:
            # ``import calibration.fit_joint`` names the module itself; walk up to a known one.
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    known = set(modules)
    return {name: imported_modules(name, path, known) for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as a path that starts and ends at the same module, or None."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                return [*stack[stack.index(target) :], target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_the_graph_sees_imports_inside_functions():
    graph = import_graph()
    # The calibrate command imports the calibration modules inside its functions only.
    assert "calibration.fit_joint" in graph["experiments.cli_calibrate"]
    assert "calibration.rules" in graph["calibration.citizens"]


def test_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, " -> ".join(cycle)


def test_imports_flow_one_way():
    graph = import_graph()
    wrong = [
        f"{source} imports {target}"
        for source, targets in graph.items()
        for target in targets
        if (source.split(".")[0], target.split(".")[0])
        in {("sim", "calibration"), ("sim", "experiments"), ("calibration", "experiments")}
    ]
    assert not wrong, wrong


def test_rule_registry_sits_above_both_model_modules():
    graph = import_graph()
    assert {"calibration.published", "calibration.joint"} <= graph["calibration.rules"]
    assert not {"calibration.joint", "calibration.rules"} & graph["calibration.published"]
    assert "calibration.rules" not in graph["calibration.joint"]


def test_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_simulation_runtime_does_not_load_offline_code():
    code = textwrap.dedent(
        f"""
        import sys
        import calibration.citizens
        loaded = [name for name in {OFFLINE!r} if name in sys.modules]
        print(",".join(loaded))
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"calibration.citizens loads offline modules: {result.stdout.strip()}"
