"""``bourse referrals``: codes, invitations and the kickback run on a stopped exchange's
database (SQLite and PostgreSQL), each answering within seconds with one-line errors."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from bourse.cli import app


def cli(env: dict[str, str], *args: str, code: int = 0) -> str:
    t0 = time.monotonic()
    res = CliRunner().invoke(app, list(args), env=env)
    assert time.monotonic() - t0 < 20
    assert res.exit_code == code, (args, res.stdout, res.stderr, res.exception)
    return res.stdout if code == 0 else res.stderr


def test_referral_commands(migrated_url: str, tmp_path: Path) -> None:
    env = {
        "BOURSE_DATABASE_URL": migrated_url,
        "BOURSE_HOME": str(tmp_path),
        "BOURSE_SECRET_KEY": "Tuuxnd6aTIwQYXUtHsKbGsZ7gmu2iQ4HuAFL7C7ocLU=",
    }
    inviter = json.loads(cli(env, "accounts", "open", "--json"))["account"]
    invitee = json.loads(cli(env, "accounts", "open", "--json"))["account"]
    got: Any = json.loads(cli(env, "referrals", "code", str(inviter), "--json"))
    code = got["referCode"]
    assert got == {"account": inviter, "referCode": code}
    assert code in cli(env, "referrals", "code", str(inviter))  # the same code again
    done = json.loads(cli(env, "referrals", "invite", str(invitee), code, "--json"))
    assert done == {"account": invitee, "inviter": inviter, "referCode": code}
    again = cli(env, "referrals", "invite", str(invitee), code, code=1)
    assert again.count("\n") == 1 and "already has an inviter" in again
    assert "Traceback" not in again
    unknown = cli(env, "referrals", "invite", str(inviter), "no-such-code", code=1)
    assert "does not exist" in unknown and unknown.count("\n") == 1
    run = json.loads(cli(env, "referrals", "accrue", "--json"))
    assert run["kickbacks"] == 0 and run["failed"] == []
