"""Helpers shared by the command-line tests."""

import subprocess
import sys


def run_cli(*args):
    """Run ``scsim`` in a subprocess and capture its output."""
    return subprocess.run([sys.executable, "-m", "experiments.cli", *args], capture_output=True, text=True)


def assert_one_line_error(result, *fragments):
    """A failed command printed exactly one line, with no traceback, containing every fragment."""
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
