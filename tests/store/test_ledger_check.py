"""``bourse check`` (the ledger audit) on SQLite and PostgreSQL: sound after trading, transfers
and withdrawals; each kind of corrupted row, and each stored account of an impossible shape, is
caught with its own line and a non-zero exit."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, update

from bourse.domain.accounts import CHAIN_CLEARING, FEE_REVENUE, AccountKind
from bourse.domain.ledger_check import audit
from bourse.domain.orders import BUY, SELL, OrderRequest, OrderType
from bourse.engine import Engine as BourseEngine
from bourse.engine import commands as c
from bourse.sandbox.listings import ASSETS, SYMBOLS
from bourse.store import tables as t
from bourse.store.db import make_engine
from bourse.store.ledger_check import ledger_figures
from bourse.store.sql import SqlStore

UNIT = 10**8


@dataclass
class World:
    url: str
    db: Engine
    alice: int
    bob: int
    resting: int  # an open order of alice's
    sub: int  # a BROKER_SUB under alice (a USER)


def _limit(account: int, side: int, qty: int, price: int) -> c.PlaceOrder:
    return c.PlaceOrder(OrderRequest(account, "BTCUSDT", side, OrderType.LIMIT, qty, price))


@pytest.fixture
def world(migrated_url: str) -> Iterator[World]:
    db = make_engine(migrated_url)
    store = SqlStore(db)
    try:
        eng = BourseEngine(store)
        eng.apply_batch_now([c.AddAsset(a) for a in ASSETS] + [c.AddSymbol(s) for s in SYMBOLS])
        alice, bob = (a.id for a in eng.apply_batch_now([c.OpenAccount(AccountKind.USER)] * 2))
        # every shape that can exist: subs under a user and under a broker master
        (master,) = eng.apply_batch_now([c.OpenAccount(AccountKind.BROKER_MASTER)])
        sub, _ = (
            a.id
            for a in eng.apply_batch_now(
                [
                    c.OpenAccount(AccountKind.BROKER_SUB, parent=alice),
                    c.OpenAccount(AccountKind.BROKER_SUB, parent=master.id),
                ]
            )
        )
        eng.apply_batch_now(
            [
                c.CreditDeposit(alice, "USDT", 100_000 * UNIT, "a"),
                c.CreditDeposit(bob, "BTC", 5 * UNIT, "b"),
            ]
        )
        sym = eng.exchange.symbols["BTCUSDT"]
        price = 30_000 * 10**sym.price_scale
        qty = 10**sym.qty_scale // 100  # 0.01 BTC
        (resting,) = eng.apply_batch_now([_limit(alice, BUY, qty, price - 10**sym.price_scale)])
        eng.apply_batch_now([_limit(bob, SELL, 2 * qty, price), _limit(alice, BUY, qty, price)])
        eng.apply_batch_now([c.Transfer(alice, bob, "USDT", 7 * UNIT)])
        eng.apply_batch_now(
            [c.ReserveWithdrawal(bob, "USDT", 5 * UNIT, UNIT // 10, "T" + "E" * 33, "TRX")]
        )
        store.close()
        yield World(migrated_url, db, alice, bob, resting.id, sub)
    finally:
        store.close()
        db.dispose()


def _check(url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BOURSE_DATABASE_URL": url, "COLUMNS": "300"}
    return subprocess.run(
        [sys.executable, "-m", "bourse.cli", "check"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.slow
def test_sound_ledger_then_corrupted_balance_through_the_cli(world: World) -> None:
    sound = _check(world.url)
    assert sound.returncode == 0, sound.stderr
    assert sound.stdout.startswith("ledger sound:")
    b = t.balances.c
    with world.db.begin() as conn:
        conn.execute(
            update(t.balances)
            .where(b.account_id == world.alice, b.asset == "USDT")
            .values(available=b.available + 1)
        )
    bad = _check(world.url)
    assert bad.returncode == 1
    lines = bad.stderr.strip().splitlines()
    assert any(
        x.startswith(f"balance {world.alice} USDT available: ") and "by the postings" in x
        for x in lines
    ), lines
    assert "asset USDT: balances of all accounts sum to 1, not 0" in lines
    assert len(lines) == 2


def test_each_corruption_is_caught(world: World) -> None:
    assert audit(ledger_figures(world.db)) == []
    o, w = t.orders.c, t.withdrawals.c
    with world.db.begin() as conn:
        # an open order reserving more than the balance holds locked
        conn.execute(update(t.orders).where(o.id == world.resting).values(locked=o.locked + 5))
        # a pending withdrawal whose hold vanished from the locked balance (and postings agree)
        conn.execute(update(t.withdrawals).where(w.account_id == world.bob).values(fee=w.fee + 3))
        # a posting of a negative amount from an account that does not exist
        conn.execute(
            insert(t.postings).values(
                from_account=999_999, from_bucket=0, to_account=world.bob, to_bucket=0,
                asset="ETH", amount=-4, kind="forged", ref=0,
            )
        )  # fmt: skip
        # a customer balance below zero, its postings forged to match
        conn.execute(
            insert(t.postings).values(
                from_account=world.alice, from_bucket=0, to_account=CHAIN_CLEARING,
                to_bucket=0, asset="MX", amount=9, kind="forged", ref=0,
            )
        )  # fmt: skip
        conn.execute(
            insert(t.balances).values(account_id=world.alice, asset="MX", available=-9, locked=0)
        )
        conn.execute(  # nobody held MX before
            insert(t.balances).values(account_id=CHAIN_CLEARING, asset="MX", available=9, locked=0)
        )
    lines = audit(ledger_figures(world.db))
    text = "\n".join(lines)
    assert f"balance {world.alice} USDT locked: " in text and "open orders" in text
    assert f"balance {world.bob} USDT locked: " in text and "pending withdrawals" in text
    assert "amount -4 is not positive" in text and "from account 999999 does not exist" in text
    assert f"balance {world.alice} MX available is negative: -9" in lines
    # the forged ETH posting also leaves bob's ETH off its postings
    assert any(x.startswith(f"balance {world.bob} ETH available: 0 stored, -4") for x in lines)
    assert len(lines) == 6, "\n".join(lines)


def test_impossible_account_shapes_are_reported(world: World) -> None:
    """Rows an older version may have written, before the engine refused such shapes."""
    assert audit(ledger_figures(world.db)) == []  # the shapes that can exist are sound
    bad = {
        900: ("BROKER_SUB", None, "a BROKER_SUB account needs a parent account"),
        901: ("BROKER_SUB", world.sub, "parent must be a USER or BROKER_MASTER account, not BROKER_SUB"),
        902: ("BROKER_SUB", FEE_REVENUE, "parent must be a USER or BROKER_MASTER account, not SYSTEM"),
        903: ("BROKER_SUB", 999_999, "its parent 999999 does not exist"),
        904: ("USER", world.alice, "a USER account takes no parent (only BROKER_SUB does)"),
        905: ("BROKER_MASTER", world.alice, "a BROKER_MASTER account takes no parent"),
        906: ("SYSTEM", None, "system accounts are fixed"),
        907: ("TRADER", None, ""),
        50: ("USER", None, "id 50 is reserved for system accounts"),
    }  # fmt: skip
    with world.db.begin() as conn:
        for account, (kind, parent, _) in bad.items():
            conn.execute(insert(t.accounts).values(id=account, kind=kind, parent_id=parent))
    r = _check(world.url)
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == len(bad), lines  # one line per impossible account, nothing else
    for account, (kind, _, what) in bad.items():
        if kind == "TRADER":
            assert f"account {account}: kind 'TRADER' is unknown" in lines
            continue
        (line,) = (x for x in lines if x.startswith(f"account {account} ({kind}): "))
        assert what in line, line


def test_missing_database_is_one_line(tmp_path: Path) -> None:
    r = _check(f"sqlite:///{tmp_path}/nothing.db")
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1
    assert "no Bourse database at" in r.stderr
    assert not (tmp_path / "nothing.db").exists()  # nor created by the check
