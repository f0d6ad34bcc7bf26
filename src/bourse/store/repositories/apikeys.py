"""The ``api_keys`` table: the one module that writes it (create, revoke, renew, and the
changes one key makes to another).

Other repositories may read it (the broker bindings join it for their listings); every write
goes through ``ApiKeyRepository``. Rows come back as SQLAlchemy rows with the table's columns.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, insert, select, update

from bourse.store import broker_tables as bt
from bourse.store import tables as t
from bourse.store.repositories.freeze import refuse_frozen
from bourse.store.transaction import write

_k = t.api_keys.c
_kb = bt.key_bindings.c


class ApiKeyRepository:
    def __init__(self, db: Engine) -> None:
        self.db = db

    # --- writing ---------------------------------------------------------------------------------
    def insert_within_limit(
        self,
        values: dict[str, Any],
        max_keys: int,
        *,
        actor: str | None = None,
        decide: Callable[[Any | None], dict[str, Any]] | None = None,
        acting_account: int | None = None,
    ) -> bool:
        """Insert the key row ``values`` unless its account already has ``max_keys`` usable
        keys (counted in the same transaction, which holds the account's key lock: concurrent
        creations cannot both take the last place); returns whether it was inserted.

        Given ``decide``, the acting key ``actor`` (the key signing the creation) is read in
        this transaction, under its row lock (``locked_rows``), and ``decide(actor_row)``
        gives the columns it sets on the new row, or raises to insert nothing: the signer's
        right to create the key and the key itself are one decision, so a revoke, a renewal or
        a binding of the signer either commits first and is seen here, or waits for this
        key.

        No key is made for a frozen account, nor by one: the key's account, the signing key's
        and ``acting_account`` (a master making its sub-account's key in the console) are
        checked in this transaction (``freeze.refuse_frozen``: ``AccountFrozen``)."""
        with write(self.db, lock=("api_keys", int(values["account_id"]))) as conn:
            actor_row = None
            if decide is not None:
                _, actor_row = locked_rows(conn, None, actor)
            acting = [int(values["account_id"])]
            if actor_row is not None:
                acting.append(int(actor_row.account_id))
            if acting_account is not None:
                acting.append(acting_account)
            refuse_frozen(conn, *acting)
            if decide is not None:
                values = {**values, **decide(actor_row)}
            count = len(
                conn.execute(
                    select(_k.api_key).where(
                        _k.account_id == values["account_id"], _k.revoked.is_(False)
                    )
                ).all()
            )
            if count >= max_keys:
                return False
            conn.execute(insert(t.api_keys).values(**values))
        return True

    def revoke(self, api_key: str, account_id: int | None = None) -> bool:
        """Revoke a usable key (only ``account_id``'s, if given); False if there was none."""
        cond = [_k.api_key == api_key, _k.revoked.is_(False)]
        if account_id is not None:
            cond.append(_k.account_id == account_id)
        with write(self.db) as conn:
            n = conn.execute(update(t.api_keys).where(*cond).values(revoked=True)).rowcount
        return bool(n)

    def change(
        self,
        api_key: str,
        account_id: int,
        decide: Callable[[Any | None, Any | None], dict[str, Any]],
        *,
        actor: str | None = None,
        refuse_if_frozen: bool = False,
    ) -> None:
        """Read the key's row and (given ``actor``) the acting key's row, and update the key
        with ``decide(row, actor_row)``'s values, in one transaction holding the account's key
        lock (``insert_within_limit``'s): key changes of one account run one at a time. With
        ``refuse_if_frozen`` (a change that gives the key more: a renewal) nothing changes
        while ``account_id`` is frozen (``freeze.refuse_frozen``, in this transaction). Both
        rows are read under their row locks (``locked_rows``), so a revoke, renewal or binding
        change of either, from another account's transaction or none, is seen or waits.

        Each row has the table's columns plus its binding's ``broker_id`` and ``unbound_at``
        (``_bound_row``). ``decide`` gets None for an unknown key (and for no
        ``actor``) and raises to change nothing; ``{"revoked": True}`` deletes the key."""
        with write(self.db, lock=("api_keys", account_id)) as conn:
            row, actor_row = locked_rows(conn, api_key, actor)
            if refuse_if_frozen:
                refuse_frozen(conn, account_id)
            values = decide(row, actor_row)
            conn.execute(update(t.api_keys).where(_k.api_key == api_key).values(**values))

    @staticmethod
    def reencrypt_all(conn: Connection, transform: Callable[[bytes], bytes | None]) -> int:
        """Replace every stored secret by ``transform(secret)`` (None: leave it) inside the
        caller's transaction ``conn``; how many were replaced.

        Every row is read under its row lock (PostgreSQL: FOR NO KEY UPDATE, the lock the
        UPDATE takes anyway), all taken in ``locked_rows``'s order before the first update:
        this and a key path locking two keys take them in the same order, so neither holds a
        row the other waits for while it waits itself (a deadlock: a 503 for one of them); and
        a secret renewed meanwhile is read as committed, never overwritten by the
        re-encryption of the one it replaced."""
        q = select(_k.api_key, _k.secret_enc).order_by(_lock_order(conn))
        if conn.dialect.name == "postgresql":
            q = q.with_for_update(key_share=True)
        done = 0
        for api_key, enc in conn.execute(q).all():
            new = transform(bytes(enc))
            if new is not None:
                conn.execute(update(t.api_keys).where(_k.api_key == api_key).values(secret_enc=new))
                done += 1
        return done

    # --- reading ---------------------------------------------------------------------------------
    def get(self, api_key: str) -> Any | None:
        with self.db.connect() as conn:
            return conn.execute(select(t.api_keys).where(_k.api_key == api_key)).first()

    def get_bound(self, api_key: str) -> Any | None:
        """The key's row with its binding's ``broker_id`` and ``unbound_at`` (``_bound_row``)."""
        with self.db.connect() as conn:
            return _bound_row(conn, api_key)

    def newest(self) -> Any | None:
        """The most recently created key row, if any."""
        with self.db.connect() as conn:
            return conn.execute(select(t.api_keys).order_by(_k.created.desc()).limit(1)).first()

    def of_account(self, account_id: int, include_revoked: bool = False) -> list[Any]:
        """The account's key rows, oldest first."""
        q = select(t.api_keys).where(_k.account_id == account_id)
        if not include_revoked:
            q = q.where(_k.revoked.is_(False))
        with self.db.connect() as conn:
            return list(conn.execute(q.order_by(_k.created)).all())

    def newest_labelled(self, account_id: int, label: str, limit: int = 5) -> list[str]:
        """Access keys of the account's usable keys labelled ``label``, newest first."""
        q = (
            select(_k.api_key)
            .where(_k.account_id == account_id, _k.label == label, _k.revoked.is_(False))
            .order_by(_k.created.desc())
            .limit(limit)
        )
        with self.db.connect() as conn:
            return [row.api_key for row in conn.execute(q)]


def locked_rows(
    conn: Connection, target: str | None, actor: str | None
) -> tuple[Any | None, Any | None]:
    """The bound rows (``_bound_row``) of the key ``target`` a transaction changes and of the
    key ``actor`` acting on it (either None: not read), each read after taking its row lock
    in the transaction ``conn``.

    On PostgreSQL the target is locked FOR UPDATE and the actor FOR SHARE (both, one key:
    FOR UPDATE), in access-key order (``_lock_order``) so no two such transactions wait on
    each other; every write of a key's row (revoke, renewal, ``change``, ``reencrypt_all``)
    or binding (bind, unbind) takes that row's lock too, so it waits for this transaction or
    is committed before the rows are read. The rows are read by statements after the locks:
    under READ COMMITTED each sees what was committed before it started, a binding made by
    the lock holder included (a locking read would re-check only the locked row). On SQLite
    the transaction's write lock (``BEGIN IMMEDIATE``) already serialises every writer, and
    nothing is locked here."""
    if conn.dialect.name == "postgresql":
        share = {k: k != target for k in (actor, target) if k is not None}
        for key in sorted(share):  # _lock_order
            conn.execute(
                select(_k.api_key).where(_k.api_key == key).with_for_update(read=share[key])
            )
    return (
        None if target is None else _bound_row(conn, target),
        None if actor is None else _bound_row(conn, actor),
    )


def _lock_order(conn: Connection) -> ColumnElement[str]:
    """The one order in which a transaction takes several key rows' locks: by access key,
    code point by code point, as Python's ``sorted`` (``locked_rows``) and PostgreSQL's "C"
    collation (``reencrypt_all``) both compare, whatever the database's default collation."""
    return _k.api_key.collate("C") if conn.dialect.name == "postgresql" else _k.api_key


def _bound_row(conn: Connection, api_key: str) -> Any | None:
    """The key's row with its binding's ``broker_id`` and ``unbound_at`` (both None if the key
    was never bound; a key is bound at most once, so there is at most one)."""
    q = (
        select(t.api_keys, _kb.broker_id, _kb.unbound_at)
        .select_from(t.api_keys.outerjoin(bt.key_bindings, _kb.api_key == _k.api_key))
        .where(_k.api_key == api_key)
    )
    return conn.execute(q).first()
