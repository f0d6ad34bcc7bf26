"""The sandbox's controls in demo mode: the faucet, the market maker, the faults and the reset.

``start_sandbox(platform, seeded)`` (``bourse serve --demo`` calls it after seeding) starts the
market maker and sets ``platform.sandbox`` to a ``Sandbox``, which the ``sandbox.*`` operations
(``bourse.operations.sandbox``) drive and whose fault table the gateway's middleware reads.

``Sandbox.reset()`` puts the exchange back to its demo seed while it runs: the market maker
pauses, a maintenance fault answers every ``/api/`` request with MEXC's maintenance error, one
engine command (``ResetBalances``) cancels every customer order and sets every customer balance
to its seed amount against the sandbox funding account, in one batch committed in one
transaction; then the maker starts afresh from the reference prices and the fault is lifted.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from bourse.domain.money import to_units
from bourse.engine import commands as c
from bourse.sandbox.demo import DEMO_ACCOUNTS, MARKET_MAKER_ROLE, DemoAccount
from bourse.sandbox.faults import Fault, FaultTable, MemoryFaults
from bourse.sandbox.market_maker import MarketMaker

#: how long the maintenance answer may cover a reset at most (seconds)
RESET_GUARD_S = 120


@dataclass(eq=False)
class Sandbox:
    """What a demo server lets a tester control (``bourse sandbox ...``)."""

    engine: Any
    #: the faucet's caps per asset (``bourse.sandbox.faucet.LIMITS`` with the server's options)
    faucet_limits: dict[str, str] | None = None
    faults: FaultTable = field(default_factory=MemoryFaults)
    maker: MarketMaker | None = None
    #: demo roles and their account ids (the reset's seed amounts come from ``DEMO_ACCOUNTS``)
    accounts: dict[str, int] = field(default_factory=dict)
    seed_accounts: tuple[DemoAccount, ...] = DEMO_ACCOUNTS
    _reset_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def stop(self) -> None:
        """Stop the market maker (``Services.close`` calls it)."""
        if self.maker is not None:
            self.maker.stop()

    def targets(self) -> tuple[tuple[int, str, int], ...]:
        """(account, asset, units) of the demo seed; every other customer balance is 0."""
        scales = self.engine.read(lambda e: {k: a.scale for k, a in e.wallet.assets.items()})
        out: dict[tuple[int, str], int] = {}
        for spec in self.seed_accounts:
            acc = self.accounts.get(spec.role)
            if acc is None:
                continue
            for code, amount in spec.funds:
                if code in scales:
                    key = (acc, code)
                    out[key] = out.get(key, 0) + to_units(amount, scales[code])
        targets = [(a, code, units) for (a, code), units in sorted(out.items())]
        return tuple(targets)

    def reset(self) -> dict[str, Any]:
        """Back to the demo seed (see the module docstring); what changed and how long it took."""
        if not self._reset_lock.acquire(blocking=False):
            raise ResetInProgress("a reset is already running")
        t0 = time.monotonic()
        guard = self.faults.add(
            Fault(
                self.faults.next_id(),
                "/api/*",
                "maintenance",
                time.time() + RESET_GUARD_S,
                msg="The sandbox is being reset, please try again in a moment",
            )
        )
        try:
            if self.maker is not None:
                self.maker.pause()
            done = self.engine.execute(c.ResetBalances(self.targets()), timeout=60)
            if self.maker is not None:
                self.maker.forget()
        finally:
            if self.maker is not None:
                self.maker.resume()
            self.faults.clear(fault_id=guard.id)
            self._reset_lock.release()
        return {
            "cancelled_orders": done["cancelled"],
            "balances_reset": done["balances"],
            "ms": round((time.monotonic() - t0) * 1000),
        }


class ResetInProgress(Exception):
    """Another reset is running."""


def start_sandbox(
    platform: Any,
    accounts: dict[str, int],
    *,
    seed: int | None = None,
    faucet_limits: dict[str, str] | None = None,
    maker: bool = True,
    **maker_options: Any,
) -> Sandbox:
    """Start the demo market maker (unless ``maker=False``) and hand ``platform`` its sandbox
    controls (``platform.sandbox``)."""
    mm = None
    if maker:
        mm = MarketMaker(
            platform.engine, accounts[MARKET_MAKER_ROLE], seed=seed, **maker_options
        ).start()
    sandbox = Sandbox(
        engine=platform.engine,
        faucet_limits=faucet_limits,
        maker=mm,
        accounts=dict(accounts),
    )
    platform.sandbox = sandbox
    return sandbox


__all__ = ["ResetInProgress", "Sandbox", "start_sandbox"]
