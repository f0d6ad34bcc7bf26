"""``accounts.*``: open and list accounts, credit sandbox deposits."""

from __future__ import annotations

import uuid
from typing import Any

from bourse.domain.accounts import AccountKind
from bourse.domain.money import format_units, to_units
from bourse.engine import commands as c
from bourse.operations.registry import OperationError, operation
from bourse.services.bundle import Services


@operation("accounts.open")
def open_account(
    svc: Services, *, kind: str = "USER", name: str = "", parent: int | None = None
) -> dict[str, Any]:
    """Open a new account (USER, BROKER_MASTER or BROKER_SUB under --parent)."""
    try:
        account_kind = AccountKind(kind.upper())
    except ValueError:
        raise OperationError(f"unknown account kind {kind!r}") from None
    acc = svc.engine.execute(c.OpenAccount(account_kind, parent=parent, name=name))
    return {"account": acc.id, "kind": str(acc.kind), "name": acc.name, "parent": acc.parent}


@operation("accounts.list", mutates=False)
def list_accounts(svc: Services, *, kind: str | None = None) -> list[dict[str, Any]]:
    """List accounts (system accounts left out), oldest first."""
    wanted = kind.upper() if kind else None
    accounts = svc.engine.read(lambda e: list(e.wallet.accounts.values()))
    return [
        {
            "account": a.id,
            "kind": str(a.kind),
            "name": a.name,
            "parent": a.parent,
            "frozen": a.frozen,
        }
        for a in sorted(accounts, key=lambda a: a.id)
        if a.kind is not AccountKind.SYSTEM and (wanted is None or str(a.kind) == wanted)
    ]


@operation("accounts.deposit")
def deposit(
    svc: Services, *, account: int, asset: str, amount: str, tx_ref: str | None = None
) -> dict[str, Any]:
    """Credit a sandbox deposit to an account (as if it had arrived on chain); a repeated
    ``tx_ref`` credits once."""
    code = asset.upper()
    scale = svc.engine.read(
        lambda e: e.wallet.assets[code].scale if code in e.wallet.assets else None
    )
    if scale is None:
        raise OperationError(f"unknown asset {code}", 404)
    if not svc.engine.read(lambda e: account in e.wallet.accounts):
        raise OperationError(f"account {account} does not exist", 404)
    units = to_units(amount, scale)
    ref = tx_ref or f"cli:{uuid.uuid4().hex}"
    credited = svc.engine.execute(c.CreditDeposit(account, code, units, ref))
    available = svc.engine.read(lambda e: e.exchange.ledger.available(account, code))
    return {
        "account": account,
        "asset": code,
        "amount": format_units(units, scale),
        "txRef": ref,
        "credited": bool(credited),
        "available": format_units(available, scale),
    }
