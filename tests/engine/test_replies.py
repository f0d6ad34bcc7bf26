"""``Engine.run`` answers the awaiting loop straight from the engine thread (``engine.replies``):
many commands awaited at once on one loop each get their own outcome, refusals included, and a
request cancelled while its command is queued does not disturb the others or the engine."""

from __future__ import annotations

import asyncio

import pytest

from bourse.domain.accounts import AccountKind
from bourse.domain.errors import DomainError
from bourse.domain.orders import BUY, SELL, OrderRequest, OrderStatus, OrderType
from bourse.engine import Engine
from bourse.engine import commands as c
from bourse.sandbox.listings import BTC, SYMBOLS, USDT
from bourse.store.memory import MemoryStore

SYMBOL = SYMBOLS[0]


def _ioc(account: int, side: int, qty: int) -> c.PlaceOrder:
    req = OrderRequest(account, SYMBOL.name, side, OrderType.IMMEDIATE_OR_CANCEL, qty, 100_00)
    return c.PlaceOrder(req)


def test_concurrent_runs_on_one_loop_get_their_own_outcomes() -> None:
    engine = Engine(MemoryStore())
    engine.apply_batch_now([c.AddAsset(BTC), c.AddAsset(USDT), c.AddSymbol(SYMBOL)])
    (acc,) = engine.apply_batch_now([c.OpenAccount(AccountKind.USER)])
    engine.apply_batch_now([c.CreditDeposit(acc.id, USDT.code, 10**14, "u")])
    engine.start()

    async def main() -> None:
        good = [asyncio.ensure_future(engine.run(_ioc(acc.id, BUY, 100_000))) for _ in range(200)]
        cancelled = asyncio.ensure_future(engine.run(_ioc(acc.id, BUY, 100_000)))
        refused = asyncio.ensure_future(engine.run(_ioc(acc.id, SELL, 100_000)))  # no BTC
        cancelled.cancel()
        orders = await asyncio.wait_for(asyncio.gather(*good), 30)
        assert len({o.id for o in orders}) == 200
        assert all(o.status is OrderStatus.CANCELED for o in orders)  # nothing to buy from
        with pytest.raises(DomainError):
            await asyncio.wait_for(refused, 30)
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        # the engine goes on answering this loop
        assert (await asyncio.wait_for(engine.run(_ioc(acc.id, BUY, 100_000)), 30)).id

    try:
        asyncio.run(main())
    finally:
        engine.stop()
