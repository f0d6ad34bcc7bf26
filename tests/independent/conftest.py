"""Independent brokers over real HTTP: a platform on SQLite and PostgreSQL served by uvicorn on
loopback with the sub-account endpoints (``broker_subaccounts.ENDPOINTS``) mounted, plus
helpers to make approved independent brokers and their sub-accounts."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from api.conftest import Env, ServerThread, Signer, ok
from bourse.app import create_app
from bourse.bootstrap import open_platform
from bourse.config import Config, RateLimits
from bourse.domain.accounts import AccountKind
from bourse.domain.money import to_units
from bourse.engine import commands as c
from bourse.sandbox.demo import FULL_SPOT_PERMISSIONS
from bourse.services.apikeys import generate_server_key

MAKER_PPM = 1_000
TAKER_PPM = 2_000
REBATE_PPM = 300_000


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

    def open_account(self, kind: AccountKind = AccountKind.USER, **funds: str) -> int:  # type: ignore[override]
        engine = self.platform.engine
        acc = engine.execute(c.OpenAccount(kind))
        for i, (asset, amount) in enumerate(funds.items()):
            scale = engine.wallet.assets[asset].scale
            engine.execute(
                c.CreditDeposit(acc.id, asset, to_units(amount, scale), f"fund-{acc.id}-{i}")
            )
        return acc.id

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


def open_ienv(url: str, tmp_path: Any) -> Iterator[IEnv]:
    cfg = Config(
        database_url=url,
        secret_key=generate_server_key(),
        key_dir=str(tmp_path),
        rate_limits=RateLimits.off(),
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


@pytest.fixture
def ienv(migrated_url: str, tmp_path: Any) -> Iterator[IEnv]:
    yield from open_ienv(migrated_url, tmp_path)
