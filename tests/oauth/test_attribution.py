"""Orders placed with an OAuth access token earn the client's broker its rebates, through the
real application (``create_app``): approve an OAUTH broker (which registers its client), run the
authorization-code flow, place a Bearer order that trades, accrue rebates. A ``source`` header
naming another broker is refused and nothing is placed."""

from __future__ import annotations

from sqlalchemy import select
from starlette.testclient import TestClient

from bourse.app import create_app
from bourse.bootstrap import open_platform
from bourse.config import Config, RateLimits
from bourse.domain.accounts import AccountKind
from bourse.domain.brokers import rebate_for
from bourse.domain.money import to_units
from bourse.domain.orders import SELL, OrderRequest, OrderType
from bourse.engine import commands as c
from bourse.oauth.clients import register_for_broker
from bourse.services.brokers import rebates
from bourse.services.users import normalize_email
from bourse.store.oauth_tables import users
from tests.support.oauth import ISSUER, REDIRECT, Clock, Env, exchange, get_code, signup


def test_bearer_orders_are_attributed_to_the_clients_broker(migrated_url: str) -> None:
    config = Config(
        database_url=migrated_url,
        rate_limits=RateLimits.off(),
        public_url=ISSUER,
        rebate_settle_at=None,
    )
    with open_platform(config) as platform:
        engine, brokers = platform.engine, platform.brokers
        owner = engine.execute(c.OpenAccount(AccountKind.BROKER_MASTER, name="oauth app"))
        other_owner = engine.execute(c.OpenAccount(AccountKind.BROKER_MASTER, name="other"))
        broker = brokers.registry.apply(
            owner.id, "OAUTH", "Copy Trader", callback_url=REDIRECT, code="copytrader"
        )
        other = brokers.registry.apply(other_owner.id, "API", "Other", code="other")
        broker = brokers.registry.approve(broker.id)
        brokers.registry.approve(other.id)
        reg = register_for_broker(platform.oauth, broker, redirect_uris=[REDIRECT])
        assert reg is not None and reg.client.broker_id == broker.id

        with TestClient(create_app(platform), base_url=ISSUER, follow_redirects=False) as http:
            env = Env(platform.db, None, None, Clock(), http, platform.oauth)  # type: ignore[arg-type]
            email = signup(http)
            code, verifier = get_code(env, reg)
            tok = exchange(env, reg, code, verifier)
            assert tok.status_code == 200, tok.text
            access = tok.json()["access_token"]

            with platform.db.connect() as conn:
                acc = conn.execute(
                    select(users.c.account_id).where(users.c.email == normalize_email(email))
                ).scalar_one()
            seller = engine.execute(c.OpenAccount(AccountKind.USER, name="maker"))
            engine.execute(c.CreditDeposit(acc, "USDT", to_units("10000", 8), "oauth-usdt"))
            engine.execute(c.CreditDeposit(seller.id, "BTC", to_units("1", 8), "oauth-btc"))
            engine.execute(
                c.PlaceOrder(
                    OrderRequest(seller.id, "BTCUSDT", SELL, OrderType.LIMIT, qty=10_000, price=6_000_000)
                )
            )  # fmt: skip

            bearer = {"Authorization": f"Bearer {access}", "source": "copytrader"}
            params = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT",
                      "quantity": "0.004", "price": "60000"}  # fmt: skip
            r = http.post("/api/v3/order", params=params, headers=bearer)
            assert r.status_code == 200, r.text
            assert r.json()["status"] == "FILLED"

            # a source naming another broker is refused, and nothing is placed
            wrong = {"Authorization": f"Bearer {access}", "source": str(other.id)}
            r = http.post("/api/v3/order", params=params, headers=wrong)
            assert r.status_code == 403, r.text
            open_or_filled = engine.read(lambda e: e.exchange.next_order_id)

        brokers.accrue()
        total, rows = rebates.records(platform.db, broker.id)
        assert total == 1
        (row,) = rows
        assert row["account_id"] == acc and row["asset"] == "BTC"
        assert row["rebate"] == rebate_for(row["fee"], brokers.registry.rate_at(broker.id)) > 0
        assert rebates.records(platform.db, other.id)[0] == 0
        assert engine.read(lambda e: e.exchange.next_order_id) == open_or_filled
