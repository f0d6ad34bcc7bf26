"""The writes of ``SqlStore.commit``: their SQL, built once per store from the tables, the row
tuples of a batch, and the transaction that writes them.

Each entry names a table, the columns in the order ``commit`` builds its row tuples, and whether
rows are upserted (rows that change) or only inserted (rows that only ever grow). SQLite gets
``INSERT .. VALUES`` for ``executemany``; PostgreSQL one ``INSERT .. SELECT * FROM unnest(<column
arrays>)`` per table, each array sent as one text literal (``pg_arrays``): psycopg's own list
dumper runs Python and a regular expression per element, ~40 us per row of an order batch.
``last_by`` keeps the last version of a row a batch changed several times.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from sqlalchemy import Boolean, Engine, Integer, Table

from bourse.domain.orders import ORDER_FIELDS
from bourse.domain.reference_price import SCALE
from bourse.engine.changes import BatchChanges
from bourse.store import tables as t
from bourse.store.audit_tables import money_audit

#: the ``orders`` column of an ``Order`` field where the two names differ
_ORDER_COLUMN = {"account": "account_id"}

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
        (
            "time",
            "command",
            "origin",
            "request_id",
            "account",
            "asset",
            "amount",
            "direction",
            "leg",
            "ref",
            "detail",
        ),
        False,
    ),  # fmt: skip
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
    # the row is ``Order.field_values``: its columns are the fields, in their order
    "orders": (t.orders, tuple(_ORDER_COLUMN.get(f, f) for f in ORDER_FIELDS), True),
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
    # a key is only ever inserted: a conflict fails the batch, as a key used twice should;
    # except an order's client id, upserted: used again after its key expired
    # (``engine.idempotency``), it replaces the old row (a batch writes a key at most once:
    # keys expire only at a batch's end)
    "idempotency": (
        t.idempotency,
        ("scope", "account_id", "client_id", "fingerprint", "result_id", "time"),
        False,
    ),
    "idempotency_order": (
        t.idempotency,
        ("scope", "account_id", "client_id", "fingerprint", "result_id", "time"),
        True,
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
            "remark",
        ),
        True,
    ),  # fmt: skip
    "meta": (t.meta, ("key", "value"), True),
    "references": (
        t.reference_prices,
        ("symbol", "price", "fraction", "last", "time", "since"),
        True,
    ),
}


class Write(NamedTuple):
    name: str
    sql: str
    #: PostgreSQL: how each column's array literal is written ("i" integer, "b" boolean, "s"
    #: text), in column order; empty on SQLite
    kinds: str = ""


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
        kinds = ""
        if name == "postgresql":
            arrays = ", ".join(f"%s::{c.type.compile(dialect=dialect)}[]" for c in columns)
            sql = f"INSERT INTO {q(table.name)} ({names}) SELECT * FROM unnest({arrays})"
            kinds = "".join(_kind(c.type) for c in columns)
        else:
            marks = ", ".join("?" for _ in cols)
            sql = f"INSERT INTO {q(table.name)} ({names}) VALUES ({marks})"
        if upsert:
            pk = [c.name for c in table.primary_key.columns]
            sets = ", ".join(f"{q(c)} = excluded.{q(c)}" for c in cols if c not in pk)
            sql += f" ON CONFLICT ({', '.join(q(c) for c in pk)}) DO UPDATE SET {sets}"
        out[key] = Write(key, sql, kinds)
    fo = q(t.fee_overrides.name)
    if name == "postgresql":
        out["fee_delete"] = Write(
            "fee_delete", f"DELETE FROM {fo} WHERE account_id = ANY(%s::BIGINT[])", "i"
        )
    else:
        out["fee_delete"] = Write("fee_delete", f"DELETE FROM {fo} WHERE account_id = ?")
    idem = q(t.idempotency.name)
    if name == "postgresql":
        out["idempotency_forget"] = Write(
            "idempotency_forget",
            f"DELETE FROM {idem} AS i USING unnest(%s::TEXT[], %s::BIGINT[], %s::TEXT[], "
            "%s::BIGINT[]) AS f(scope, account_id, client_id, result_id) WHERE i.scope = "
            "f.scope AND i.account_id = f.account_id AND i.client_id = f.client_id AND "
            "i.result_id = f.result_id",
            "sisi",
        )
    else:
        out["idempotency_forget"] = Write(
            "idempotency_forget",
            f"DELETE FROM {idem} WHERE scope = ? AND account_id = ? AND client_id = ? "
            "AND result_id = ?",
        )
    rp = q(t.replays.name)
    if name == "postgresql":
        out["replays_prune"] = Write(
            "replays_prune", f"DELETE FROM {rp} WHERE expires < ANY(%s::BIGINT[])", "i"
        )
    else:
        out["replays_prune"] = Write("replays_prune", f"DELETE FROM {rp} WHERE expires < ?")
    return out


def _kind(sa_type: Any) -> str:
    if isinstance(sa_type, Boolean):
        return "b"
    if isinstance(sa_type, Integer):  # BigInteger and SmallInteger are Integers
        return "i"
    return "s"


def _text(v: Any) -> str:
    """One element of a PostgreSQL array literal: quoted, with backslash and quote escaped
    (any text is then one element: commas, braces, blanks, the word NULL); None is NULL."""
    if v is None:
        return "NULL"
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _integer(v: Any) -> str:
    return "NULL" if v is None else int.__repr__(v)


def _boolean(v: Any) -> str:
    return "NULL" if v is None else ("t" if v else "f")


def pg_arrays(kinds: str, rows: Sequence[Sequence[Any]]) -> list[str]:
    """The rows as one array literal per column (``'{1,2}'``, ``'{"a","b"}'``), for the
    ``%s::TYPE[]`` parameters of ``unnest``: a few C-level joins per column instead of
    psycopg's per-element Python."""
    out = []
    for kind, col in zip(kinds, zip(*rows, strict=True), strict=True):
        if kind == "i":
            # int.__repr__: digits for a bool or an IntEnum too, TypeError for a non-integer
            body = ",".join(map(_integer if None in col else int.__repr__, col))
        elif kind == "b":
            body = ",".join(map(_boolean, col))
        else:
            body = ",".join(map(_text, col))
        out.append("{" + body + "}")
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


