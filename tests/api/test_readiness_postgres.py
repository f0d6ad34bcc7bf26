"""``/readyz`` follows PostgreSQL: not ready (503, quickly, never hanging) while the database is
down, ready again once it is back. On a throwaway PostgreSQL cluster of this test's own
(``initdb`` in a temporary directory, a free port, trust): the shared one is never stopped."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bourse.app import create_app
from bourse.bootstrap import open_platform
from bourse.config import AuthLimits, Config, RateLimits
from bourse.services.apikeys import generate_server_key
from tests.support.server import ServerThread, free_port


class Cluster:
    """A PostgreSQL cluster in ``root`` on ``port`` (run as ``postgres`` when we are root:
    PostgreSQL refuses to run as root)."""

    def __init__(self, root: Path) -> None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        assert found, "Debian's PostgreSQL server binaries (/usr/lib/postgresql/*/bin) needed"
        self.bin = Path(found[-1]).parent
        self.root = root
        self.data = root / "data"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/bourse"

    def _run(self, *args: str) -> None:
        cmd = [str(self.bin / args[0]), *args[1:]]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, timeout=60)

    def init(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres")

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
        log = str(self.root / "log")
        self._run("pg_ctl", "-D", str(self.data), "-o", opts, "-l", log, "-w", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    root = Path(f"/tmp/bourse-pg-{os.getpid()}-{time.monotonic_ns()}")  # short: socket paths
    c = Cluster(root)
    c.init()
    c.start()
    try:
        yield c
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            c.stop()
        shutil.rmtree(root, ignore_errors=True)


def _readyz(http: httpx.Client) -> tuple[int, dict]:  # type: ignore[type-arg]
    t0 = time.monotonic()
    r = http.get("/readyz")
    assert time.monotonic() - t0 < 3.0, "readyz must answer within its timeout"
    return r.status_code, r.json()


def _until(http: httpx.Client, status: int, timeout: float) -> dict:  # type: ignore[type-arg]
    deadline = time.monotonic() + timeout
    while True:
        code, body = _readyz(http)
        if code == status or time.monotonic() > deadline:
            assert code == status, body
            return body
        time.sleep(0.2)


def test_readyz_follows_postgresql_down_and_back(cluster: Cluster, tmp_path: Path) -> None:
    config = Config(
        database_url=cluster.url,
        secret_key=generate_server_key(),
        key_dir=str(tmp_path),
        rate_limits=RateLimits.off(),
        auth_limits=AuthLimits.off(),
        rebate_settle_at=None,
    )
    platform = open_platform(config)
    try:
        with (
            ServerThread(create_app(platform)) as srv,
            httpx.Client(base_url=srv.url, timeout=10) as http,
        ):
            body = _until(http, 200, 10)
            assert body["checks"]["store"] == {"ok": True, "detail": "reachable"}
            cluster.stop()
            body = _until(http, 503, 15)
            assert body["ready"] is False and body["checks"]["store"]["ok"] is False
            assert http.get("/healthz").status_code == 200  # alive all along
            cluster.start()
            body = _until(http, 200, 30)
            assert body["checks"]["store"]["ok"] is True
    finally:
        platform.close()
