"""Writes outside the engine under concurrency, on SQLite and PostgreSQL: API-key creations
racing each other never answer 500, the 30-key limit holds, a store that stays busy answers a
retryable 503 with ``Retry-After``, and a deleted key is refused by the very next request."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import func, select, text

from bourse.api.mexc.errors import to_response
from bourse.domain.accounts import AccountKind
from bourse.sandbox.demo import FULL_SPOT_PERMISSIONS
from bourse.services.apikeys import MAX_KEYS_PER_ACCOUNT, ApiKeys, generate_server_key
from bourse.store import db as store_db
from bourse.store import tables as t
from bourse.store import transaction
from bourse.store.db import make_engine
from bourse.store.transaction import StoreBusy, lock_key, write
from tests.support.mexc import Signer, ok
from tests.support.platforms import Env

KEY_PATH = "/api/v3/user/apiKey"


def _create_many(signer: Signer, n: int) -> list[Any]:
    """``n`` key creations sent at once (a barrier releases them together)."""
    barrier = threading.Barrier(n, timeout=30)

    def one(i: int) -> Any:
        barrier.wait()
        return signer.post(KEY_PATH, permissions="SPOT_ACCOUNT_READ", note=f"k{i}")

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n), timeout=120))


def _usable_keys(env: Env, account: int) -> int:
    k = t.api_keys.c
    with env.platform.db.connect() as conn:
        q = select(func.count()).where(k.account_id == account, k.revoked.is_(False))
        return int(conn.execute(q).scalar_one())


def test_concurrent_key_creations_all_succeed_or_retry(env: Env) -> None:
    acc = env.open_account(AccountKind.USER)
    signer = env.signer(acc, list(FULL_SPOT_PERMISSIONS))
    answers = _create_many(signer, 24)
    statuses = [r.status_code for r in answers]
    assert set(statuses) <= {200, 503}, [(r.status_code, r.text) for r in answers]
    for r in answers:
        if r.status_code == 503:
            assert r.json()["code"] == 503 and r.headers["retry-after"] == "1"
    assert statuses.count(200) >= 20  # a busy answer is the exception, not the rule
    assert _usable_keys(env, acc) == 1 + statuses.count(200)


def test_key_limit_holds_under_concurrency(env: Env) -> None:
    acc = env.open_account(AccountKind.USER)
    signer = env.signer(acc, list(FULL_SPOT_PERMISSIONS))
    answers = _create_many(signer, 40)
    made = [r for r in answers if r.status_code == 200]
    busy = [r for r in answers if r.status_code == 503]
    refused = [r for r in answers if r.status_code == 400]
    assert len(made) + len(busy) + len(refused) == 40, [r.text for r in answers]
    assert all(r.json()["code"] == 730705 for r in refused)
    room = MAX_KEYS_PER_ACCOUNT - 1  # the signer's own key takes one place
    assert len(made) == min(room, 40 - len(busy))
    assert _usable_keys(env, acc) == MAX_KEYS_PER_ACCOUNT


def test_deleted_key_is_refused_at_once(env: Env) -> None:
    acc = env.open_account(AccountKind.USER)
    admin = env.signer(acc, list(FULL_SPOT_PERMISSIONS))
    made = ok(admin.post(KEY_PATH, permissions="SPOT_ACCOUNT_READ", note="short-lived"))
    victim = Signer(env.http, made["apikey"], made["secretKey"])
    for _ in range(3):  # cached now
        assert victim.get("/api/v3/account").status_code == 200
    ok(admin.delete(KEY_PATH, apiKey=made["apikey"]))
    r = victim.get("/api/v3/account")  # well within the cache's 2 s
    assert r.status_code == 401 and r.json()["code"] == 10072


def test_lookup_racing_a_delete_does_not_cache_the_old_row(migrated_url: str) -> None:
    engine = make_engine(migrated_url)
    try:
        keys = ApiKeys(engine, generate_server_key().encode())
        api_key, _ = keys.create_key(100)
        real_get = keys.repository.get

        def get_then_delete(k: str) -> Any:
            row = real_get(k)  # the lookup read the usable row ...
            keys.delete_key(k)  # ... and a delete commits before it caches it
            return row

        keys.repository.get = get_then_delete  # type: ignore[method-assign]
        assert keys.lookup(api_key) is not None  # what it read
        keys.repository.get = real_get  # type: ignore[method-assign]
        found = keys.lookup(api_key)
        assert found is not None and found.revoked
    finally:
        engine.dispose()


def test_busy_store_raises_store_busy(migrated_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_db, "SQLITE_BUSY_TIMEOUT_MS", 200)
    monkeypatch.setattr(transaction, "LOCK_TIMEOUT_MS", 200)
    engine = make_engine(migrated_url)
    try:
        keys = ApiKeys(engine, generate_server_key().encode())
        with write(engine) as hold:  # another writer keeps the lock
            if hold.dialect.name == "postgresql":
                key = lock_key("api_keys", 100)
                hold.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
            else:
                hold.execute(t.api_keys.delete().where(t.api_keys.c.account_id == -1))
            done = threading.Event()
            failure: list[BaseException] = []

            def create() -> None:
                try:
                    keys.create_key(100)
                except BaseException as exc:  # noqa: BLE001 - checked below
                    failure.append(exc)
                done.set()

            worker = threading.Thread(target=create)
            worker.start()
            assert done.wait(10)
            worker.join(5)
        assert len(failure) == 1 and isinstance(failure[0], StoreBusy), failure
        answer = to_response(failure[0])
        assert answer.status_code == 503 and answer.headers["retry-after"] == "1"
        assert answer.body == b'{"code":503,"msg":"service not available, please try again"}'
        keys.create_key(100)  # the lock is free again: the retry works
    finally:
        engine.dispose()
