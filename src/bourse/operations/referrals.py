"""``referrals.*``: the operator's side of user referrals (refer codes, invitations made
outside the sign-up page, and the accrual-and-payout run ``Referrals.accrue_pending``, which the
server also runs live on its change-feed follower)."""

from __future__ import annotations

from typing import Any

from bourse.domain.referrals import AlreadyInvited
from bourse.operations.accounts import require_account
from bourse.operations.refusals import status_of
from bourse.operations.registry import OperationError, operation
from bourse.services.bundle import Services


@operation("referrals.code")
def code(svc: Services, *, account: int) -> dict[str, Any]:
    """An account's refer code (made on first use)."""
    require_account(svc, account)
    return {"account": account, "referCode": svc.referrals.refer_code(account)}


@operation("referrals.invite")
def invite(svc: Services, *, account: int, code: str) -> dict[str, Any]:
    """Make ``account`` the invitee of the owner of refer code ``code`` (once)."""
    require_account(svc, account)
    try:
        inviter = svc.referrals.invite(account, code)
    except AlreadyInvited as exc:  # says which account has one
        raise OperationError(f"account {account}: {exc.message or exc}", status_of(exc)) from exc
    return {"account": account, "inviter": inviter, "referCode": code}


@operation("referrals.accrue")
def accrue(svc: Services) -> dict[str, Any]:
    """Accrue kickbacks on every trade not yet seen and pay them (each payout once)."""
    run = svc.referrals.accrue_pending()
    return {
        "trades": run.trades,
        "kickbacks": run.kickbacks,
        "cursor": run.cursor,
        "paid": len(run.paid),
        "failed": run.failed,
    }