Work = list[tuple[Write, Sequence[Sequence[Any]]]]


def batch_work(w: dict[str, Write], ch: BatchChanges) -> Work:
    """Each write of batch ``ch`` with its row tuples, in commit order (the caller adds the
    meta rows)."""
    work: Work = []
    rows: list[tuple[Any, ...]]
    if ch.assets:
        work.append((w["assets"], [(a.code, a.scale, a.name) for a in last_by(ch.assets, by_code)]))
    if ch.symbols:
        rows = [
            (s.name, s.base.code, s.quote.code, s.price_scale, s.qty_scale, s.min_qty,
             s.max_qty, s.min_notional, s.max_notional, s.trading, ",".join(s.order_types))
            for s in last_by(ch.symbols, by_name)
        ]  # fmt: skip
        work.append((w["symbols"], rows))
    if ch.accounts:
        rows = [
            (a.id, str(a.kind), a.parent, a.frozen, a.name, a.mx_deduct)
            # by id: the order ``repositories.freeze`` takes these rows' locks in
            for a in sorted(last_by(ch.accounts, by_id), key=by_id)
        ]
        work.append((w["accounts"], rows))
    if ch.dust:
        work.append((w["dust"], ch.dust))  # DustRecord is a tuple in column order
    if ch.origins:
        work.append((w["origins"], ch.origins))  # OriginRecord is a tuple in column order
    if ch.stp_groups:
        rows = [
            (g.id, g.owner, g.name, ",".join(map(str, sorted(g.members))), g.created,
             g.updated, g.deleted)
            for g in last_by(ch.stp_groups, by_id)
        ]  # fmt: skip
        work.append((w["stp_groups"], rows))
    if ch.postings:
        work.append((w["postings"], ch.postings))  # Posting is a tuple in column order
    if ch.balances:
        rows = [(k[0], k[1], v[0], v[1]) for k, v in ch.balances.items()]
        work.append((w["balances"], rows))
    if ch.orders:
        # the last version of each order (``last_by`` without a key call per order), its
        # columns in ``ORDER_FIELDS`` order (``Order.field_values``: compiled)
        latest = {o.id: o for o in ch.orders}
        work.append((w["orders"], [o.field_values() for o in latest.values()]))
    if ch.trades:
        rows = [
            (x.id, x.symbol, x.price, x.qty, x.quote_qty, x.buyer_order, x.seller_order,
             x.buyer_account, x.seller_account, x.taker_side, x.buyer_fee, x.seller_fee,
             x.buyer_broker, x.seller_broker, x.time, x.buyer_fee_asset or None,
             x.seller_fee_asset or None)
            for x in ch.trades
        ]  # fmt: skip
        work.append((w["trades"], rows))
    if ch.transfers:
        work.append((w["transfers"], ch.transfers))  # NamedTuples in column order
    if ch.deposits:
        work.append((w["deposits"], ch.deposits))
    if ch.idempotency_forgotten:  # expired order keys (``engine.idempotency``)
        work.append((w["idempotency_forget"], ch.idempotency_forgotten))
    if ch.idempotency:
        keys = ch.idempotency
        order_keys = [r for r in keys if r[0] == "order"]
        if order_keys:
            work.append((w["idempotency_order"], order_keys))
        if len(order_keys) < len(keys):
            work.append((w["idempotency"], [r for r in keys if r[0] != "order"]))
    if ch.replays:
        work.append((w["replays_prune"], [(ch.replays_expired_before,)]))
        work.append((w["replays"], last_by(ch.replays, by_first)))
    if ch.fees:
        upserts, deletes = [], []
        for account, maker, taker in last_by(ch.fees, by_first):
            if maker is None:
                deletes.append((account,))
            else:
                upserts.append((account, maker, taker))
        if upserts:
            work.append((w["fee_overrides"], upserts))
        if deletes:
            work.append((w["fee_delete"], deletes))
    if ch.withdrawals:
        rows = [
            (x.id, x.account, x.asset, x.amount, x.fee, x.address, x.network, x.memo,
             x.client_id, str(x.status), x.txid, x.created, x.updated, x.remark)
            for x in last_by(ch.withdrawals, by_id)
        ]  # fmt: skip
        work.append((w["withdrawals"], rows))
    if ch.references:
        rows = [
            (name, *divmod(r.value, SCALE), r.last, r.time, r.since)
            for name, r in ch.references.items()
        ]
        work.append((w["references"], rows))
    return work


