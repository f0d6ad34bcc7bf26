"""Replay keys in the engine (``engine.replays``) on a real store, SQLite and PostgreSQL: a key
is accepted once within its window, in the same batch as its command, survives a restart, is
accepted again after the window, and its row is dropped from the store afterwards."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bourse.domain.accounts import AccountKind
from bourse.domain.errors import ReplayedRequest
from bourse.engine import Engine
from bourse.engine import commands as c
from bourse.engine.replays import WINDOW_MS
from bourse.sandbox.listings import ASSETS
from bourse.store import tables as t
from bourse.store.sql import SqlStore

T0 = 1_700_000_000_000


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now


def _rows(store: SqlStore) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(t.replays)).scalar_one())


def test_replay_key_accepted_once_across_restart_and_window(store: SqlStore) -> None:
    clock = Clock()
    engine = Engine(store, clock=clock)
    engine.apply_batch_now([c.AddAsset(a) for a in ASSETS])
    a, b = (x.id for x in engine.apply_batch_now([c.OpenAccount(AccountKind.USER)] * 2))
    engine.apply_batch_now([c.CreditDeposit(a, "USDT", 100, "d1")])
    move = c.Transfer(a, b, "USDT", 10, replay="k1")
    # the same key twice in one batch: the second is refused, the first moves the money
    results = []
    for cmd in (move, move):
        try:
            results.append(engine.apply_batch_now([cmd])[0])
        except ReplayedRequest:
            results.append("replay")
    assert results[1] == "replay" and isinstance(results[0], int)
    assert engine.wallet.ledger.available(b, "USDT") == 10
    # a client id makes a transfer idempotent instead: the replay key plays no part
    with_id = c.Transfer(a, b, "USDT", 10, client_id="cid", replay="k1")
    assert engine.apply_batch_now([with_id]) == engine.apply_batch_now([with_id])

    restarted = Engine(store, clock=clock)  # the key was committed with its batch
    with pytest.raises(ReplayedRequest):
        restarted.apply_batch_now([move])
    assert restarted.wallet.ledger.available(b, "USDT") == 20

    clock.now += WINDOW_MS + 1  # past the window the key is forgotten
    restarted.apply_batch_now([move])
    assert restarted.wallet.ledger.available(b, "USDT") == 30
    assert _rows(store) == 1  # the expired row was replaced
    clock.now += WINDOW_MS + 1
    restarted.apply_batch_now([c.Transfer(a, b, "USDT", 1, replay="k2")])
    assert _rows(store) == 1  # k1 expired and was dropped as k2 committed


def test_claimed_key_is_the_key_alone_once_across_restart(store: SqlStore) -> None:
    """``ClaimReplayKey`` (a request whose body was outside its signature) records its key
    with nothing else in the batch, refuses it again, and keeps it across a restart."""
    clock = Clock()
    engine = Engine(store, clock=clock)
    assert engine.apply_batch_now([c.ClaimReplayKey("sig1")]) == [None]
    with pytest.raises(ReplayedRequest):
        engine.apply_batch_now([c.ClaimReplayKey("sig1")])
    assert _rows(store) == 1
    restarted = Engine(store, clock=clock)
    with pytest.raises(ReplayedRequest):
        restarted.apply_batch_now([c.ClaimReplayKey("sig1")])
    restarted.apply_batch_now([c.ClaimReplayKey("sig2")])
    clock.now += WINDOW_MS + 1
    assert restarted.apply_batch_now([c.ClaimReplayKey("sig1")]) == [None]
