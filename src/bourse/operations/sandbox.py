"""``sandbox.*``: the tester's controls of a demo exchange (refused outside demo mode)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from bourse.operations.registry import OperationError, operation
from bourse.sandbox import faucet as f
from bourse.services.bundle import Services
from bourse.store.repositories.faucet import FaucetLedger


@operation("sandbox.faucet", demo_only=True)
def faucet(svc: Services, *, account: int, asset: str, amount: str) -> dict[str, Any]:
    """Credit test funds to any account or sub-account (capped per account and asset a day)."""
    try:
        done = f.credit(svc.engine, FaucetLedger(svc.db), account, asset, amount)
    except f.FaucetRefused as exc:
        raise OperationError(str(exc), 404 if exc.missing else 400) from exc
    except f.FaucetLimit as exc:
        raise OperationError(str(exc), 429) from exc
    return asdict(done)