def execute_sqlite(dbapi: Any, work: Work) -> None:
    """Commit ``work`` in one transaction on the DBAPI connection (autocommit mode, so we
    begin ourselves): no SQLAlchemy transaction is open on it meanwhile (the store's lock),
    and SQLAlchemy's begin and commit cost more Python than the inserts of a small batch."""
    cur = dbapi.cursor()
    try:
        cur.execute("BEGIN")
        for write, rows in work:
            cur.executemany(write.sql, rows)
        cur.execute("COMMIT")  # synchronous=FULL: durable when this returns
    finally:
        cur.close()


def execute_postgresql(dbapi: Any, work: Work) -> None:
    """Commit ``work`` as ONE simple query, ``BEGIN; <one statement per table>; COMMIT``: one
    round trip, with the column arrays bound client-side (psycopg's ``ClientCursor``: libpq's
    literal escaping, in C). In autocommit mode psycopg adds no ``BEGIN`` of its own (a round
    trip more). A failed statement skips the rest, the ``COMMIT`` included, and raises; the
    caller then drops the connection, which rolls the transaction back.

    Not a pipeline: psycopg ends a pipeline with a flush request after its sync, and a backend
    that got a message after its last ready-for-query does not arm ``idle_session_timeout``
    (``sql.WRITER_IDLE_TIMEOUT_MS``), so a writer killed right after a commit kept its session
    and the writer lock for good. A simple query ends with ready-for-query."""
    from psycopg import ClientCursor  # PostgreSQL's only: not imported on SQLite

    sql = ";".join(["BEGIN", *(write.sql for write, _ in work), "COMMIT"])
    params = [a for write, rows in work for a in pg_arrays(write.kinds, rows)]
    dbapi.autocommit = True
    with ClientCursor(dbapi) as cur:
        cur.execute(sql, params)
    dbapi.autocommit = False


def rollback_sqlite(dbapi: Any) -> None:
    """After a failed ``execute_sqlite``: end its transaction, if still open, on the same
    connection (raises if the connection is gone)."""
    if dbapi.in_transaction:
        dbapi.execute("ROLLBACK")


def rollback_postgresql(dbapi: Any) -> None:
    """After a failed ``execute_postgresql``: end its aborted transaction on the same session,
    which holds the writer lock (``sql.WRITER_LOCK_KEY``), and leave autocommit as a commit
    does (raises if the session is gone)."""
    from psycopg.pq import TransactionStatus

    if dbapi.info.transaction_status != TransactionStatus.IDLE:
        dbapi.execute("ROLLBACK")
    dbapi.autocommit = False
