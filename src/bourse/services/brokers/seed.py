"""Demo seeding: an approved API broker with its own key, and a user key bound to it."""

from __future__ import annotations

from typing import Any

from bourse.domain.accounts import AccountKind
from bourse.domain.brokers import BrokerStatus, KeyAlreadyBound
from bourse.engine import Engine
from bourse.engine import commands as c
from bourse.services.apikeys import ApiKeys
from bourse.services.brokers.program import Brokers

DEMO_CODE = "demo-api-broker"
DEMO_PERMISSIONS = ["SPOT_ACCOUNT_READ", "SPOT_ACCOUNT_WRITE", "SPOT_DEAL_READ"]


def seed_api_broker(
    brokers: Brokers,
    apikeys: ApiKeys,
    engine: Engine,
    user_api_key: str | None = None,
    *,
    account_id: int | None = None,
    name: str = "Demo API Broker",
    rate_ppm: int = 300_000,
) -> dict[str, Any]:
    """Create (once) an APPROVED API broker with a master account and an API key, and bind
    ``user_api_key`` (a key of a user account) to it.

    With ``account_id`` the broker is registered for that existing account and no key is made
    (the caller manages the account's keys); otherwise a master account and a key are created.

    Returns ``{"brokerId", "accountId", "apiKey", "secretKey", "boundKey"}``; ``apiKey`` and
    ``secretKey`` are None when the broker already existed (secrets are shown once).
    Idempotent: a second call reuses the broker and leaves an existing binding to it alone.
    """
    reg = brokers.registry
    broker = reg.by_source(DEMO_CODE)
    api_key = secret = None
    if broker is None:
        if account_id is None:
            acc = engine.execute(c.OpenAccount(AccountKind.BROKER_MASTER, name=name))
            account_id = acc.id
            api_key, secret = apikeys.create_key(
                acc.id, DEMO_PERMISSIONS, label="demo broker", ip_whitelist=["127.0.0.1", "::1"]
            )
        broker = reg.apply(account_id, "API", name, code=DEMO_CODE, note="seeded for the demo")
    if broker.status is BrokerStatus.PENDING:
        reg.set_rate(broker.id, rate_ppm, note="demo")
        broker = reg.approve(broker.id)
    elif broker.status is BrokerStatus.SUSPENDED:
        broker = reg.approve(broker.id)
    bound = None
    if user_api_key:
        key = apikeys.lookup(user_api_key)
        if key is None:
            raise ValueError("unknown user API key")
        current = brokers.bindings.get(user_api_key)
        if current is None:
            brokers.bindings.bind(user_api_key, broker.id, key.account_id)
        elif current.broker_id != broker.id or not current.active:
            raise KeyAlreadyBound("the user key is already bound elsewhere")
        bound = user_api_key
    return {
        "brokerId": broker.id,
        "accountId": broker.account_id,
        "apiKey": api_key,
        "secretKey": secret,
        "boundKey": bound,
    }
