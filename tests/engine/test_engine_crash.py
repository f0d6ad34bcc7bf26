"""Crash-only on the engine thread (``bourse.engine.crash``): what escapes its loop is logged
once with its traceback and handed to ``on_crash`` (``bourse serve`` exits there; see
tests/faults/test_engine_crash.py). An engine embedded without that hook refuses every command
from then on, says why (``read_only``, which ``/readyz`` reports), and lets readers in on the
committed state again (the lock its loop held is released). The commands the loop had taken
and not answered are answered as unknown, never left waiting."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from bourse.domain.accounts import AccountKind
from bourse.domain.orders import BUY, OrderRequest, OrderType
from bourse.engine import Engine, EngineUnavailable
from bourse.engine import commands as c
from bourse.engine.crash import Fault, InjectedFault
from bourse.sandbox.listings import BTC, SYMBOLS, USDT
from bourse.store.db import make_engine
from bourse.store.sql import SqlStore

SYMBOL = SYMBOLS[0]
WAIT = 20.0  # seconds: every wait is bounded


def _order(account: int, price: int) -> c.PlaceOrder:
    return c.PlaceOrder(OrderRequest(account, SYMBOL.name, BUY, OrderType.LIMIT, 1000, price))


def test_a_crash_is_logged_once_and_what_follows_is_refused(
    migrated_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    engine = Engine(SqlStore(make_engine(migrated_url)))
    engine.apply_batch_now([c.AddAsset(BTC), c.AddAsset(USDT), c.AddSymbol(SYMBOL)])
    buyer = engine.apply_batch_now([c.OpenAccount(AccountKind.USER)])[0].id
    engine.apply_batch_now([c.CreditDeposit(buyer, USDT.code, 10**14, "b")])
    crashes: list[BaseException] = []
    engine.on_crash = crashes.append
    engine._fault = Fault(2)  # the second command's batch raises as it closes
    engine.start()
    try:
        engine.execute(_order(buyer, 30_000_000), WAIT)
        locked = engine.read(lambda e: e.exchange.ledger.balances[(buyer, USDT.code)][1])
        assert locked > 0
        with caplog.at_level(logging.CRITICAL, logger="bourse.engine"):
            fatal = engine.submit(_order(buyer, 31_000_000))
            deadline = time.monotonic() + WAIT
            while engine.running and time.monotonic() < deadline:
                time.sleep(0.01)
        assert not engine.running
        # its caller is answered, not left waiting: the outcome is unknown (it may have committed)
        with pytest.raises(EngineUnavailable, match="outcome is unknown"):
            fatal.result(WAIT)
        assert len(crashes) == 1 and isinstance(crashes[0], InjectedFault)
        assert engine.crashed is crashes[0]
        logged = [r for r in caplog.records if "engine thread crashed" in r.getMessage()]
        assert len(logged) == 1 and logged[0].exc_info is not None
        assert engine.read_only is not None and "crashed" in engine.read_only
        with pytest.raises(EngineUnavailable, match="crashed"):
            engine.submit(_order(buyer, 32_000_000)).result(WAIT)
        # a reader gets in (from another thread: the crashed loop's lock was released) and
        # sees the committed state: the first order's funds locked, nothing of the fatal one
        seen: list[int] = []
        reader = threading.Thread(
            target=lambda: seen.append(
                engine.read(lambda e: e.exchange.ledger.balances[(buyer, USDT.code)][1])
            ),
            daemon=True,
        )
        reader.start()
        reader.join(WAIT)
        assert seen == [locked]
    finally:
        engine.stop()
        engine.store.close()
