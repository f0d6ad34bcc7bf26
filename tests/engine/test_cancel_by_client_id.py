"""Cancelling by client id (``origClientOrderId``) finds the order through the id its
``PlaceOrder`` remembered (``engine.idempotency``), one lookup however many orders rest, and
never another account's order, also after a restart."""

from __future__ import annotations

import pytest

from bourse.domain.accounts import AccountKind
from bourse.domain.errors import OrderNotFound, UnknownSymbol
from bourse.domain.matching import Exchange
from bourse.domain.orders import BUY, OrderRequest, OrderStatus, OrderType
from bourse.engine import Engine
from bourse.engine import commands as c
from bourse.sandbox.listings import ASSETS, SYMBOLS
from bourse.store.sql import SqlStore

SYMBOL = SYMBOLS[0]


def _buy(account: int, price: int, client_id: str) -> c.PlaceOrder:
    req = OrderRequest(account, SYMBOL.name, BUY, OrderType.LIMIT, 1000, price, client_id=client_id)
    return c.PlaceOrder(req)


def test_cancel_by_client_id_is_a_lookup_not_a_walk(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = Engine(store)
    engine.apply_batch_now([*(c.AddAsset(x) for x in ASSETS), c.AddSymbol(SYMBOL)])
    a, b = (x.id for x in engine.apply_batch_now([c.OpenAccount(AccountKind.USER)] * 2))
    engine.apply_batch_now([c.CreditDeposit(x, "USDT", 10**16, f"d{x}") for x in (a, b)])
    engine.apply_batch_now([_buy(a, 2_000_000 + i, f"a{i}") for i in range(300)])
    engine.apply_batch_now([_buy(b, 2_000_000, "shared")])

    def walk(*args: object) -> None:
        raise AssertionError("cancel by client id walked the book")

    monkeypatch.setattr(Exchange, "find_order", walk)
    (gone,) = engine.apply_batch_now([c.CancelOrder(a, SYMBOL.name, client_id="a150")])
    assert gone.client_id == "a150" and gone.status is OrderStatus.CANCELED
    with pytest.raises(OrderNotFound):  # already cancelled
        engine.apply_batch_now([c.CancelOrder(a, SYMBOL.name, client_id="a150")])
    with pytest.raises(OrderNotFound):  # never used
        engine.apply_batch_now([c.CancelOrder(a, SYMBOL.name, client_id="nope")])
    with pytest.raises(OrderNotFound):  # b's client id names nothing of a's
        engine.apply_batch_now([c.CancelOrder(a, SYMBOL.name, client_id="shared")])
    monkeypatch.undo()
    with pytest.raises(UnknownSymbol):
        engine.apply_batch_now([c.CancelOrder(a, "NOPEUSDT", client_id="a1")])

    restarted = Engine(store)  # the ids come back from the store
    monkeypatch.setattr(Exchange, "find_order", walk)
    (again,) = restarted.apply_batch_now([c.CancelOrder(b, SYMBOL.name, client_id="shared")])
    assert again.account == b and again.status is OrderStatus.CANCELED
