"""``withdrawals.*``: the review queue. A withdrawal above its coin's review threshold
(``WalletSettings.review_above``) waits in REVIEW until an operator approves it (it goes on to
the chain) or rejects it (it ends CANCELED and its reserve is released)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bourse.domain.money import format_units
from bourse.domain.wallet import Withdrawal, WithdrawalStatus
from bourse.operations.registry import OperationError, operation
from bourse.services.bundle import Services


def _row(w: Withdrawal, scale: int) -> dict[str, Any]:
    return {
        "id": w.id,
        "account": w.account,
        "asset": w.asset,
        "amount": format_units(w.amount, scale),
        "fee": format_units(w.fee, scale),
        "address": w.address,
        "network": w.network,
        "status": str(w.status),
        "created": w.created,
    }


@operation("withdrawals.pending", mutates=False)
def pending(svc: Services, *, status: str | None = None) -> list[dict[str, Any]]:
    """Withdrawals not yet final (REVIEW, PENDING, PROCESSING), oldest first."""
    try:
        wanted = WithdrawalStatus(status.upper()) if status else None
    except ValueError:
        raise OperationError(f"unknown status {status!r}") from None

    def read(e: Any) -> list[dict[str, Any]]:
        return [
            _row(w, e.wallet.assets[w.asset].scale)
            for w in sorted(e.wallet.withdrawals.values(), key=lambda w: w.id)
            if wanted is None or w.status is wanted
        ]

    rows: list[dict[str, Any]] = svc.engine.read(read)
    return rows


def _scale(svc: Services, asset: str) -> int:
    return int(svc.engine.read(lambda e: e.wallet.assets[asset].scale))


def _review(svc: Services, decide: Callable[[int], Withdrawal], withdrawal: int) -> dict[str, Any]:
    w = decide(withdrawal)  # WithdrawalNotFound (404), WithdrawalNotCancelable (409)
    return _row(w, _scale(svc, w.asset))


@operation("withdrawals.approve")
def approve(svc: Services, *, withdrawal: int) -> dict[str, Any]:
    """Release a withdrawal in review to the chain."""
    return _review(svc, svc.wallet.approve_withdrawal, withdrawal)


@operation("withdrawals.reject")
def reject(svc: Services, *, withdrawal: int) -> dict[str, Any]:
    """Refuse a withdrawal in review: it ends CANCELED, its reserve released."""
    return _review(svc, svc.wallet.reject_withdrawal, withdrawal)
