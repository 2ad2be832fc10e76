"""Helpers shared by the command-line tests.

Most tests call ``experiments.cli.main`` in-process, which checks the same
exit codes and stderr lines as a subprocess would; a subprocess is used only
where a separate process matters (signals, the interpreter's own exit).
"""

import subprocess
import sys
from dataclasses import dataclass

from experiments.cli import main


@dataclass
class Outcome:
    returncode: int
    stdout: str
    stderr: str


def call(capsys, *args: str) -> Outcome:
    """Run ``scsim ARGS`` in this process and capture its exit code and output."""
    capsys.readouterr()
    try:
        code = main(list(args))
    except SystemExit as exit_:  # argparse's usage errors
        code = int(exit_.code or 0)
    captured = capsys.readouterr()
    return Outcome(code, captured.out, captured.err)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """Run ``scsim`` in a subprocess and capture its output."""
    return subprocess.run([sys.executable, "-m", "experiments.cli", *args], capture_output=True, text=True)


def assert_one_line_error(result, *fragments: str, code: int = 2) -> str:
    """A failed command exited with ``code`` and printed exactly one line, no traceback, with every fragment."""
    assert result.returncode == code, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]
