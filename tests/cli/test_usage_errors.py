"""A bad command line is one line on stderr (exit 2), as every other error of ``bourse`` is:
click's message and where to look, not its framed box of several lines."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["accounts", "list", "--bogus"], "No such option: --bogus"),
        (["nosuch"], "No such command 'nosuch'"),
        (["accounts", "show"], "Missing argument 'account'"),
        (["accounts", "show", "abc"], "Invalid value for 'account'"),
        # a limit below 1 is refused, not quietly read as 1
        (["audit", "--limit", "0"], "Invalid value for '--limit'"),
        (["audit", "--money", "--limit", "-1"], "Invalid value for '--limit'"),
        (["accounts", "search", "x", "--limit", "0"], "Invalid value for '--limit'"),
    ],
)
def test_a_bad_command_line_is_one_line(argv: list[str], says: str, tmp_path: object) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bourse.cli", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "BOURSE_HOME": str(tmp_path), "COLUMNS": "80"},
    )
    assert proc.returncode == 2, proc
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("error: ") and says in proc.stderr, proc.stderr
    assert "--help)" in proc.stderr and "╭" not in proc.stderr


def test_a_group_without_its_command_shows_its_help() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bourse.cli", "accounts"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "open" in proc.stdout and "freeze" in proc.stdout
    assert "error" not in proc.stderr
