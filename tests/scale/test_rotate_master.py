"""``bourse keys rotate-master`` from another host (here: another ``BOURSE_HOME``, where no
process is announced) sees a running ``bourse gateway`` and ``bourse engine`` by their
PostgreSQL sessions (``application_name``, ``bourse.store.sessions``) and refuses in one line
naming them; once they are stopped it rotates. A gateway writes ``api_keys`` with the key it
holds in memory: a rotation under it would leave the keys it creates unreadable."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from bourse.store.db import SERVER_APPLICATION_NAMES, make_engine
from tests.faults.serve import World
from tests.scale.topology import Topology, logs

pytestmark = pytest.mark.slow


def rotate_master(world: World, home: Path, key_file: Path) -> subprocess.CompletedProcess[str]:
    """The command, run as on another host: its own home, the server key in the environment."""
    env = {**world.env(), "BOURSE_HOME": str(home), "COLUMNS": "300"}
    return subprocess.run(
        [sys.executable, "-m", "bourse.cli", "keys", "rotate-master", "--new-key-file", key_file],
        env=env,
        cwd=home.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )


def server_sessions(url: str) -> dict[str, int]:
    """The server-role sessions of the database, by ``application_name``."""
    db = make_engine(url)
    try:
        with db.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT application_name, count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND application_name = ANY(:names) "
                    "GROUP BY 1"
                ),
                {"names": sorted(SERVER_APPLICATION_NAMES)},
            ).all()
        return {str(name): int(n) for name, n in rows}
    finally:
        db.dispose()


def test_rotate_master_refuses_while_a_gateway_or_an_engine_of_another_host_runs(
    topology: Topology, world: World, tmp_path: Path
) -> None:
    home = tmp_path / "other-host"
    home.mkdir()
    key_file = tmp_path / "new.key"
    gateway, _ = topology.gateway()  # no engine: a gateway alone holds the key too
    assert set(server_sessions(world.url)) == {"bourse-gateway"}, logs(gateway)
    r = rotate_master(world, home, key_file)
    assert r.returncode == 1, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "Bourse servers are connected to" in lines[0], lines[0]
    assert "bourse-gateway from 127.0.0.1 (" in lines[0], lines[0]
    assert not key_file.exists()

    engine = topology.engine()
    r = rotate_master(world, home, key_file)
    assert r.returncode == 1, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "bourse-engine from 127.0.0.1 (" in lines[0], lines[0]
    assert "bourse-gateway from 127.0.0.1 (" in lines[0], lines[0]

    gateway.stop()
    engine.stop()
    deadline = time.monotonic() + 10  # a closed session leaves pg_stat_activity at once, nearly
    while server_sessions(world.url):
        assert time.monotonic() < deadline, server_sessions(world.url)
        time.sleep(0.1)
    r = rotate_master(world, home, key_file)
    assert r.returncode == 0, r.stderr
    assert f"re-encrypted {len(world.users)} API and 0 TOTP secrets" in r.stdout, r.stdout
    assert key_file.exists() and os.stat(key_file).st_mode & 0o077 == 0
