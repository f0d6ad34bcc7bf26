"""``bourse backup`` and ``bourse restore`` on SQLite and PostgreSQL.

A demo server runs (its market maker places and cancels orders all the time) while ``bourse
backup`` asks it for a snapshot; the snapshot restored into a fresh database holds every order
committed before the backup began and none committed after it returned, and ``bourse check``
finds its ledger sound. A restore is refused while the server runs; a backup taken once it is
stopped restores to exactly its balances and orders. A backup of an older schema is migrated,
one of a newer schema refused, and a failed restore leaves the target as it was.
"""

from __future__ import annotations

import io
import json
import secrets
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from bourse.operations.runtime import running_server
from bourse.store import tables as t
from bourse.store.backup import BackupError, backup, head_revision, read_manifest, restore
from bourse.store.db import make_engine, migrate
from tests.cli.test_operations import Side
from tests.support.databases import drop_pg_database
from tests.support.pg_pool import PgPool

#: seconds the market maker gets to place orders before and during the backup
FLOW_S = 30.0


def _fresh(backend: str, tmp: Path, like: str) -> str:
    """A database URL that names nothing yet (a new file, a new PostgreSQL database)."""
    tag = secrets.token_hex(5)
    if backend == "sqlite":
        return f"sqlite:///{tmp / f'fresh-{tag}' / 'bourse.db'}"
    u = make_url(like).set(database=f"bourse_test_rs_{tag}")
    return u.render_as_string(hide_password=False)


def _drop(url: str) -> None:
    if url.startswith("postgresql"):
        drop_pg_database(url)


def _max_order(url: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.max(t.orders.c.id))).scalar() or 0)
    finally:
        engine.dispose()


