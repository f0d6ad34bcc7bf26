"""The server-key rotation (``serverkey.rotate``) against the key paths' row locks
(``apikeys.locked_rows``), on PostgreSQL, where a write transaction locks rows and another
waits for them (SQLite's write lock runs one writer at a time, nothing to race).

A key path (create, renew, delete, bind, unbind) locks its keys' rows in access-key order.
The rotation updates every key row: it must take them in that order too, else it can hold a
key the path waits for while it waits for one the path holds (a deadlock: one of the two
fails with a retryable error), and it must read each secret under its lock, else it writes
back the re-encryption of a secret renewed meanwhile. Each test holds a key path's
transaction open with a row locked until the rotation waits on it, then lets it go on. Every
wait is bounded: the write transactions' ``lock_timeout`` (``LOCK_TIMEOUT_MS``), the poll for
the waiting rotation, the thread join.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import Engine, insert, select, text, update

from bourse.services.serverkey import Rotation, ServerKeys, rotate, write_key_file
from bourse.store import tables as t
from bourse.store.db import make_engine
from bourse.store.repositories.apikeys import locked_rows
from bourse.store.transaction import write
from tests.support.pg_pool import PgPool

#: seconds the rotation may take to reach a row lock the test holds, and to end afterwards
WAIT_S = 15.0
#: two access keys: LOW sorts first, so a key path locks LOW before HIGH
LOW = "mx0v" + "0" * 28
HIGH = "mx0v" + "f" * 28

k = t.api_keys.c


@pytest.fixture
def pg(pg_pool: PgPool) -> Iterator[Engine]:
    """An engine on a migrated PostgreSQL database of this test's own."""
    url = pg_pool.migrated()
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()
        pg_pool.release(url)


@pytest.fixture
def keys(tmp_path: Path) -> ServerKeys:
    path = tmp_path / "bourse.key"
    write_key_file(path, Fernet.generate_key())
    return ServerKeys(path.read_bytes().strip(), (), path)


def _store_keys(db: Engine, keys: ServerKeys) -> None:
    """HIGH stored before LOW: a scan of the table meets HIGH first (checked), so a rotation
    in the table's own order goes against the key paths' order."""
    old = Fernet(keys.key)
    with db.begin() as conn:
        for api_key in (HIGH, LOW):
            conn.execute(
                insert(t.api_keys).values(
                    api_key=api_key,
                    account_id=100,
                    secret_enc=old.encrypt(f"secret of {api_key}".encode()),
                    label="",
                    permissions="SPOT_DEAL_READ",
                    created=0,
                    revoked=False,
                )
            )
        scanned = [row.api_key for row in conn.execute(select(k.api_key))]
    assert scanned == [HIGH, LOW], scanned


def _rotating(db: Engine, keys: ServerKeys) -> tuple[threading.Thread, Future[Rotation]]:
    """``rotate`` started in a thread; its result (or error) in the future."""
    result: Future[Rotation] = Future()

    def run() -> None:
        try:
            result.set_result(rotate(db, keys))
        except BaseException as exc:  # handed to the test
            result.set_exception(exc)

    thread = threading.Thread(target=run, name="rotation", daemon=True)
    thread.start()
    return thread, result


def _wait_until_blocked(db: Engine, result: Future[Rotation]) -> None:
    """Until another session of this database waits for a lock (the rotation, on the row the
    test holds), at most ``WAIT_S``."""
    q = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'"
    )
    deadline = time.monotonic() + WAIT_S
    with db.connect() as conn:
        while conn.execute(q).scalar_one() == 0:
            assert not result.done(), result.exception()
            assert time.monotonic() < deadline, "the rotation never waited for the held row"
            time.sleep(0.02)
            conn.rollback()  # a fresh snapshot of pg_stat_activity


def _secret(db: Engine, fernet: Fernet, api_key: str) -> bytes:
    with db.connect() as conn:
        enc = conn.execute(select(k.secret_enc).where(k.api_key == api_key)).scalar_one()
    return fernet.decrypt(bytes(enc))


def test_rotation_and_a_key_path_holding_a_key_do_not_deadlock(
    pg: Engine, keys: ServerKeys
) -> None:
    """The key path has LOW and goes on to HIGH (``locked_rows(conn, HIGH, LOW)``: LOW
    first) while the rotation waits for LOW. In the table's order the rotation would hold
    HIGH by then: a deadlock, and PostgreSQL aborted the rotation (``StoreBusy``)."""
    _store_keys(pg, keys)
    with write(pg) as conn:
        locked_rows(conn, LOW, None)  # the path's first lock
        thread, result = _rotating(pg, keys)
        _wait_until_blocked(pg, result)
        locked_rows(conn, HIGH, None)  # its second: free, the rotation holds nothing
    thread.join(WAIT_S)
    assert not thread.is_alive(), "the rotation did not end"
    done = result.result(timeout=0)
    assert done.api_secrets == 2 and done.unreadable == 0
    new = Fernet(keys.path.read_bytes().strip())  # type: ignore[union-attr]
    assert _secret(pg, new, HIGH) == f"secret of {HIGH}".encode()


def test_rotation_keeps_a_secret_renewed_while_it_waits(pg: Engine, keys: ServerKeys) -> None:
    """A renewal (``rotateSecret``) of HIGH commits while the rotation waits for HIGH's row:
    the rotation re-encrypts the new secret. Read before the lock, it wrote back the old
    secret re-encrypted, and the secret the renewal handed out worked no more."""
    _store_keys(pg, keys)
    with write(pg) as conn:
        locked_rows(conn, HIGH, None)  # as ApiKeyRepository.change locks the key it renews
        conn.execute(
            update(t.api_keys)
            .where(k.api_key == HIGH)
            .values(secret_enc=Fernet(keys.key).encrypt(b"renewed secret"))
        )
        thread, result = _rotating(pg, keys)
        _wait_until_blocked(pg, result)
    thread.join(WAIT_S)
    assert not thread.is_alive(), "the rotation did not end"
    assert result.result(timeout=0).api_secrets == 2
    new = Fernet(keys.path.read_bytes().strip())  # type: ignore[union-attr]
    assert _secret(pg, new, HIGH) == b"renewed secret"
    assert _secret(pg, new, LOW) == f"secret of {LOW}".encode()
