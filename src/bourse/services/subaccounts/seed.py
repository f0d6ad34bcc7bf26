"""Demo seeding: an approved independent broker for an account the caller owns."""

from __future__ import annotations

from typing import Any

from bourse.domain.brokers import BrokerStatus, BrokerType
from bourse.domain.errors import InvalidParameter
from bourse.services.brokers.registry import Registry

INDEPENDENT_DEMO_CODE = "demo-independent-broker"


def seed_independent_broker(
    registry: Registry,
    account_id: int,
    *,
    name: str = "Demo Independent Broker",
    rate_ppm: int = 300_000,
) -> dict[str, Any]:
    """Register (once) ``account_id`` as an APPROVED INDEPENDENT broker with ``rate_ppm``.

    The caller owns the account, its funds and its API key (the demo's ``independent_broker``
    role, a ``BROKER_MASTER`` account with a full-spot-permission key). Idempotent: a second
    call returns the existing broker (re-approving it if it was suspended).
    Returns ``{"brokerId", "accountId", "code"}``.
    """
    reg = registry
    broker = reg.by_account(account_id)
    if broker is None:
        code = INDEPENDENT_DEMO_CODE if reg.by_source(INDEPENDENT_DEMO_CODE) is None else None
        broker = reg.apply(account_id, "INDEPENDENT", name, code=code, note="seeded for the demo")
    if broker.type is not BrokerType.INDEPENDENT:
        raise InvalidParameter(f"account {account_id} is already a {broker.type} broker")
    if broker.status is BrokerStatus.PENDING:
        reg.set_rate(broker.id, rate_ppm, note="demo")
        broker = reg.approve(broker.id)
    elif broker.status is BrokerStatus.SUSPENDED:
        broker = reg.approve(broker.id)
    return {"brokerId": broker.id, "accountId": broker.account_id, "code": broker.code}
