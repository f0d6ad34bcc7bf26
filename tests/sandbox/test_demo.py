"""Demo seeding: idempotent, funded exactly, keys usable and retrievable after a restart."""

from __future__ import annotations

import pytest

from bourse.bootstrap import open_platform
from bourse.config import Config, RateLimits
from bourse.domain.money import to_units
from bourse.sandbox.demo import (
    DEFAULT_URL,
    DEMO_ACCOUNTS,
    FULL_SPOT_PERMISSIONS,
    demo_account_ids,
    demo_credentials,
    is_empty,
    remember_url,
    seed_demo,
)
from bourse.services.apikeys import generate_server_key
from bourse.services.bundle import Services


@pytest.fixture
def config(migrated_url: str) -> Config:
    return Config(
        database_url=migrated_url,
        secret_key=generate_server_key(),
        rate_limits=RateLimits.off(),
    )


def _balances(platform: Services, account: int) -> dict[str, tuple[int, int]]:
    return platform.engine.read(lambda e: e.exchange.ledger.account_balances(account))


def test_seed_is_idempotent_and_funds_exactly(config: Config) -> None:
    with open_platform(config) as platform:
        assert is_empty(platform)
        first = seed_demo(platform)
        assert first.changed
        assert set(first.opened) == {a.role for a in DEMO_ACCOUNTS}
        assert first.keys_created == ["user", "api_broker", "independent_broker"]
        assert first.credited == sum(len(a.funds) for a in DEMO_ACCOUNTS)
        second = seed_demo(platform)
        assert not second.changed
        assert second.accounts == first.accounts
        assert not is_empty(platform)
        for spec in DEMO_ACCOUNTS:
            got = _balances(platform, first.accounts[spec.role])
            for asset, amount in spec.funds:
                assert got[asset] == (to_units(amount, 8), 0)
        # the user's full key, and the trading key bound to the demo API broker
        assert len(platform.apikeys.list_keys(first.accounts["user"])) == 2
        keys = platform.apikeys.list_keys(first.accounts["user"])
        bound = [k for k in keys if platform.brokers.bindings.bound_broker(k["apiKey"])]
        assert len(bound) == 1 and "SPOT_WITHDRAW_WRITE" not in bound[0]["permissions"]
        platform.engine.read(lambda e: e.exchange.ledger.check())

    # after a restart: nothing new, same ids, same balances
    with open_platform(config) as platform:
        third = seed_demo(platform)
        assert not third.changed
        assert third.accounts == first.accounts == demo_account_ids(platform)
        user = _balances(platform, first.accounts["user"])
        assert user["USDT"] == (to_units("100000", 8), 0)
        assert len(platform.apikeys.list_keys(first.accounts["user"])) == 2


def test_credentials_are_retrievable_and_usable(config: Config) -> None:
    with open_platform(config) as platform:
        seeded = seed_demo(platform)
        creds = demo_credentials(platform)
        assert creds["url"] == DEFAULT_URL
        assert set(creds) == {"url", "accounts"}
        assert set(creds["accounts"]) == {"user", "api_broker", "independent_broker"}
        user = creds["accounts"]["user"]
        assert set(user) == {"api_key", "secret"}
        key = platform.apikeys.lookup(user["api_key"])
        assert key is not None and key.secret == user["secret"]
        assert key.account_id == seeded.accounts["user"]
        assert key.permissions == frozenset(FULL_SPOT_PERMISSIONS)
        assert key.expires is None and not key.revoked
        remember_url(platform, "http://127.0.0.1:18080")
        remember_url(platform, "http://[::1]:8081/with/a/longer/path-é")

    with open_platform(config) as platform:
        again = demo_credentials(platform)
        assert again["accounts"] == creds["accounts"]
        assert again["url"] == "http://[::1]:8081/with/a/longer/path-é"


def test_deleted_demo_key_is_recreated(config: Config) -> None:
    with open_platform(config) as platform:
        seed_demo(platform)
        old = demo_credentials(platform)["accounts"]["user"]["api_key"]
        assert platform.apikeys.delete_key(old)
        assert "user" not in demo_credentials(platform)["accounts"]
        assert seed_demo(platform).keys_created == ["user"]
        new = demo_credentials(platform)["accounts"]["user"]["api_key"]
        assert new != old
