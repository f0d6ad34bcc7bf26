"""A bad command line is one line on stderr (exit 2), as every other error of ``bourse`` is:
click's message and where to look, not its framed box of several lines. A negative number where
an argument goes is no bad command line: it is the value, refused (exit 1) like any bad one."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import typer

from bourse.cli import app
from bourse.cli.common import Command, negatives_as_values


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
        # a port out of its range: the range, not bind()'s OverflowError (exit 1)
        (["serve", "--port", "99999"], "error: --port: must be between 0 and 65535, got 99999 ("),
        (["serve", "--port", "-1"], "error: --port: must be between 0 and 65535, got -1 ("),
        (["gateway", "--port", "65536"], "error: --port: must be between 0 and 65535, got 65536"),
        (["engine", "--health-port", "70000"], "error: --health-port: must be between 0 and "),
    ],
)
def test_a_bad_command_line_is_one_line(argv: list[str], says: str, tmp_path: object) -> None:
    proc = _bourse(argv, tmp_path)
    assert proc.returncode == 2, proc
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("error: ") and says in proc.stderr, proc.stderr
    assert "--help)" in proc.stderr and "╭" not in proc.stderr
    assert "Input should" not in proc.stderr and "Invalid value" not in proc.stderr


def _bourse(argv: list[str], home: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bourse.cli", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "BOURSE_HOME": str(home), "COLUMNS": "80"},
    )


@pytest.mark.parametrize(
    ("before", "value", "after", "says"),
    [
        (["deposit", "100", "USDT"], "-5", [], "amount cannot be negative"),
        (["deposit", "100", "USDT"], "-0.5", ["--json"], "amount cannot be negative"),
        (["deposit", "--tx-ref", "-1", "100", "USDT"], "-1e3", [], "amount cannot be negative"),
        # a rate out of its range, in the form it was given (a percent too: ``-5%``)
        (
            ["brokers", "set-rate", "1"],
            "-0.3",
            [],
            "rebate rate must be between 0 and 1, that is 100% (got -0.3, that is -30%)",
        ),
        (
            ["brokers", "set-rate", "1"],
            "-5%",
            [],
            "rebate rate must be between 0 and 100% (got -5%)",
        ),
        (["accounts", "show"], "-1", [], "account -1 does not exist"),
        (["listings", "add-asset", "SOL"], "-2", [], "an asset's scale is 0 to 18, not -2"),
    ],
)
def test_a_negative_number_is_the_value_it_is_refused_as_such(
    before: list[str], value: str, after: list[str], says: str, tmp_path: object
) -> None:
    """``-5`` is no unknown option: the command refuses it as it refuses ``-- -5``, in one
    line, exit 1 (a refusal, not a usage error)."""
    db = ["--db", f"sqlite:///{tmp_path}/bourse.db"]
    assert _bourse(["migrate", *db], tmp_path).returncode == 0
    assert "opened account 100" in _bourse(["accounts", "open", *db], tmp_path).stdout
    proc = _bourse([*before, value, *after, *db], tmp_path)
    assert (proc.returncode, proc.stdout, proc.stderr) == (1, "", f"error: {says}\n"), proc
    escaped = _bourse([*before, *after, *db, "--", value], tmp_path)
    assert (escaped.returncode, escaped.stderr) == (1, proc.stderr)


@pytest.mark.parametrize(
    ("args", "read"),
    [
        (["1", "USDT", "5", "--json"], ["1", "USDT", "5", "--json"]),  # untouched
        (["1", "USDT", "-5", "--json"], ["--json", "--", "1", "USDT", "-5"]),
        (["--tx-ref", "-1", "1", "USDT", "-.5"], ["--tx-ref", "-1", "--", "1", "USDT", "-.5"]),
        (["--tx-ref=-1", "1", "-2e3", "X"], ["--tx-ref=-1", "--", "1", "-2e3", "X"]),
        (["1", "-5", "--bogus", "X"], ["--bogus", "--", "1", "-5", "X"]),  # click refuses it
        (["1", "--", "-x", "-5"], ["--", "1", "-x", "-5"]),
        (["--tx-ref", "-1", "1", "USDT", "5"], ["--tx-ref", "-1", "1", "USDT", "5"]),
        # what starts as a negative number is a value too: a rate, a waypoint, a typo
        (["1", "-5%", "--json"], ["--json", "--", "1", "-5%"]),
        (["X", "0:1", "-5:60000"], ["--", "X", "0:1", "-5:60000"]),
        (["1", "USDT", "-5x"], ["--", "1", "USDT", "-5x"]),
    ],
)
def test_negative_numbers_are_moved_behind_a_double_dash(args: list[str], read: list[str]) -> None:
    deposit = typer.main.get_command(app).commands["deposit"]  # type: ignore[attr-defined]
    assert negatives_as_values(deposit.get_params(typer.Context(deposit)), args) == read


def test_every_command_reads_negative_numbers_as_values() -> None:
    def leaves(cmd: object) -> list[object]:
        subs = getattr(cmd, "commands", None)
        return [cmd] if subs is None else [c for s in subs.values() for c in leaves(s)]

    commands = leaves(typer.main.get_command(app))
    assert len(commands) > 40 and all(isinstance(c, Command) for c in commands)
    # what starts like a negative number can be a value only if no option is named like one
    named = [o for c in commands for p in c.params for o in (*p.opts, *p.secondary_opts)]
    assert named and not [o for o in named if o[:1] == "-" and o.lstrip("-.")[:1].isdigit()]


def test_a_group_without_its_command_shows_its_help() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bourse.cli", "accounts"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "open" in proc.stdout and "freeze" in proc.stdout
    assert "error" not in proc.stderr
    assert proc.returncode == 2  # a command line that names no command (docs/operations.md)


def test_keys_create_names_the_permissions_in_its_help_and_its_refusal(tmp_path: object) -> None:
    """``--permissions``: the valid names and the default in ``--help``; a name that is none
    of them is refused with them (one line, exit 1)."""
    from bourse.domain.permissions import DEFAULT_PERMISSIONS, PERMISSIONS

    helped = _bourse(["keys", "create", "--help"], tmp_path)
    text = " ".join(helped.stdout.replace("│", " ").split())
    assert all(name in text for name in PERMISSIONS), text
    assert f"Default: {', '.join(DEFAULT_PERMISSIONS)}." in text, text
    db = ["--db", f"sqlite:///{tmp_path}/bourse.db"]
    assert _bourse(["migrate", *db], tmp_path).returncode == 0
    assert "opened account 100" in _bourse(["accounts", "open", *db], tmp_path).stdout
    proc = _bourse(
        ["keys", "create", "--account", "100", "--permissions", "SPOT_TRADE", *db], tmp_path
    )
    assert (proc.returncode, proc.stdout) == (1, ""), proc
    assert proc.stderr.startswith("error: unknown API key permission 'SPOT_TRADE' (one of ")
    assert proc.stderr.count("\n") == 1 and all(name in proc.stderr for name in PERMISSIONS)
