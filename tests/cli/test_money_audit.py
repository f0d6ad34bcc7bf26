"""``bourse audit --money --account N`` lists every movement in or out of account N, with its
asset and decimal amount: a rebate paid to a broker, a transfer received by a sub-account (not
only the payer's side), each withdrawal step; the same rows against a stopped database and
through a running server (the operator API), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bourse.bootstrap import open_platform
from bourse.config import Config
from bourse.domain.accounts import CHAIN_CLEARING, FEE_REVENUE, AccountKind
from bourse.engine import commands as c
from bourse.sandbox.listings import ASSETS
from tests.support.pg_pool import PgPool
from tests.support.served import SECRET_KEY, Served

ADDRESS = "bc1q" + "e" * 38


@pytest.fixture(params=["sqlite", "postgresql"])
def side(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Served]:
    home = tmp_path / ".bourse"
    home.mkdir()
    if request.param == "sqlite":
        yield Served(f"sqlite:///{home / 'bourse.db'}", home)
        return
    pg: PgPool = request.getfixturevalue("pg_pool")
    url = pg.empty()
    try:
        yield Served(url, home)
    finally:
        pg.release(url)


def _movements(side: Served) -> dict[str, int]:
    """A broker paid a rebate, a master funding its sub-account, a settled withdrawal (whose
    fee is what fee revenue pays the rebate with), each through the engine as the platform
    makes them; the accounts by role."""
    platform = open_platform(Config(database_url=side.url, secret_key=SECRET_KEY))
    try:
        run = platform.engine.execute
        for asset in ASSETS:
            run(c.AddAsset(asset))
        user = run(c.OpenAccount(AccountKind.USER)).id
        broker = run(c.OpenAccount(AccountKind.BROKER_MASTER)).id
        master = run(c.OpenAccount(AccountKind.BROKER_MASTER)).id
        sub = run(c.OpenAccount(AccountKind.BROKER_SUB, parent=master)).id
        run(c.CreditDeposit(user, "BTC", 10**8, "btc-1"))
        run(c.CreditDeposit(master, "USDT", 1000 * 10**8, "usdt-1"))
        w = run(c.ReserveWithdrawal(user, "BTC", 10**7, 1000, ADDRESS, "BTC"))
        run(c.SettleWithdrawal(w.id, "tx-1"))
        run(c.Transfer(master, sub, "USDT", 500 * 10**8, client_id="fund-sub"))
        run(c.PayRebates("settle-1", ((broker, "BTC", 33),)))
    finally:
        platform.close()
    return {"user": user, "broker": broker, "master": master, "sub": sub}


def _audit(side: Served, account: int) -> list[tuple[Any, ...]]:
    rows = json.loads(side.cli("audit", "--money", "--account", str(account), "--json"))
    return [(r["command"], r["account"], r["asset"], r["amount"], r["direction"]) for r in rows]


def test_an_accounts_money_audit_lists_money_in_as_well_as_out(side: Served) -> None:
    acc = _movements(side)
    expected = {
        # the rebate's payee and amount were only in the payer's row's detail
        acc["broker"]: [("PayRebates", acc["broker"], "BTC", "0.00000033", "in")],
        # the transfer's receiver was only in the sender's row's detail
        acc["sub"]: [("Transfer", acc["sub"], "USDT", "500", "in")],
        acc["master"]: [
            ("Transfer", acc["master"], "USDT", "500", "out"),
            ("CreditDeposit", acc["master"], "USDT", "1000", "in"),
        ],
        # the settlement named only the withdrawal
        acc["user"]: [
            ("SettleWithdrawal", acc["user"], "BTC", "0.10001", "out"),
            ("ReserveWithdrawal", acc["user"], "BTC", "0.1", ""),
            ("CreditDeposit", acc["user"], "BTC", "1", "in"),
        ],
        FEE_REVENUE: [
            ("PayRebates", FEE_REVENUE, "BTC", "0.00000033", "out"),
            ("SettleWithdrawal", FEE_REVENUE, "BTC", "0.00001", "in"),
        ],
        CHAIN_CLEARING: [
            ("SettleWithdrawal", CHAIN_CLEARING, "BTC", "0.1", "in"),
            ("CreditDeposit", CHAIN_CLEARING, "USDT", "1000", "out"),
            ("CreditDeposit", CHAIN_CLEARING, "BTC", "1", "out"),
        ],
    }
    stopped = {account: _audit(side, account) for account in expected}
    assert stopped == expected
    table = side.cli("audit", "--money", "--account", str(acc["sub"]))
    assert "+500" in table and "Transfer" in table
    side.start()
    try:
        assert side.server is not None
        live = {account: _audit(side, account) for account in expected}
        assert live == expected
    finally:
        side.stop()
