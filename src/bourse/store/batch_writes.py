"""The SQL of every write ``SqlStore.commit`` makes, built once per store from the tables.

Each entry names a table, the columns in the order ``commit`` builds its row tuples, and whether
rows are upserted (rows that change) or only inserted (rows that only ever grow). SQLite gets
``INSERT .. VALUES`` for ``executemany``; PostgreSQL one ``INSERT .. SELECT * FROM unnest(<column
arrays>)`` per table. ``last_by`` keeps the last version of a row a batch changed several times.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

from sqlalchemy import Engine, Table

from bourse.store import tables as t
from bourse.store.audit_tables import money_audit

#: (table, columns in the order ``commit`` builds its row tuples, upsert?)
_WRITES: dict[str, tuple[Table, tuple[str, ...], bool]] = {
    "assets": (t.assets, ("code", "scale", "name"), True),
    "symbols": (
        t.symbols,
        (
            "name",
            "base",
            "quote",
            "price_scale",
            "qty_scale",
            "min_qty",
            "max_qty",
            "min_notional",
            "max_notional",
            "trading",
            "order_types",
        ),
        True,
    ),  # fmt: skip
    # the fields of ``DustRecord``, in order
    "dust": (
        t.dust_conversions,
        ("id", "line", "account_id", "asset", "amount", "convert", "fee", "time"),
        False,
    ),
    # the fields of ``OriginRecord``, in order
    "origins": (
        money_audit,
        ("time", "command", "origin", "request_id", "account", "asset", "amount", "ref", "detail"),
        False,
    ),
    "stp_groups": (
        t.stp_groups,
        ("id", "owner_account", "name", "members", "created", "updated", "deleted"),
        True,
    ),
    "accounts": (t.accounts, ("id", "kind", "parent_id", "frozen", "name", "mx_deduct"), True),
    # the fields of ``Posting``, in order
    "postings": (
        t.postings,
        (
            "from_account",
            "from_bucket",
            "to_account",
            "to_bucket",
            "asset",
            "amount",
            "kind",
            "ref",
        ),
        False,
    ),  # fmt: skip
    "balances": (t.balances, ("account_id", "asset", "available", "locked"), True),
    "orders": (
        t.orders,
        (
            "id",
            "account_id",
            "symbol",
            "side",
            "type",
            "price",
            "qty",
            "quote_qty",
            "remaining",
            "filled_qty",
            "filled_quote",
            "locked",
            "status",
            "client_id",
            "stp",
            "source",
            "broker_id",
            "created",
            "updated",
            "cancel_reason",
        ),
        True,
    ),  # fmt: skip
    "trades": (
        t.trades,
        (
            "id",
            "symbol",
            "price",
            "qty",
            "quote_qty",
            "buyer_order",
            "seller_order",
            "buyer_account",
            "seller_account",
            "taker_side",
            "buyer_fee",
            "seller_fee",
            "buyer_broker",
            "seller_broker",
            "time",
            "buyer_fee_asset",
            "seller_fee_asset",
        ),
        False,
    ),  # fmt: skip
    # the fields of ``TransferRecord``, ``DepositRecord``, ``IdempotencyRecord``, in order
    "transfers": (
        t.transfers,
        ("id", "from_account", "to_account", "asset", "amount", "client_id", "time"),
        False,
    ),
    "deposits": (t.deposits, ("id", "tx_ref", "account_id", "asset", "amount", "time"), False),
    "idempotency": (
        t.idempotency,
        ("scope", "account_id", "client_id", "fingerprint", "result_id", "time"),
        False,
    ),
    "replays": (t.replays, ("key", "expires"), True),
    "fee_overrides": (t.fee_overrides, ("account_id", "maker", "taker"), True),
    "withdrawals": (
        t.withdrawals,
        (
            "id",
            "account_id",
            "asset",
            "amount",
            "fee",
            "address",
            "network",
            "memo",
            "client_id",
            "status",
            "txid",
            "created",
            "updated",
        ),
        True,
    ),  # fmt: skip
    "meta": (t.meta, ("key", "value"), True),
}


class Write(NamedTuple):
    name: str
    sql: str


def build_writes(engine: Engine) -> dict[str, Write]:
    """The dialect's SQL for every write of ``commit``."""
    dialect = engine.dialect
    name = dialect.name
    if name not in ("sqlite", "postgresql"):  # pragma: no cover - the two supported backends
        raise NotImplementedError(f"SqlStore supports SQLite and PostgreSQL, not {name}")
    q = dialect.identifier_preparer.quote
    out: dict[str, Write] = {}
    for key, (table, cols, upsert) in _WRITES.items():
        columns = [table.c[c] for c in cols]  # KeyError if tables.py and this drift apart
        if upsert:
            missing = set(table.c.keys()) - set(cols)
            assert not missing, f"{table.name}: upsert would not write {missing}"
        names = ", ".join(q(c) for c in cols)
        if name == "postgresql":
            arrays = ", ".join(f"%s::{c.type.compile(dialect=dialect)}[]" for c in columns)
            sql = f"INSERT INTO {q(table.name)} ({names}) SELECT * FROM unnest({arrays})"
        else:
            marks = ", ".join("?" for _ in cols)
            sql = f"INSERT INTO {q(table.name)} ({names}) VALUES ({marks})"
        if upsert:
            pk = [c.name for c in table.primary_key.columns]
            sets = ", ".join(f"{q(c)} = excluded.{q(c)}" for c in cols if c not in pk)
            sql += f" ON CONFLICT ({', '.join(q(c) for c in pk)}) DO UPDATE SET {sets}"
        out[key] = Write(key, sql)
    fo = q(t.fee_overrides.name)
    if name == "postgresql":
        sql = f"DELETE FROM {fo} WHERE account_id = ANY(%s::BIGINT[])"
    else:
        sql = f"DELETE FROM {fo} WHERE account_id = ?"
    out["fee_delete"] = Write("fee_delete", sql)
    rp = q(t.replays.name)
    if name == "postgresql":
        sql = f"DELETE FROM {rp} WHERE expires < ANY(%s::BIGINT[])"
    else:
        sql = f"DELETE FROM {rp} WHERE expires < ?"
    out["replays_prune"] = Write("replays_prune", sql)
    return out


def last_by(items: Iterable[Any], key: Any) -> list[Any]:
    """Keep only the last item per key (a batch may change the same row several times)."""
    return list({key(x): x for x in items}.values())


def by_id(x: Any) -> Any:
    return x.id


def by_code(x: Any) -> Any:
    return x.code


def by_name(x: Any) -> Any:
    return x.name


def by_first(x: Any) -> Any:
    return x[0]
