"""An engine's smallest market for the engine tests: BTCUSDT listed, a buyer holding USDT and a
seller holding BTC (plenty of each)."""

from __future__ import annotations

from bourse.domain.accounts import AccountKind
from bourse.engine import Engine
from bourse.engine import commands as c
from bourse.sandbox.listings import BTC, SYMBOLS, USDT

SYMBOL = SYMBOLS[0]  # BTCUSDT


def two_traders(engine: Engine) -> tuple[int, int]:
    """List BTCUSDT on ``engine`` (not started: committed batch by batch) and open a buyer
    with 10**14 USDT units and a seller with 10**12 BTC units; their account ids."""
    engine.apply_batch_now([c.AddAsset(BTC), c.AddAsset(USDT), c.AddSymbol(SYMBOL)])
    buyer, seller = (a.id for a in engine.apply_batch_now([c.OpenAccount(AccountKind.USER)] * 2))
    engine.apply_batch_now(
        [
            c.CreditDeposit(buyer, USDT.code, 10**14, "b"),
            c.CreditDeposit(seller, BTC.code, 10**12, "s"),
        ]
    )
    return buyer, seller
