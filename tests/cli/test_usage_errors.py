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
        # a value of the wrong type: which parameter, what it takes, what it got (no jargon
        # of the validation library)
        (["accounts", "show", "abc"], "error: account: expected a whole number, got 'abc' ("),
        (["deposit", "abc", "USDT", "5"], "error: account: expected a whole number, got 'abc' ("),
        (["brokers", "set-rate", "1", "--ppm", "2e3"], "error: --ppm: expected a whole number"),
        (["accounts", "search", "x", "--limit", "1.5"], "error: --limit: expected a whole "),
        (["stop", "--wait", "1x"], "error: --wait: expected a number, got '1x' ("),
        # a limit below 1 is refused, not quietly read as 1
        (["audit", "--limit", "0"], "error: --limit: must be at least 1, got 0 ("),
        (["audit", "--money", "--limit", "-1"], "error: --limit: must be at least 1, got -1 ("),
        (["accounts", "search", "x", "--limit", "0"], "error: --limit: must be at least 1, got 0"),
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
    assert "Input should" not in proc.stderr and "Invalid value" not in proc.stderr


def test_a_group_without_its_command_shows_its_help() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bourse.cli", "accounts"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "open" in proc.stdout and "freeze" in proc.stdout
    assert "error" not in proc.stderr
