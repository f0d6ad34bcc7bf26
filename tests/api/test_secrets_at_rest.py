"""Secrets at rest (issue 14 item 6): the server key lives apart from the data, production
refuses to start without it (one line), database files are private, and ``bourse keys
rotate-master`` re-encrypts every secret atomically (SQLite and PostgreSQL), refusing while a
server writes the database or, on PostgreSQL, while a server of any host is connected to it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import select, update
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from bourse.bootstrap import open_platform
from bourse.cli import app
from bourse.config import Config
from bourse.services.apikeys import ApiKeys
from bourse.services.serverkey import (
    ServerKeyError,
    generate_server_key,
    load_server_keys,
    rotate,
    write_key_file,
)
from bourse.store import sessions
from bourse.store import tables as t
from bourse.store.db import make_engine
from bourse.store.oauth_tables import users
from bourse.store.sql import SqlStore
from tests.support.pg_pool import PgPool


@pytest.fixture
def no_key_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No key in the environment; a private configuration directory."""
    monkeypatch.delenv("BOURSE_SECRET_KEY", raising=False)
    monkeypatch.delenv("BOURSE_SECRET_KEY_FILE", raising=False)
    conf = tmp_path / "config"
    monkeypatch.setenv("BOURSE_CONFIG_DIR", str(conf))
    return conf