def _rows(url: str) -> dict[str, list[Any]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return {
                name: sorted(tuple(r) for r in conn.execute(select(table)))
                for name, table in (("balances", t.balances), ("orders", t.orders))
            }
    finally:
        engine.dispose()


def _revision(url: str) -> str:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return str(conn.execute(text("SELECT version_num FROM alembic_version")).scalar())
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def demo(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Side]:
    """A demo server (market maker on) on a fresh database of the backend."""
    home = tmp_path / "live" / ".bourse"
    home.mkdir(parents=True)
    pg: PgPool | None = None
    if request.param == "sqlite":
        side = Side(f"sqlite:///{home / 'bourse.db'}", home)
    else:
        pg = request.getfixturevalue("pg_pool")
        side = Side(pg.empty(), home)
    try:
        _serve(side)
        yield side
    finally:
        if side.server is not None:
            side.server.send_signal(signal.SIGTERM)
            side.server.wait(timeout=30)
        if pg is not None:
            pg.release(side.url)


def _serve(side: Side) -> None:
    """Start a demo server (market maker on) on ``side``; return once it announces itself."""
    side.server = subprocess.Popen(
        [sys.executable, "-m", "bourse.cli", "serve", "--demo", "--port", "0"]
        + ["--no-rate-limit", "--log-level", "warning"],
        env=side.env(),
        cwd=side.home,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while running_server(side.home, side.url) is None:
        assert side.server.poll() is None, "the demo server exited"
        assert time.monotonic() < deadline, "the demo server did not announce itself"
        time.sleep(0.1)


def _orders_flow(url: str, since: int) -> int:
    """Wait (bounded) until the market maker has committed an order after ``since``."""
    deadline = time.monotonic() + FLOW_S
    while (now := _max_order(url)) <= since:
        assert time.monotonic() < deadline, "the market maker placed no order"
        time.sleep(0.2)
    return now


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_backup_while_orders_flow_then_restore(demo: Side, tmp_path: Path) -> None:
    backend = make_url(demo.url).get_backend_name()
    first = _orders_flow(demo.url, 0)
    _orders_flow(demo.url, first)  # orders keep coming
    out = tmp_path / "backups"
    out.mkdir()
    file = out / "live.backup"

    before = _max_order(demo.url)
    res = json.loads(demo.bourse("backup", str(file), "--json"))  # the server writes it
    after = _max_order(demo.url)
    assert res["path"] == str(file) and res["backend"] == backend
    assert res["revision"] == head_revision()
    assert file.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in out.iterdir()] == ["live.backup"]  # no temporary left
    assert read_manifest(file).revision == head_revision()
    # the audit log of the server has it (the server did the backup)
    assert "db.backup" in demo.bourse("audit", "--operation", "db.backup", "--json")

    # a refusal of the server is one line, no traceback
    missing = demo.bourse("backup", str(tmp_path / "nowhere" / "x.backup"), code=1)
    assert missing.strip() == f"error: no directory {tmp_path / 'nowhere'}"
    # a restore is refused while the server runs, in one line, and changes nothing
    refused = demo.bourse("restore", str(file), code=1)
    assert "stop it first with bourse stop" in refused and len(refused.strip().splitlines()) == 1
    assert running_server(demo.home, demo.url) is not None
    _orders_flow(demo.url, after)

    fresh = _fresh(backend, tmp_path, demo.url)
    try:
        demo.bourse("restore", str(file), "--db", fresh)
        restored = _max_order(fresh)
        # one snapshot: what was committed before the backup, nothing after it returned
        assert before <= restored <= after
        assert "ledger sound" in demo.bourse("check", "--db", fresh)
        assert _revision(fresh) == head_revision()
    finally:
        _drop(fresh)

    # stopped: the command reads the database itself; the restore equals the database
    demo.bourse("stop")
    demo.server = None
    file2 = out / "stopped.backup"
    text_out = demo.bourse("backup", str(file2))
    assert text_out.startswith("backed up ") and file2.stat().st_mode & 0o777 == 0o600
    fresh = _fresh(backend, tmp_path, demo.url)
    try:
        demo.bourse("restore", str(file2), "--db", fresh)
        assert _rows(fresh) == _rows(demo.url)
        assert _rows(fresh)["orders"]
        assert "ledger sound" in demo.bourse("check", "--db", fresh)
        # and over a database that exists: replaced whole
        demo.bourse("restore", str(file), "--db", fresh)
        assert before <= _max_order(fresh) <= after
        assert "ledger sound" in demo.bourse("check", "--db", fresh)
    finally:
        _drop(fresh)

    # in place, stopped: the exchange starts on the restored database and trades on from it
    demo.bourse("restore", str(file))
    restored = _max_order(demo.url)
    assert before <= restored <= after
    _serve(demo)
    _orders_flow(demo.url, restored)
    assert "ledger sound" in demo.bourse("check")


def _rewrite(src: Path, dest: Path, **manifest: Any) -> None:
    """A copy of the backup ``src`` with manifest fields replaced (or the data, ``data=``)."""
    data = manifest.pop("data", None)
    with tarfile.open(src) as tin, tarfile.open(dest, "w") as tout:
        for info in tin.getmembers():
            f = tin.extractfile(info)
            assert f is not None
            body = f.read()
            if info.name == "manifest.json":
                body = json.dumps({**json.loads(body), **manifest}).encode()
            elif data is not None:
                body = data
            info.size = len(body)
            tout.addfile(info, io.BytesIO(body))


def test_older_schema_is_migrated_newer_refused_failure_changes_nothing(
    db_url: str, tmp_path: Path
) -> None:
    backend = make_url(db_url).get_backend_name()
    migrate(db_url, "0016")
    old = tmp_path / "old.backup"
    assert backup(db_url, old).revision == "0016"

    fresh = _fresh(backend, tmp_path, db_url)
    try:
        restore(fresh, old)
        assert _revision(fresh) == head_revision()  # migrated on the way in
        before = _rows(fresh)

        newer = tmp_path / "newer.backup"
        _rewrite(old, newer, revision="9999_from_the_future")
        with pytest.raises(BackupError, match="newer than this bourse knows"):
            restore(fresh, newer)

        broken = tmp_path / "broken.backup"
        _rewrite(old, broken, data=b"not a database" * 1000)
        with pytest.raises(BackupError):
            restore(fresh, broken)
        assert _rows(fresh) == before and _revision(fresh) == head_revision()
        if backend == "sqlite":
            assert sorted(
                p.name for p in Path(make_url(fresh).database or "").parent.iterdir()
            ) == [
                "bourse.db",
                "bourse.db.writer.lock",
            ]
        else:
            engine = make_engine(db_url)
            try:
                with engine.connect() as conn:
                    name = make_url(fresh).database
                    left = conn.execute(
                        text("SELECT datname FROM pg_database WHERE datname LIKE :p"),
                        {"p": f"{name}_%"},
                    ).all()
            finally:
                engine.dispose()
            assert left == []

        with pytest.raises(BackupError, match="not a Bourse backup"):
            restore(fresh, _garbage(tmp_path))
        other = "postgresql" if backend == "sqlite" else "sqlite"
        with pytest.raises(BackupError, match=f"is a {backend} backup"):
            restore(_fresh(other, tmp_path, "postgresql://postgres@127.0.0.1/x"), old)
    finally:
        _drop(fresh)


def _garbage(tmp: Path) -> Path:
    path = tmp / "garbage.backup"
    path.write_bytes(b"\0garbage" * 100)
    return path


def test_restore_refusal_names_the_connected_sessions(pg_pool: PgPool, tmp_path: Path) -> None:
    """Any other session makes a PostgreSQL restore refuse (psql too); its one line says which,
    by role and client address as ``bourse.store.sessions`` groups them: Bourse processes by
    name, the rest as other clients with their ``application_name`` when they set one."""
    url = pg_pool.migrated()
    libpq = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    names = ["bourse-gateway", "bourse-gateway", "bourse-cli", "psql", "psql", "grafana", ""]
    sessions: list[psycopg.Connection[Any]] = []
    try:
        saved = tmp_path / "saved.backup"
        backup(url, saved)
        before = _rows(url)
        sessions = [
            psycopg.connect(libpq, application_name=name, connect_timeout=10) for name in names
        ]
        with pytest.raises(BackupError) as refused:
            restore(url, saved)
        line = str(refused.value)
        assert line.startswith(
            f"sessions are connected to the database {make_url(url).database}: "
            "bourse-cli from 127.0.0.1 (1 session), "
            "bourse-gateway from 127.0.0.1 (2 sessions), "
            "other clients from 127.0.0.1 (grafana, psql; 4 sessions)"
        ), line  # then, rarely, an autovacuum worker ("the database server (...)")
        assert line.endswith("; stop them first (bourse stop for a Bourse server)"), line
        assert "\n" not in line
        assert _rows(url) == before
    finally:
        for conn in sessions:
            conn.close()
        pg_pool.release(url)
