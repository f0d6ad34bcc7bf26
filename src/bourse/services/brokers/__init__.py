"""The broker program: registry, key bindings, attribution, rebate accrual and settlement.

``Brokers`` bundles them over one database and one engine; ``bourse.bootstrap`` builds the
platform's one instance (``Services.brokers``). See ``docs/brokers.md``.
"""

from __future__ import annotations

from bourse.services.brokers.attribution import Attributor
from bourse.services.brokers.bindings import Bindings
from bourse.services.brokers.program import Brokers
from bourse.services.brokers.rebates import AccrualResult
from bourse.services.brokers.registry import Broker, Registry
from bourse.services.brokers.seed import seed_api_broker
from bourse.services.brokers.settlement import RebateScheduler, Settlement, SettlementReport

__all__ = [
    "AccrualResult",
    "Broker",
    "Brokers",
    "Bindings",
    "Attributor",
    "Registry",
    "RebateScheduler",
    "Settlement",
    "SettlementReport",
    "seed_api_broker",
]
