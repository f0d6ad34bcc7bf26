"""A whole platform (``open_platform``) served on loopback, with an HTTP client and helpers to
open funded accounts, make API keys, and (``IEnv``) run independent brokers and sub-accounts.

``open_env`` / ``open_ienv`` are generators: the fixtures ``yield from`` them, and a
module-scoped fixture can drive one by hand.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from bourse.app import create_app
from bourse.bootstrap import open_platform
from bourse.config import AuthLimits, Config, RateLimits
from bourse.domain.accounts import AccountKind
from bourse.domain.money import to_units
from bourse.engine import commands as c
from bourse.sandbox.demo import FULL_SPOT_PERMISSIONS
from bourse.services.apikeys import generate_server_key
from bourse.services.bundle import Services
from tests.support.mexc import Signer, ok
from tests.support.server import ServerThread

#: fees and rebate of the independent-broker platform (``open_ienv``)
MAKER_PPM = 1_000
TAKER_PPM = 2_000
REBATE_PPM = 300_000


@dataclass
class Env:
    platform: Services
    url: str
    http: httpx.Client

    def open_account(self, kind: AccountKind = AccountKind.USER, **funds: str) -> int:
        """A new account of ``kind`` holding ``funds`` (asset -> decimal amount)."""
        engine = self.platform.engine
        acc = engine.execute(c.OpenAccount(kind))
        for i, (asset, amount) in enumerate(funds.items()):
            scale = engine.wallet.assets[asset].scale
            engine.execute(
                c.CreditDeposit(acc.id, asset, to_units(amount, scale), f"fund-{acc.id}-{i}")
            )
        return int(acc.id)

    def signer(self, account: int, permissions: list[str] | None = None, **kw: Any) -> Signer:
        key, secret = self.platform.apikeys.create_key(
            account,
            permissions
            or ["SPOT_DEAL_READ", "SPOT_DEAL_WRITE", "SPOT_ACCOUNT_READ", "SPOT_WITHDRAW_READ"],
            **kw,
        )
        return Signer(self.http, key, secret)


@dataclass
class IEnv(Env):
    def broker(self, name: str = "Indie", **funds: str) -> tuple[int, int, Signer]:
        """An approved independent broker: (broker id, master account, master signer)."""
        acc = self.open_account(kind=AccountKind.BROKER_MASTER, **funds)
        signer = self.signer(acc, list(FULL_SPOT_PERMISSIONS), ip_whitelist=["127.0.0.1"])
        info = ok(signer.post("/api/v3/broker/apply", brokerType="INDEPENDENT", name=name))
        reg = self.platform.brokers.registry
        reg.set_rate(int(info["brokerId"]), REBATE_PPM, note="test")
        reg.approve(int(info["brokerId"]))
        return int(info["brokerId"]), acc, signer

    def sub(self, master: Signer, name: str, permissions: str | None = None) -> tuple[int, Signer]:
        """Create sub-account ``name`` and a key for it: (account id, signer)."""
        ok(master.post("/api/v3/broker/sub-account/virtualSubAccount", subAccount=name, note="n"))
        perms = permissions or ",".join(FULL_SPOT_PERMISSIONS)
        key = ok(
            master.post(
                "/api/v3/broker/sub-account/apiKey",
                subAccount=name,
                permissions=perms,
                note="k",
                ip="127.0.0.1",
            )
        )
        found = self.platform.apikeys.lookup(key["apiKey"])
        assert found is not None
        return found.account_id, Signer(self.http, key["apiKey"], key["secretKey"])


def open_env(url: str, tmp_path: Any, rate_limits: RateLimits | None = None) -> Iterator[Env]:
    """The platform on ``url`` (rate limits off unless given), served, with a client."""
    cfg = Config(
        database_url=url,
        secret_key=generate_server_key(),
        key_dir=str(tmp_path),
        rate_limits=rate_limits or RateLimits.off(),
        auth_limits=AuthLimits.off(),
    )
    platform = open_platform(cfg)
    try:
        with (
            ServerThread(create_app(platform)) as srv,
            httpx.Client(base_url=srv.url, timeout=15) as http,
        ):
            yield Env(platform, srv.url, http)
    finally:
        platform.close()


def open_ienv(url: str, tmp_path: Any, auth_limits: AuthLimits | None = None) -> Iterator[IEnv]:
    """The platform on ``url`` with broker fees and no scheduled rebate settlement, served
    (credential throttles off unless ``auth_limits`` is given)."""
    cfg = Config(
        database_url=url,
        secret_key=generate_server_key(),
        key_dir=str(tmp_path),
        rate_limits=RateLimits.off(),
        auth_limits=auth_limits or AuthLimits.off(),
        maker_fee_ppm=MAKER_PPM,
        taker_fee_ppm=TAKER_PPM,
        rebate_settle_at=None,
    )
    platform = open_platform(cfg)
    try:
        app = create_app(platform)
        with ServerThread(app) as srv, httpx.Client(base_url=srv.url, timeout=30) as http:
            yield IEnv(platform, srv.url, http)
    finally:
        platform.close()