def _bourse(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bourse.cli", *args],
        env={**os.environ, "COLUMNS": "300", **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_where_the_key_comes_from(no_key_env: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    url = f"sqlite:///{data}/bourse.db"
    with pytest.raises(ServerKeyError, match="no server key at"):
        load_server_keys(database_url=url, required=True)  # production never makes one
    made = load_server_keys(database_url=url)  # outside production: made once, 0600
    assert made.path == no_key_env / "bourse.key"
    assert made.path.stat().st_mode & 0o777 == 0o600 and not (data / "bourse.key").exists()
    assert load_server_keys(database_url=url, required=True).key == made.key
    # a key file in the data directory is refused in production
    write_key_file(data / "other.key", Fernet.generate_key())
    with pytest.raises(ServerKeyError, match="database's directory"):
        load_server_keys(database_url=url, key_file=str(data / "other.key"), required=True)
    # a key from before the rule, beside the database: still read outside production only
    made.path.unlink()
    write_key_file(data / "bourse.key", Fernet.generate_key())
    assert load_server_keys(database_url=url).path == data / "bourse.key"
    with pytest.raises(ServerKeyError, match="beside the database"):
        load_server_keys(database_url=url, required=True)
    with pytest.raises(ServerKeyError, match="is not a server key"):
        load_server_keys("not-a-key")


def test_database_files_are_private(no_key_env: Path, tmp_path: Path) -> None:
    db = tmp_path / "private" / "bourse.db"
    platform = open_platform(Config(database_url=f"sqlite:///{db}", rebate_settle_at=None))
    try:
        platform.apikeys.create_key(100)  # a write: the WAL is in use
        for name in ("bourse.db", "bourse.db-wal", "bourse.db-shm"):
            assert (db.parent / name).stat().st_mode & 0o777 == 0o600, name
        assert db.parent.stat().st_mode & 0o077 == 0
    finally:
        platform.close()


def test_production_start_without_key_is_one_line(no_key_env: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/prod.db"
    r = _bourse("serve", "--port", "0", "--db", url)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "no server key at" in lines[0], r.stderr
    assert "BOURSE_SECRET_KEY_FILE" in lines[0]


def test_production_refuses_a_key_that_opens_nothing(no_key_env: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/prod.db"
    platform = open_platform(Config(database_url=url, secret_key=generate_server_key()))
    platform.apikeys.create_key(100)
    platform.close()
    write_key_file(no_key_env / "wrong.key", Fernet.generate_key())
    wrong = Config(database_url=url, secret_key_file=str(no_key_env / "wrong.key"))
    wrong.require_secret_key = True
    with pytest.raises(ServerKeyError, match="does not decrypt"):
        open_platform(wrong)


def _secrets(url: str, keys_path: Path | None = None) -> tuple[list[bytes], list[str]]:
    db = make_engine(url)
    try:
        with db.connect() as conn:
            api = [bytes(r[0]) for r in conn.execute(select(t.api_keys.c.secret_enc))]
            totp = [r[0] for r in conn.execute(select(users.c.totp_secret))]
    finally:
        db.dispose()
    return api, totp


def test_rotate_master_reencrypts_everything(no_key_env: Path, migrated_url: str) -> None:
    platform = open_platform(Config(database_url=migrated_url, rebate_settle_at=None))
    try:
        pairs = [platform.apikeys.create_key(100 + i) for i in range(3)]
        user = platform.users.create_user("rot@example.com", "correct horse battery staple")
        totp_plain = "JBSWY3DPEHPK3PXP"
        with platform.db.begin() as conn:
            conn.execute(
                update(users)
                .where(users.c.id == user.id)
                .values(totp_secret=platform.users._encrypt(totp_plain))
            )
    finally:
        platform.close()
    old = (no_key_env / "bourse.key").read_bytes().strip()
    before = _secrets(migrated_url)

    r = _bourse("keys", "rotate-master", "--db", migrated_url)
    assert r.returncode == 0, r.stderr
    assert "re-encrypted 3 API and 1 TOTP secrets" in r.stdout
    trail = _bourse("audit", "--db", migrated_url, "--json")
    assert trail.returncode == 0, trail.stderr
    assert "keys.rotate-master" in trail.stdout
    new = (no_key_env / "bourse.key").read_bytes().strip()
    assert new != old and not (no_key_env / "bourse.key.next").exists()
    api, totp = _secrets(migrated_url)
    assert set(api).isdisjoint(before[0])
    for enc in api:
        with pytest.raises(InvalidToken):
            Fernet(old).decrypt(enc)
    assert Fernet(new).decrypt(totp[0][4:].encode()).decode() == totp_plain
    db = make_engine(migrated_url)
    try:
        keys = ApiKeys(db, load_server_keys(database_url=migrated_url))
        for api_key, secret in pairs:
            found = keys.lookup(api_key)
            assert found is not None and found.secret == secret
    finally:
        db.dispose()


def test_rotation_interrupted_changes_nothing_then_resumes(
    no_key_env: Path, migrated_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = load_server_keys(database_url=migrated_url)
    db = make_engine(migrated_url)
    try:
        api = ApiKeys(db, keys)
        pairs = [api.create_key(100 + i) for i in range(4)]
        before = _secrets(migrated_url)[0]
        calls = 0
        real = Fernet.encrypt

        def crash_on_third(self: Fernet, data: bytes) -> bytes:
            nonlocal calls
            calls += 1
            if calls == 3:
                raise RuntimeError("power cut")
            return real(self, data)

        monkeypatch.setattr(Fernet, "encrypt", crash_on_third)
        with pytest.raises(RuntimeError):
            rotate(db, keys)
        monkeypatch.setattr(Fernet, "encrypt", real)
        assert _secrets(migrated_url)[0] == before  # one transaction: nothing changed
        # the staged key and the old one both decrypt until the rotation finishes
        half = load_server_keys(database_url=migrated_url)
        assert half.others == (keys.key,) and half.key != keys.key
        assert all(ApiKeys(db, half).lookup(k) is not None for k, _ in pairs)
        done = rotate(db, half)  # resumes with the staged key
        assert done.api_secrets == 4 and done.unreadable == 0
        final = load_server_keys(database_url=migrated_url)
        assert final.key == half.key and final.others == ()
        fresh = ApiKeys(db, final)
        assert [fresh.lookup(k).secret for k, _ in pairs] == [s for _, s in pairs]  # type: ignore[union-attr]
    finally:
        db.dispose()


def test_rotate_master_refuses_while_a_server_writes(no_key_env: Path, migrated_url: str) -> None:
    db = make_engine(migrated_url)
    store = SqlStore(db)
    try:
        store.ensure_writer()  # what a running server holds
        r = _bourse("keys", "rotate-master", "--db", migrated_url)
        assert r.returncode == 1
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and "a running server writes this database" in lines[0]
    finally:
        store.close()
        db.dispose()


@pytest.fixture
def pg_url(pg_pool: PgPool) -> Iterator[str]:
    url = pg_pool.migrated()
    try:
        yield url
    finally:
        pg_pool.release(url)


def _session(url: str, name: str) -> psycopg.Connection[Any]:
    """A session named as a Bourse process of that role names its own (``store.db``)."""
    libpq = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    return psycopg.connect(libpq, application_name=name, autocommit=True, connect_timeout=10)


def _gone(url: str, sessions: list[psycopg.Connection[Any]]) -> None:
    """Close ``sessions`` and wait until ``pg_stat_activity`` no longer lists them."""
    pids = [conn.info.backend_pid for conn in sessions]
    for conn in sessions:
        conn.close()
    with _session(url, "test") as probe:
        deadline = time.monotonic() + 10
        while probe.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", (pids,)
        ).fetchone() != (0,):
            assert time.monotonic() < deadline, "the closed sessions are still listed"
            time.sleep(0.05)


def test_rotate_master_refuses_while_a_server_of_another_host_is_connected(
    no_key_env: Path, pg_url: str, tmp_path: Path
) -> None:
    """A gateway, a standby engine or a server of another host or ``$BOURSE_HOME`` announces
    itself nowhere this command looks and holds no writer lock: on PostgreSQL its sessions say
    what it is. Commands' sessions and other clients do not count."""
    before = load_server_keys(database_url=pg_url).key
    env = {"BOURSE_HOME": str(tmp_path / "this-host")}  # no server announced here
    gateway = [_session(pg_url, "bourse-gateway") for _ in range(2)]
    others = [_session(pg_url, name) for name in ("bourse-cli", "psql")]
    try:
        r = _bourse("keys", "rotate-master", "--db", pg_url, env=env)
        assert r.returncode == 1, r.stdout + r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1, r.stderr
        assert "Bourse servers are connected to" in lines[0], lines[0]
        assert "bourse-gateway from 127.0.0.1 (2 sessions); stop them" in lines[0], lines[0]
        assert "bourse-cli" not in lines[0] and "psql" not in lines[0], lines[0]
        assert load_server_keys(database_url=pg_url).key == before  # nothing rotated
        _gone(pg_url, gateway)
        r = _bourse("keys", "rotate-master", "--db", pg_url, env=env)
        assert r.returncode == 0, r.stderr
        assert "re-encrypted 0 API and 0 TOTP secrets" in r.stdout, r.stdout
        assert load_server_keys(database_url=pg_url).key != before
    finally:
        _gone(pg_url, [conn for conn in gateway + others if not conn.closed])


def test_rotate_master_refuses_a_gateway_that_connects_during_the_rotation(
    no_key_env: Path, pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer lock keeps an engine out, not a gateway: one that connects after the first
    check is seen by the second, inside the re-encryption transaction, which rolls back; the
    command refuses in one line and no secret changes. Run again once it is gone, it rotates."""
    keys = load_server_keys(database_url=pg_url)
    db = make_engine(pg_url)
    try:
        pairs = [ApiKeys(db, keys).create_key(100 + i) for i in range(2)]
    finally:
        db.dispose()
    before = _secrets(pg_url)
    key_file = (no_key_env / "bourse.key").read_bytes()
    real = sessions.connected_servers
    asked: list[list[sessions.Connected]] = []
    late: list[psycopg.Connection[Any]] = []

    def a_gateway_connects_after_the_first(url: str) -> list[sessions.Connected]:
        asked.append(real(url))
        if len(asked) == 1:
            late.append(_session(url, "bourse-gateway"))
        return asked[-1]

    monkeypatch.setattr(sessions, "connected_servers", a_gateway_connects_after_the_first)
    env = {"BOURSE_HOME": str(tmp_path / "this-host"), "COLUMNS": "300"}
    try:
        t0 = time.monotonic()
        res = CliRunner().invoke(app, ["keys", "rotate-master", "--db", pg_url], env=env)
        assert time.monotonic() - t0 < 30
    finally:
        _gone(pg_url, late)
    assert res.exit_code == 1, (res.stdout, res.stderr, res.exception)
    assert [len(found) for found in asked] == [0, 1]
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert "Bourse servers are connected to" in lines[0], lines[0]
    assert "bourse-gateway from 127.0.0.1 (1 session); stop them" in lines[0], lines[0]
    assert _secrets(pg_url) == before  # rolled back
    assert (no_key_env / "bourse.key").read_bytes() == key_file
    assert all(Fernet(keys.key).decrypt(enc) for enc in before[0])

    res = CliRunner().invoke(app, ["keys", "rotate-master", "--db", pg_url], env=env)
    assert res.exit_code == 0, (res.stdout, res.stderr, res.exception)
    assert "re-encrypted 2 API and 0 TOTP secrets" in res.stdout, res.stdout
    db = make_engine(pg_url)
    try:
        after = ApiKeys(db, load_server_keys(database_url=pg_url))
        assert [after.lookup(k).secret for k, _ in pairs] == [s for _, s in pairs]  # type: ignore[union-attr]
    finally:
        db.dispose()


def test_rotate_master_moves_a_key_beside_the_database_out(
    no_key_env: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    url = f"sqlite:///{data}/bourse.db"
    write_key_file(data / "bourse.key", Fernet.generate_key())  # as databases had it before
    platform = open_platform(Config(database_url=url, rebate_settle_at=None))
    try:
        assert platform.apikeys.lookup("nothing") is None
        api_key, secret = platform.apikeys.create_key(100)
    finally:
        platform.close()
    r = _bourse("keys", "rotate-master", "--db", url)
    assert r.returncode == 0, r.stderr
    assert "is deleted" in r.stdout and not (data / "bourse.key").exists()
    keys = load_server_keys(database_url=url, required=True)  # production accepts it now
    assert keys.path == no_key_env / "bourse.key"
    db = make_engine(url)
    try:
        found = ApiKeys(db, keys).lookup(api_key)
        assert found is not None and found.secret == secret
    finally:
        db.dispose()
