"""Money movements that name an account refuse system accounts (``domain.accounts.
check_movement``): a deposit credited to chain clearing would post from it to itself, and
no deposit, withdrawal, transfer or rebate may name fee revenue, rebates payable, chain
clearing or sandbox funding. Only the dust desk takes deposits (the operator funds it with MX).
Each refusal leaves the stored ledger as it was, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import Engine as Db
from sqlalchemy import func, select

from bourse.domain.accounts import (
    CHAIN_CLEARING,
    DUST_DESK,
    FEE_REVENUE,
    REBATES_PAYABLE,
    SANDBOX_FUNDING,
    SYSTEM_ACCOUNTS,
    AccountKind,
)
from bourse.domain.errors import SystemAccountRefused
from bourse.domain.ledger_check import audit
from bourse.engine import Engine
from bourse.engine import commands as c
from bourse.sandbox.listings import ASSETS
from bourse.store import tables as t
from bourse.store.db import make_engine
from bourse.store.ledger_check import ledger_figures
from bourse.store.sql import SqlStore

UNIT = 10**8
REFUSED = [FEE_REVENUE, REBATES_PAYABLE, CHAIN_CLEARING, SANDBOX_FUNDING]
ADDRESS = "T" + "E" * 33


@dataclass
class World:
    engine: Engine
    db: Db
    user: int
    other: int

    def ledger(self) -> tuple[dict[tuple[int, str], tuple[int, int]], int]:
        """The balances in memory and the number of stored postings."""
        balances = self.engine.read(
            lambda e: {k: (v[0], v[1]) for k, v in e.exchange.ledger.balances.items()}
        )
        with self.db.connect() as conn:
            postings = conn.execute(select(func.count()).select_from(t.postings)).scalar_one()
        return balances, postings


@pytest.fixture
def world(store: SqlStore, migrated_url: str) -> Iterator[World]:
    engine = Engine(store)
    engine.apply_batch_now([c.AddAsset(a) for a in ASSETS])
    user, other = (a.id for a in engine.apply_batch_now([c.OpenAccount(AccountKind.USER)] * 2))
    engine.apply_batch_now([c.CreditDeposit(user, "USDT", 100 * UNIT, "seed")])
    # a settled withdrawal's fee gives fee revenue something to pay rebates out of
    (w,) = engine.apply_batch_now(
        [c.ReserveWithdrawal(user, "USDT", 5 * UNIT, UNIT, ADDRESS, "TRX")]
    )
    engine.apply_batch_now([c.SettleWithdrawal(w.id, "tx")])
    db = make_engine(migrated_url)
    try:
        yield World(engine, db, user, other)
    finally:
        db.dispose()


def _refused(world: World, command: c.Command, match: str) -> None:
    before = world.ledger()
    with pytest.raises(SystemAccountRefused, match=match):
        world.engine.apply_batch_now([command])
    assert world.ledger() == before
    assert audit(ledger_figures(world.db)) == []


@pytest.mark.parametrize("account", REFUSED)
def test_no_deposit_to_a_system_account(world: World, account: int) -> None:
    name = re.escape(SYSTEM_ACCOUNTS[account])
    message = f"^account {account}, {name}, is a system account and takes no deposit$"
    _refused(world, c.CreditDeposit(account, "USDT", UNIT, "ref"), message)
    # nothing remembered either: the same tx reference still credits a customer
    assert world.engine.apply_batch_now([c.CreditDeposit(world.other, "USDT", UNIT, "ref")])


def test_the_dust_desk_takes_deposits(world: World) -> None:
    (credited,) = world.engine.apply_batch_now([c.CreditDeposit(DUST_DESK, "MX", UNIT, "desk")])
    assert credited and world.engine.read(lambda e: e.exchange.ledger.available(DUST_DESK, "MX"))
    assert audit(ledger_figures(world.db)) == []


@pytest.mark.parametrize("account", [*REFUSED, DUST_DESK])
def test_no_withdrawal_or_transfer_names_a_system_account(world: World, account: int) -> None:
    world.engine.apply_batch_now([c.CreditDeposit(DUST_DESK, "USDT", UNIT, "desk")])
    withdraw = c.ReserveWithdrawal(account, "USDT", UNIT // 2, 0, ADDRESS, "TRX")
    _refused(world, withdraw, "takes no withdrawal")
    _refused(world, c.Transfer(world.user, account, "USDT", UNIT), "takes no transfer")
    _refused(world, c.Transfer(account, world.user, "USDT", UNIT // 2), "takes no transfer")


def test_a_rebate_to_a_system_account_pays_no_one(world: World) -> None:
    """The system account comes second: the broker before it is not paid either."""
    payouts = ((world.other, "USDT", UNIT // 2), (REBATES_PAYABLE, "USDT", UNIT // 2))
    _refused(world, c.PayRebates("settlement", payouts), "takes no rebate")
    assert world.engine.apply_batch_now([c.PayRebates("settlement", payouts[:1])]) == [True]
