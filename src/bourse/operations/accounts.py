"""``accounts.*``: open, list, find and show accounts, freeze and unfreeze them, credit sandbox
deposits."""

from __future__ import annotations

import copy
import uuid
from typing import Any

from bourse.domain.accounts import AccountKind
from bourse.domain.money import format_units, to_units
from bourse.engine import commands as c
from bourse.operations.registry import OperationError, operation
from bourse.services.bundle import Services


def require_account(svc: Services, account: int) -> None:
    """Refuse (404) an ``account`` id that names no account."""
    if not svc.engine.read(lambda e: account in e.wallet.accounts):
        raise OperationError(f"account {account} does not exist", 404)


@operation("accounts.open")
def open_account(
    svc: Services, *, kind: str = "USER", name: str = "", parent: int | None = None
) -> dict[str, Any]:
    """Open a new account (USER, BROKER_MASTER, or BROKER_SUB under a USER or BROKER_MASTER
    --parent)."""
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
    require_account(svc, account)
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


def _row(a: Any) -> dict[str, Any]:
    return {"account": a.id, "kind": str(a.kind), "name": a.name, "parent": a.parent,
            "frozen": a.frozen}  # fmt: skip


#: the most rows ``accounts.search`` answers with
SEARCH_LIMIT = 100


@operation("accounts.search", mutates=False)
def search(svc: Services, *, query: str = "", limit: int = 50) -> list[dict[str, Any]]:
    """Accounts whose id is ``query`` or whose name (a user's e-mail) contains it, oldest
    first (system accounts left out); an empty query lists the first ones."""
    text = query.strip().lower()[:128]
    wanted = int(text) if text.isdigit() else None
    cap = max(1, min(limit, SEARCH_LIMIT))

    def find(e: Any) -> list[Any]:
        out = []
        for a in sorted(e.wallet.accounts.values(), key=lambda a: a.id):
            if a.kind is AccountKind.SYSTEM:
                continue
            if not text or a.id == wanted or text in (a.name or "").lower():
                out.append(copy.copy(a))
                if len(out) >= cap:
                    break
        return out

    return [_row(a) for a in svc.engine.read(find)]


@operation("accounts.show", mutates=False)
def show(svc: Services, *, account: int) -> dict[str, Any]:
    """One account with its balances (free and locked, per asset, exact decimals)."""

    def read(e: Any) -> tuple[Any, dict[str, tuple[int, int]], dict[str, int]]:
        acc = e.wallet.accounts.get(account)
        if acc is None or acc.kind is AccountKind.SYSTEM:
            return None, {}, {}
        scales = {code: a.scale for code, a in e.wallet.assets.items()}
        return copy.copy(acc), dict(e.exchange.ledger.account_balances(account)), scales

    acc, balances, scales = svc.engine.read(read)
    if acc is None:
        raise OperationError(f"account {account} does not exist", 404)
    return {
        **_row(acc),
        "balances": [
            {
                "asset": code,
                "free": format_units(free, scales[code]),
                "locked": format_units(locked, scales[code]),
            }  # fmt: skip
            for code, (free, locked) in sorted(balances.items())
            if free or locked
        ],
    }


def _set_frozen(svc: Services, account: int, frozen: bool) -> dict[str, Any]:
    known = svc.engine.read(
        lambda e: (
            account in e.wallet.accounts
            and e.wallet.accounts[account].kind is not AccountKind.SYSTEM
        )
    )
    if not known:
        raise OperationError(f"account {account} does not exist", 404)
    return _row(svc.engine.execute(c.SetAccountFrozen(account, frozen)))


@operation("accounts.freeze")
def freeze(svc: Services, *, account: int) -> dict[str, Any]:
    """Freeze an account: its open orders are cancelled, and what it asks next is refused
    (account frozen) until it is unfrozen."""
    return _set_frozen(svc, account, True)


@operation("accounts.unfreeze")
def unfreeze(svc: Services, *, account: int) -> dict[str, Any]:
    """Unfreeze an account."""
    return _set_frozen(svc, account, False)
