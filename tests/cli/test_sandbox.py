"""The sandbox faucet (operation ``sandbox.faucet``): demo mode only, capped per account and
asset over a rolling day, under concurrency, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from bourse.bootstrap import open_platform
from bourse.config import Config, RateLimits
from bourse.domain.accounts import AccountKind
from bourse.engine import commands as c
from bourse.operations import OperationError, invoke
from bourse.sandbox import faucet
from bourse.services.bundle import Services
from bourse.store.repositories.audit import AuditLog


@pytest.fixture
def platform(migrated_url: str) -> Iterator[Services]:
    with open_platform(
        Config(database_url=migrated_url, rate_limits=RateLimits.off(), rebate_settle_at=None)
    ) as p:
        yield p


def _faucet(p: Services, account: int, asset: str, amount: str) -> dict:
    return invoke(
        p,
        "sandbox.faucet",
        {"account": account, "asset": asset, "amount": amount},
        actor="test",
        source="local",
    )


def test_refused_outside_demo_mode(platform: Services) -> None:
    acc = platform.engine.execute(c.OpenAccount(AccountKind.USER)).id
    with pytest.raises(OperationError) as err:
        _faucet(platform, acc, "USDT", "10")
    assert err.value.status == 403 and "demo mode" in str(err.value)
    assert platform.engine.read(lambda e: e.exchange.ledger.available(acc, "USDT")) == 0
    (row,) = AuditLog(platform.db).recent(1)
    assert row["operation"] == "sandbox.faucet" and row["outcome"] == "refused"


def test_funds_a_sub_account_and_refuses_past_the_cap_concurrently(platform: Services) -> None:
    platform.wallet.settings.sandbox = True
    master = platform.engine.execute(c.OpenAccount(AccountKind.BROKER_MASTER)).id
    sub = platform.engine.execute(c.OpenAccount(AccountKind.BROKER_SUB, parent=master)).id
    cap = faucet.LIMITS["BTC"]  # "5"
    assert _faucet(platform, sub, "btc", "1")["remaining"] == "4"
    # 16 concurrent requests of 0.5 BTC: exactly 8 fit in the 4 left, whatever the interleaving
    start = threading.Barrier(16)

    def ask(_: int) -> str:
        start.wait(timeout=30)
        try:
            _faucet(platform, sub, "BTC", "0.5")
            return "ok"
        except OperationError as exc:
            assert exc.status == 429 and f"at most {cap} BTC" in str(exc)
            return "refused"

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(ask, range(16), timeout=60))
    assert results.count("ok") == 8 and results.count("refused") == 8
    units = platform.engine.read(lambda e: e.exchange.ledger.available(sub, "BTC"))
    assert units == 5 * 10**8
    # another asset, another account: their own caps
    assert _faucet(platform, sub, "USDT", "100")["available"] == "100"
    assert _faucet(platform, master, "BTC", "5")["remaining"] == "0"
    with pytest.raises(OperationError) as err:
        _faucet(platform, master, "BTC", "0.00000001")
    assert err.value.status == 429


@pytest.mark.parametrize(
    ("account", "asset", "amount", "status"),
    [
        (999_999, "USDT", "1", 404),
        (None, "NOPE", "1", 404),
        (None, "USDT", "0", 400),
        (None, "USDT", "-1", 400),
        (1, "USDT", "1", 404),
    ],  # 1: a system account
)
def test_refusals(
    platform: Services, account: int | None, asset: str, amount: str, status: int
) -> None:
    platform.wallet.settings.sandbox = True
    acc = account or platform.engine.execute(c.OpenAccount(AccountKind.USER)).id
    with pytest.raises(OperationError) as err:
        _faucet(platform, acc, asset, amount)
    assert err.value.status == status
