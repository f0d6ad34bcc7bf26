"""What each operator console page shows: a builder per page, reading through the operations
registry (``run(operation, params)``, audited like every operator call) and returning the
template and its context. The pages' forms post to ``bourse.web.operator``'s actions."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

#: ``run(operation, params)``: the operation's result (raises ``operator.Refused``)
Run = Callable[[str, dict[str, Any]], Any]
#: ``(run, path params, query) -> (template, context)``
Builder = Callable[[Run, Mapping[str, str], Mapping[str, str]], tuple[str, dict[str, Any]]]

BROKER_STATUSES = ("PENDING", "APPROVED", "SUSPENDED", "REJECTED")
AUDIT_ROWS = 100


def users(
    run: Run, path: Mapping[str, str], query: Mapping[str, str]
) -> tuple[str, dict[str, Any]]:
    q = query.get("q", "").strip()[:128]
    rows = run("accounts.search", {"query": q, "limit": 100})
    return "operator_users.html", {"title": "Users and accounts", "q": q, "accounts": rows}


def account(
    run: Run, path: Mapping[str, str], query: Mapping[str, str]
) -> tuple[str, dict[str, Any]]:
    acc = run("accounts.show", {"account": int(path["account"])})
    return "operator_account.html", {"title": f"Account {acc['account']}", "acc": acc}


def brokers(
    run: Run, path: Mapping[str, str], query: Mapping[str, str]
) -> tuple[str, dict[str, Any]]:
    rows = run("brokers.list", {})
    order = {s: i for i, s in enumerate(BROKER_STATUSES)}
    rows.sort(key=lambda b: (order.get(b["status"], 9), b["brokerId"]))
    for b in rows:  # ppm -> percent, exact
        b["ratePct"] = _ppm_pct(int(b["ratePpm"]))
    return "operator_brokers.html", {"title": "Broker applications", "brokers": rows}


def _ppm_pct(ppm: int) -> str:
    whole, frac = divmod(ppm, 10_000)
    return f"{whole}.{frac:04d}".rstrip("0").rstrip(".") + "%"


def listings(
    run: Run, path: Mapping[str, str], query: Mapping[str, str]
) -> tuple[str, dict[str, Any]]:
    return "operator_listings.html", {
        "title": "Listings",
        "assets": run("listings.assets", {}),
        "symbols": run("listings.symbols", {}),
    }


def withdrawals(
    run: Run, path: Mapping[str, str], query: Mapping[str, str]
) -> tuple[str, dict[str, Any]]:
    rows = run("withdrawals.pending", {})
    return "operator_withdrawals.html", {
        "title": "Withdrawals",
        "review": [w for w in rows if w["status"] == "REVIEW"],
        "others": [w for w in rows if w["status"] != "REVIEW"],
    }


def ledger(
    run: Run, path: Mapping[str, str], query: Mapping[str, str]
) -> tuple[str, dict[str, Any]]:
    return "operator_ledger.html", {"title": "Ledger check", "result": None}


def audit(
    run: Run, path: Mapping[str, str], query: Mapping[str, str]
) -> tuple[str, dict[str, Any]]:
    op = query.get("operation", "").strip()[:64] or None
    reads = query.get("reads") == "on"
    rows = run("audit.list", {"limit": AUDIT_ROWS, "operation": op, "reads": reads})
    return "operator_audit.html", {
        "title": "Operator audit log", "rows": rows, "operation": op, "reads": reads,
    }  # fmt: skip
