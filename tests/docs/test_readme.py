"""The README's commands and snippets, run as written, so the README cannot drift.

The quick start's `scripts/run` is started as written (its database redirected to a temporary
file through ``BOURSE_DATABASE_URL``, which the script honours) and the ccxt snippet runs
against it from the repo root. `scripts/test` is the command that runs this very test, so it is
not started again here. The PostgreSQL block runs whole, as a shell script.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from tests.support import snippets
from tests.support.snippets import ROOT

README = ROOT / "README.md"


def blocks(lang: str) -> list[str]:
    return snippets.blocks(README, lang)


def test_quick_start_has_two_commands() -> None:
    quick = blocks("bash")[0]
    commands = [line.split("#")[0].strip() for line in quick.splitlines() if line.strip()]
    assert commands == ["scripts/run", "scripts/test"]


@pytest.mark.slow
def test_quick_start_and_ccxt_snippet(tmp_path: Path) -> None:
    env = dict(os.environ)
    env["BOURSE_DATABASE_URL"] = f"sqlite:///{tmp_path / 'bourse.db'}"
    env["COLUMNS"] = "200"
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("BOURSE_SECRET_KEY", None)
    run = subprocess.Popen(
        ["bash", "-c", "scripts/run"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        banner = snippets.wait_for(run, "Again later", 180)
        assert "http://127.0.0.1:8080" in banner and "Limits" in banner
        (snippet,) = blocks("python")
        out = subprocess.run(
            [sys.executable, "-c", snippet],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stderr
        bids, status = out.stdout.strip().splitlines()[-2:]
        assert bids.startswith("[[") and status in ("open", "closed")
    finally:
        snippets.stop(run)


@pytest.mark.slow
def test_postgresql_script_block(tmp_path: Path) -> None:
    script = blocks("bash")[1]
    name = re.search(r"127\.0\.0\.1/(\w+)", script)
    assert name is not None
    admin = "postgresql://postgres@127.0.0.1:5432/postgres"

    def drop() -> None:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name.group(1)}" WITH (FORCE)')

    drop()  # the block must create it
    env = {k: v for k, v in os.environ.items() if k != "BOURSE_DATABASE_URL"}
    env.pop("BOURSE_SECRET_KEY", None)
    env["BOURSE_HOME"] = str(tmp_path)  # where the server key of a PostgreSQL database lives
    try:
        proc = subprocess.Popen(
            ["bash", "-e", "-c", script],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # the served demo is in this group: stopped below whatever happens
        )
        try:
            stdout, stderr = proc.communicate(timeout=240)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        out = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
        assert out.returncode == 0, out.stdout + out.stderr
        # the ping's {} then the credentials (the server's banner and access log share the
        # output: the credentials come from the running server's operator API)
        assert "{}" in out.stdout, out.stdout
        assert re.search(r'^(\{\})?\{"url": "http://127\.0\.0\.1:9000"', out.stdout, re.M), (
            out.stdout
        )
        assert '"api_key"' in out.stdout
    finally:
        time.sleep(1)  # the server is stopping
        drop()
