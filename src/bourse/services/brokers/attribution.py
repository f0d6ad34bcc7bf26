"""Which broker earns on an order: resolved once, when the order is placed.

Precedence (``bourse.domain.brokers.attribute`` is the rule; this module feeds it):

1. the API key is bound to a broker: that broker, if APPROVED; if not, nobody (the ``source``
   header can neither redirect a bound key's fees nor rescue it);
2. otherwise a ``source`` header naming an APPROVED broker, by decimal broker id or by code;
3. otherwise nobody. A ``source`` that names no broker (ccxt sends ``source: CCXT``) or a broker
   that is not approved earns nothing; the trading layer stores the raw header on the order
   (``orders.source``) and ``record`` keeps the decision for audit (``order_attributions``).

The result's ``broker_id`` goes into ``OrderRequest.broker_id``; the matcher copies it onto
every trade (``buyer_broker`` / ``seller_broker``), which is what rebate accrual reads.
"""

from __future__ import annotations

import contextlib

from sqlalchemy import Engine

from bourse.domain.brokers import (
    Attribution,
    AttributionStatus,
    BrokerNotFound,
    BrokerStatus,
    attribute,
    clean_source,
)
from bourse.engine.clock import Clock, now_ms
from bourse.services.brokers.bindings import Bindings
from bourse.services.brokers.registry import Registry
from bourse.store.repositories.brokers import BrokerRepository

#: statuses worth an audit row (the others are visible on the order itself)
AUDITED = frozenset(
    {
        AttributionStatus.UNKNOWN_SOURCE,
        AttributionStatus.SOURCE_NOT_APPROVED,
        AttributionStatus.BOUND_NOT_APPROVED,
    }
)


class Attributor:
    def __init__(
        self, db: Engine, registry: Registry, bindings: Bindings, *, clock: Clock = now_ms
    ) -> None:
        self.db = db
        self.repo = BrokerRepository(db)
        self.registry = registry
        self.bindings = bindings
        self.clock = clock

    def resolve(self, bound_broker_id: int | None, source_header: str | None) -> Attribution:
        """Attribution for an order from a key bound to ``bound_broker_id`` (or None)."""
        return resolve(self.registry, bound_broker_id, source_header)

    def for_key(self, api_key: str | None, source_header: str | None) -> Attribution:
        """Attribution for an order placed with ``api_key`` (None: an OAuth token or the web)."""
        bound = self.bindings.bound_broker(api_key) if api_key else None
        return self.resolve(bound, source_header)

    def cached_for_key(self, api_key: str, source_header: str | None) -> Attribution | None:
        """``for_key`` from the caches alone, or None when answering needs the database: what
        the trading layer asks first, on the event loop, before handing the lookup to a thread.
        """
        known, bound = self.bindings.cached_bound_broker(api_key)
        if not known:
            return None
        source = clean_source(source_header)
        if bound is None and not source:
            return attribute(None, source, None)  # the common case: no broker involved
        snapshot = self.registry.cached_snapshot()
        if snapshot is None:
            return None
        by_id, _ = snapshot
        if bound is not None and bound not in by_id:
            return None
        return self.resolve(bound, source_header)

    def record(
        self, order_id: int, account_id: int, attribution: Attribution, api_key: str = ""
    ) -> bool:
        """Keep the decision for ``order_id`` if it is a refused one (see ``AUDITED``).

        Off the engine's path; idempotent per order. Returns True if a row was written.
        """
        if attribution.status not in AUDITED:
            return False
        return self._write(order_id, account_id, attribution, api_key)

    def audit_order(self, order: object, api_key: str | None = None) -> bool:
        """``record`` for a placed order (``domain.orders.Order``), re-deriving the decision.

        For callers that did not keep the ``Attribution``: an order with a ``source`` and no
        broker was refused; why is resolved again (from the same caches, so the same answer).
        """
        source, broker_id = getattr(order, "source", ""), getattr(order, "broker_id", None)
        if not source or broker_id is not None:
            return False
        att = self.for_key(api_key, source)
        if att.attributed:  # the broker was approved in between: nothing was refused
            return False
        return self.record(order.id, order.account, att, api_key or "")  # type: ignore[attr-defined]

    def _write(
        self, order_id: int, account_id: int, attribution: Attribution, api_key: str
    ) -> bool:
        self.repo.record_attribution(
            {
                "order_id": order_id,
                "account_id": account_id,
                "api_key": api_key or "",
                "source": attribution.source,
                "broker_id": attribution.broker_id,
                "status": attribution.status.value,
                "time": self.clock(),
            }
        )
        return True


def resolve(
    registry: Registry, bound_broker_id: int | None, source_header: str | None
) -> Attribution:
    """The attribution of an order (see the module docstring), from cached broker states."""
    source = clean_source(source_header)
    bound = None
    if bound_broker_id is not None:
        by_id, _ = registry.cached()
        b = by_id.get(bound_broker_id)
        if b is None:
            with contextlib.suppress(BrokerNotFound):
                b = registry.get(bound_broker_id)
        # a binding to a broker that no longer exists earns nothing, like an unapproved one
        bound = (b.id, b.status) if b is not None else (bound_broker_id, BrokerStatus.REJECTED)
    named = registry.by_source(source) if source and bound is None else None
    return attribute(bound, source, (named.id, named.status) if named else None)
