"""The money audit lists each movement once per account and asset it moved money in or out of
(``bourse.engine.trace.origin_records``): ``direction`` ("in", "out", or "" for a withdrawal
step that held or released funds) and ``leg`` (0: a movement's first row) are added, and the
rows stored before are split as the engine now writes them, so an account's audit finds them:
a transfer's receiver, a deposit's chain clearing, a settled withdrawal's chain clearing and
fee revenue, each payee of a rebate payout and the fee revenue paying it, both sides of a dust
conversion, and the account of each withdrawal step (those rows named only the withdrawal). A
sandbox reset's rows stay one row of no account: what it moved for whom was never stored.
The account index becomes (account, time), the order an account's audit is read in.

The downgrade drops every row but each movement's first and the two columns; the first rows
keep the account, asset and amount the upgrade gave them.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

# as they were when this migration was written (bourse.domain.accounts, bourse.domain.mx)
FEE_REVENUE = 1
CHAIN_CLEARING = 3
DUST_DESK = 4
MX = "MX"
#: the withdrawal steps whose rows named only ``withdrawal_id`` in their detail
STEPS = ("MarkWithdrawalProcessing", "ApproveWithdrawal", "RejectWithdrawal", "VoidWithdrawal")
SPLIT = ("Transfer", "CreditDeposit", "SettleWithdrawal", "PayRebates", "ConvertDust", *STEPS)
CHUNK = 2000

_audit = sa.table(
    "money_audit",
    sa.column("id", sa.BigInteger),
    sa.column("time", sa.BigInteger),
    sa.column("command", sa.String),
    sa.column("origin", sa.String),
    sa.column("request_id", sa.String),
    sa.column("account", sa.BigInteger),
    sa.column("asset", sa.String),
    sa.column("amount", sa.BigInteger),
    sa.column("direction", sa.String),
    sa.column("leg", sa.SmallInteger),
    sa.column("ref", sa.BigInteger),
    sa.column("detail", sa.Text),
)
_withdrawals = sa.table(
    "withdrawals",
    sa.column("id", sa.BigInteger),
    sa.column("account_id", sa.BigInteger),
    sa.column("asset", sa.String),
    sa.column("amount", sa.BigInteger),
    sa.column("fee", sa.BigInteger),
)
_dust = sa.table(
    "dust_conversions",
    sa.column("id", sa.BigInteger),
    sa.column("line", sa.SmallInteger),
    sa.column("account_id", sa.BigInteger),
    sa.column("asset", sa.String),
    sa.column("amount", sa.BigInteger),
    sa.column("convert", sa.BigInteger),
    sa.column("fee", sa.BigInteger),
)

#: (account, asset, units, direction) of one row
Leg = tuple[int | None, str, int | None, str]


def upgrade() -> None:
    with op.batch_alter_table("money_audit") as batch:
        batch.add_column(sa.Column("direction", sa.String(3), nullable=False, server_default=""))
        batch.add_column(sa.Column("leg", sa.SmallInteger, nullable=False, server_default="0"))
    op.drop_index("ix_money_audit_account", "money_audit")
    op.create_index("ix_money_audit_account", "money_audit", ["account", "time"])
    conn = op.get_bind()
    for command, direction in (("Transfer", "out"), ("CreditDeposit", "in")):
        op.execute(_audit.update().where(_audit.c.command == command).values(direction=direction))
    change = (
        _audit.update()
        .where(_audit.c.id == sa.bindparam("_id"))
        .values(
            account=sa.bindparam("_account"),
            asset=sa.bindparam("_asset"),
            amount=sa.bindparam("_amount"),
            direction=sa.bindparam("_direction"),
        )
    )
    for rows in _chunks(conn):
        updates: list[dict[str, Any]] = []
        inserts: list[dict[str, Any]] = []
        for row in rows:
            legs = _legs(conn, row)
            if not legs:
                continue
            first, *others = legs
            if first != (row["account"], row["asset"], row["amount"], row["direction"]):
                keys = ("_account", "_asset", "_amount", "_direction")
                updates.append({"_id": row["id"], **dict(zip(keys, first, strict=True))})
            detail = _dumps(_scalars(row)) if others else ""
            for leg, (account, asset, units, direction) in enumerate(others, start=1):
                inserts.append(
                    {
                        **{k: row[k] for k in ("time", "command", "origin", "request_id", "ref")},
                        "account": account,
                        "asset": asset,
                        "amount": units,
                        "direction": direction,
                        "leg": leg,
                        "detail": detail,
                    }
                )
        if updates:
            conn.execute(change, updates)
        if inserts:
            conn.execute(_audit.insert(), inserts)


def downgrade() -> None:
    op.execute(_audit.delete().where(_audit.c.leg > 0))
    op.drop_index("ix_money_audit_account", "money_audit")
    op.create_index("ix_money_audit_account", "money_audit", ["account"])
    with op.batch_alter_table("money_audit") as batch:
        batch.drop_column("leg")
        batch.drop_column("direction")


def _chunks(conn: sa.Connection) -> Iterator[list[dict[str, Any]]]:
    """The rows to split, ``CHUNK`` at a time in id order (rows inserted meanwhile have higher
    ids than any read before, and are never read: the query stops at the last id of now)."""
    last = conn.execute(sa.select(sa.func.max(_audit.c.id))).scalar() or 0
    after = 0
    while True:
        q = (
            sa.select(_audit)
            .where(_audit.c.command.in_(SPLIT), _audit.c.id > after, _audit.c.id <= last)
            .order_by(_audit.c.id)
            .limit(CHUNK)
        )
        rows = [dict(r) for r in conn.execute(q).mappings()]
        if not rows:
            return
        yield rows
        after = rows[-1]["id"]


def _legs(conn: sa.Connection, row: dict[str, Any]) -> list[Leg]:
    """The rows the engine writes now for the movement of stored ``row``, from what it and the
    tables hold; [] to leave it as it is."""
    command, account, asset, units = row["command"], row["account"], row["asset"], row["amount"]
    detail = json.loads(row["detail"])
    if command == "Transfer":
        if account is None or not isinstance(detail.get("to_account"), int):
            return []
        return [(account, asset, units, "out"), (detail["to_account"], asset, units, "in")]
    if command == "CreditDeposit":
        return [(account, asset, units, "in"), (CHAIN_CLEARING, asset, units, "out")]
    if command == "PayRebates":
        payouts = detail.get("payouts") or []
        return _net([(FEE_REVENUE, payee, a, n) for payee, a, n in payouts], None)
    if command == "ConvertDust":
        if row["ref"] is None or account is None:
            return []
        q = sa.select(_dust).where(_dust.c.id == row["ref"]).order_by(_dust.c.line)
        postings: list[tuple[int, int, str, int]] = []
        for d in conn.execute(q).mappings():
            postings += [
                (d["account_id"], DUST_DESK, d["asset"], d["amount"]),
                (DUST_DESK, d["account_id"], MX, d["convert"]),
                (DUST_DESK, FEE_REVENUE, MX, d["fee"]),
            ]
        return _net(postings, account)
    wid = detail.get("withdrawal_id")  # a withdrawal step
    w = conn.execute(sa.select(_withdrawals).where(_withdrawals.c.id == wid)).mappings().first()
    if w is None:
        return []
    if command == "SettleWithdrawal":
        postings = [
            (w["account_id"], CHAIN_CLEARING, w["asset"], w["amount"]),
            (w["account_id"], FEE_REVENUE, w["asset"], w["fee"]),
        ]
        return _net(postings, w["account_id"])
    return [(w["account_id"], w["asset"], w["amount"], "")]


def _net(postings: Sequence[tuple[int, int, str, int]], subject: int | None) -> list[Leg]:
    """As ``engine.trace.origin_records``: what each account and asset gained or lost, the
    subject's first, then in the order the postings name them."""
    net: dict[tuple[int, str], int] = {}
    for src, dst, asset, units in postings:
        if src != dst and units:
            net[src, asset] = net.get((src, asset), 0) - units
            net[dst, asset] = net.get((dst, asset), 0) + units
    ordered = sorted(net.items(), key=lambda kv: kv[0][0] != subject)
    return [(a, asset, abs(n), "in" if n > 0 else "out") for (a, asset), n in ordered if n]


def _scalars(row: dict[str, Any]) -> dict[str, Any]:
    """The single-valued fields of the command of ``row``: what a movement's other rows
    carry (its first row's detail, less its lists, plus the fields the first row's columns
    held)."""
    detail = {k: v for k, v in json.loads(row["detail"]).items() if not isinstance(v, list)}
    command = row["command"]
    if command == "Transfer":
        detail.update(from_account=row["account"], asset=row["asset"], amount=row["amount"])
    elif command == "CreditDeposit":
        detail.update(account=row["account"], asset=row["asset"], amount=row["amount"])
    elif command == "ConvertDust":
        detail.update(account=row["account"])
    return detail


def _dumps(value: dict[str, Any]) -> str:
    return json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))
