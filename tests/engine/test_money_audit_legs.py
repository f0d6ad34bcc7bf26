"""The money audit's rows of each kind of money movement (``engine.trace.origin_records``): one
per account and asset the movement moved money into or out of, so an account's rows list every
movement of its money: a transfer's receiver, a rebate's payee (and the fee revenue paying it),
both sides of a dust conversion and of a sandbox reset, each withdrawal step of the account."""

from __future__ import annotations

import itertools
import json
from typing import Any

from bourse.domain.accounts import (
    CHAIN_CLEARING,
    DUST_DESK,
    FEE_REVENUE,
    SANDBOX_FUNDING,
    AccountKind,
)
from bourse.domain.ledger import P_REF
from bourse.domain.orders import BUY, SELL, OrderRequest, OrderType, StpMode
from bourse.domain.reference_price import AVERAGING_MS
from bourse.engine import Engine
from bourse.engine import commands as c
from bourse.engine.changes import BatchChanges, OriginRecord
from bourse.sandbox.listings import ASSETS, SYMBOLS
from bourse.store.memory import MemoryStore

UNIT = 10**8
ADDRESS = "T" + "E" * 33


class World:
    def __init__(self) -> None:
        ticks = itertools.count(1_700_000_000_000, 1000)
        self.later = 0  # added to the clock (a test moves it on)
        self.engine = Engine(
            MemoryStore(), stp_default=StpMode.NONE, clock=lambda: next(ticks) + self.later
        )
        self.batches: list[BatchChanges] = []
        self.engine.subscribe(self.batches.append)
        for asset in ASSETS:
            self.run(c.AddAsset(asset))
        for sym in SYMBOLS:
            self.run(c.AddSymbol(sym))

    def run(self, command: c.Command) -> Any:
        return self.engine.execute(command)

    def rows(self, command: c.Command) -> list[tuple[int | None, str, int | None, str, int]]:
        """Run ``command``; its audit rows as (account, asset, units, direction, leg)."""
        done = len(self.batches)
        self.run(command)
        got = [o for b in self.batches[done:] for o in b.origins]
        assert {o.command for o in got} <= {type(command).__name__}
        return [(o.account, o.asset, o.amount, o.direction, o.leg) for o in got]

    def last(self) -> list[OriginRecord]:
        return self.batches[-1].origins

    def account(self, kind: AccountKind = AccountKind.USER, **funds: int) -> int:
        acc = int(self.run(c.OpenAccount(kind)).id)
        for asset, units in funds.items():
            self.run(c.CreditDeposit(acc, asset, units, f"fund-{acc}-{asset}"))
        return acc


def test_a_transfer_is_a_row_of_the_sender_and_one_of_the_receiver() -> None:
    w = World()
    master = w.account(USDT=1000 * UNIT)
    sub = int(w.run(c.OpenAccount(AccountKind.BROKER_SUB, parent=master)).id)
    move = c.Transfer(master, sub, "USDT", 500 * UNIT, client_id="t-1")
    assert w.rows(move) == [
        (master, "USDT", 500 * UNIT, "out", 0),
        (sub, "USDT", 500 * UNIT, "in", 1),
    ]
    first, second = (json.loads(o.detail) for o in w.last())
    assert first["to_account"] == sub and first["client_id"] == "t-1"
    # the receiver's row names who sent it
    assert second["from_account"] == master and second["client_id"] == "t-1"
    tid = w.last()[0].ref
    assert tid is not None and w.last()[1].ref == tid  # both rows name the transfer
    assert w.rows(move) == []  # an idempotent retry moves nothing and writes nothing


def test_a_deposit_is_the_account_in_and_chain_clearing_out() -> None:
    w = World()
    acc = w.account()
    assert w.rows(c.CreditDeposit(acc, "USDT", 5 * UNIT, "dep-1")) == [
        (acc, "USDT", 5 * UNIT, "in", 0),
        (CHAIN_CLEARING, "USDT", 5 * UNIT, "out", 1),
    ]
    assert json.loads(w.last()[0].detail) == {"tx_ref": "dep-1"}
    # both rows name the deposit, as its ledger posting does (they were None: the handler
    # answers a bool)
    (deposit,) = w.batches[-1].deposits
    assert [o.ref for o in w.last()] == [deposit.id] * 2
    assert {p[P_REF] for p in w.batches[-1].postings} == {deposit.id}


