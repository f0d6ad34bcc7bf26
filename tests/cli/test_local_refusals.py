"""With no server running, a command opens the database itself; when no ``--db`` (nor
``BOURSE_DATABASE_URL``) named it, the directory lookup did (docs/operations.md, "Is it
running?"), and a refusal of something that does not exist says which database that was: an
account missing from the ``.bourse/`` of a parent directory is no mystery then. One line, exit
1, as every refusal."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.served import COMMAND_S, SECRET_KEY


def _bourse(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOURSE_")}
    return subprocess.run(
        [sys.executable, "-m", "bourse.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=COMMAND_S,
        env={**env, "BOURSE_SECRET_KEY": SECRET_KEY, "COLUMNS": "80"},
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A directory whose ``.bourse/`` holds a migrated database with account 100."""
    (tmp_path / ".bourse").mkdir()
    assert _bourse(tmp_path, "migrate").returncode == 0
    assert "opened account 100" in _bourse(tmp_path, "accounts", "open").stdout
    return tmp_path


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("accounts", "show", "110"), "account 110 does not exist"),
        (("keys", "delete", "mx0vnosuch"), "no active API key mx0vnosuch"),
    ],
)
def test_a_missing_thing_names_the_database_the_lookup_found(
    project: Path, args: tuple[str, ...], says: str
) -> None:
    here = _bourse(project, *args)
    assert (here.returncode, here.stdout) == (1, ""), here
    assert here.stderr == f"error: {says} (in ./.bourse/bourse.db, no server running)\n"
    sub = project / "a" / "b"
    sub.mkdir(parents=True)
    below = _bourse(sub, *args)
    assert below.stderr == f"error: {says} (in ../../.bourse/bourse.db, no server running)\n"
    assert below.returncode == 1


def test_a_database_named_or_another_refusal_says_nothing_more(project: Path) -> None:
    """``--db`` names the database itself; a refusal that is no missing thing is about the
    value given, not the database."""
    named = _bourse(project, "accounts", "show", "110", "--db", "sqlite:///.bourse/bourse.db")
    assert (named.returncode, named.stderr) == (1, "error: account 110 does not exist\n")
    bad = _bourse(project, "deposit", "100", "USDT", "-5")
    assert (bad.returncode, bad.stderr) == (1, "error: amount cannot be negative\n")