def test_each_withdrawal_step_is_a_row_of_the_account() -> None:
    w = World()
    acc = w.account(USDT=100 * UNIT)
    reserve = c.ReserveWithdrawal(acc, "USDT", 6 * UNIT, UNIT, ADDRESS, "TRX", review=True)
    assert w.rows(reserve) == [(acc, "USDT", 6 * UNIT, "", 0)]
    assert json.loads(w.last()[0].detail)["fee"] == UNIT
    wid = w.last()[0].ref
    assert wid is not None
    assert w.rows(c.ApproveWithdrawal(wid)) == [(acc, "USDT", 6 * UNIT, "", 0)]
    assert w.rows(c.MarkWithdrawalProcessing(wid, "tx-1")) == [(acc, "USDT", 6 * UNIT, "", 0)]
    # settled: amount and fee leave the account, for chain clearing and fee revenue
    assert w.rows(c.SettleWithdrawal(wid, "tx-1")) == [
        (acc, "USDT", 7 * UNIT, "out", 0),
        (CHAIN_CLEARING, "USDT", 6 * UNIT, "in", 1),
        (FEE_REVENUE, "USDT", UNIT, "in", 2),
    ]
    assert all(json.loads(o.detail)["withdrawal_id"] == wid for o in w.last())
    for undo in (c.RejectWithdrawal, c.VoidWithdrawal):
        w.run(reserve)
        other = w.last()[0].ref
        assert other is not None
        assert w.rows(undo(other)) == [(acc, "USDT", 6 * UNIT, "", 0)]


def test_a_rebate_payout_is_a_row_of_each_payee_and_of_fee_revenue() -> None:
    w = World()
    payer = w.account(USDT=100 * UNIT)
    reserve = c.ReserveWithdrawal(payer, "USDT", 5 * UNIT, 2 * UNIT, ADDRESS, "TRX")
    w.run(c.SettleWithdrawal(w.run(reserve).id))  # 2 USDT of fee revenue
    broker, referrer = w.account(AccountKind.BROKER_MASTER), w.account()
    pay = c.PayRebates("settle-1", ((broker, "USDT", 33), (referrer, "USDT", 7)))
    assert w.rows(pay) == [
        (FEE_REVENUE, "USDT", 40, "out", 0),
        (broker, "USDT", 33, "in", 1),
        (referrer, "USDT", 7, "in", 2),
    ]
    first, *others = (json.loads(o.detail) for o in w.last())
    assert first == {"payouts": [[broker, "USDT", 33], [referrer, "USDT", 7]],
                     "settlement_key": "settle-1"}  # fmt: skip
    assert others == [{"settlement_key": "settle-1"}] * 2
    # every row names the settlement, as each payout's ledger posting does
    (settlement,) = {p[P_REF] for p in w.batches[-1].postings}
    assert isinstance(settlement, int)
    assert [o.ref for o in w.last()] == [settlement] * 3
    again = c.PayRebates("settle-2", ((broker, "USDT", 1),))
    assert w.rows(again) and {o.ref for o in w.last()} == {settlement + 1}  # its own
    assert w.rows(pay) == []  # paid once


def test_a_dust_conversion_is_each_asset_out_and_mx_in() -> None:
    w = World()
    maker, taker = w.account(MX=1000 * UNIT), w.account(USDT=1000 * UNIT)
    w.run(c.CreditDeposit(DUST_DESK, "MX", 1000 * UNIT, "desk"))
    for side, acc in ((SELL, maker), (BUY, taker)):  # a last MXUSDT price
        req = OrderRequest(acc, "MXUSDT", side, OrderType.LIMIT, qty=1000, price=25_000)
        w.run(c.PlaceOrder(req))
    w.later = AVERAGING_MS  # the MXUSDT reference has history (``reference_price.settled``)
    dusty = w.account(USDT=10**6, ETH=10**5)  # ETH has no USDT price: not converted
    rows = w.rows(c.ConvertDust(dusty, ("USDT", "ETH")))
    mx = rows[1][2]
    assert mx and rows[:2] == [(dusty, "USDT", 10**6, "out", 0), (dusty, "MX", mx, "in", 1)]
    fee = next(r[2] for r in rows if r[0] == FEE_REVENUE)
    assert fee and rows[2:] == [
        (DUST_DESK, "USDT", 10**6, "in", 2),
        (DUST_DESK, "MX", mx + fee, "out", 3),
        (FEE_REVENUE, "MX", fee, "in", 4),
    ]
    assert json.loads(w.last()[0].detail) == {"assets": ["USDT", "ETH"]}
    assert json.loads(w.last()[1].detail) == {"account": dusty}


def test_a_sandbox_reset_is_a_row_of_each_balance_it_moved() -> None:
    w = World()
    a, b = w.account(USDT=10 * UNIT), w.account(BTC=UNIT)
    rows = w.rows(c.ResetBalances(((a, "USDT", 4 * UNIT), (b, "USDT", 3 * UNIT))))
    assert sorted(rows, key=lambda r: r[4]) == rows
    assert sorted(r[:4] for r in rows) == sorted(
        [
            (a, "USDT", 6 * UNIT, "out"),
            (b, "USDT", 3 * UNIT, "in"),
            (b, "BTC", UNIT, "out"),
            (SANDBOX_FUNDING, "USDT", 3 * UNIT, "in"),
            (SANDBOX_FUNDING, "BTC", UNIT, "in"),
        ]
    )
