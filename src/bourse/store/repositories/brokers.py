"""The SQL of the broker registry, key bindings and attribution audit
(``bourse.services.brokers``): the ``brokers``, ``broker_rate_history``, ``key_bindings`` and
``order_attributions`` tables. Rebates and settlements are in ``repositories.rebates``.

Methods that take a ``conn`` run inside a transaction the service opens with ``begin()``, so a
unit of several statements stays one transaction; the others open their own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from bourse.domain.accounts import FIRST_USER_ACCOUNT_ID
from bourse.domain.brokers import BrokerExists
from bourse.domain.errors import AccountNotFound, InvalidParameter
from bourse.store import broker_tables as bt
from bourse.store import tables as t
from bourse.store.repositories.apikeys import locked_rows
from bourse.store.repositories.base import Repository
from bourse.store.repositories.dialect import insert_ignore
from bourse.store.repositories.freeze import refuse_frozen
from bourse.store.transaction import write

_b = bt.brokers.c
_h = bt.broker_rate_history.c
_kb = bt.key_bindings.c
_k = t.api_keys.c


class BrokerRepository(Repository):
    """See ``Repository``: ``conn``-taking methods run inside ``begin()``."""

    # --- brokers ---------------------------------------------------------------------------------
    def get(self, broker_id: int) -> Any | None:
        with self.db.connect() as conn:
            return conn.execute(select(bt.brokers).where(_b.id == broker_id)).first()

    def by_account(self, account_id: int) -> Any | None:
        with self.db.connect() as conn:
            return conn.execute(select(bt.brokers).where(_b.account_id == account_id)).first()

    def all(self, status: str | None = None) -> list[Any]:
        q = select(bt.brokers).order_by(_b.id)
        if status is not None:
            q = q.where(_b.status == status)
        with self.db.connect() as conn:
            return list(conn.execute(q).all())

    @staticmethod
    def check_account(conn: Connection, account_id: int, what: str) -> None:
        """Refuse a system account, and one that does not exist (in the caller's transaction)."""
        if account_id < FIRST_USER_ACCOUNT_ID:
            raise InvalidParameter(f"{what} cannot be a system account")
        row = conn.execute(select(t.accounts.c.id).where(t.accounts.c.id == account_id)).first()
        if row is None:
            raise AccountNotFound(f"{what} {account_id} does not exist")

    def insert_application(self, values: dict[str, Any]) -> None:
        """Insert a broker row after checking, in the same transaction, that its accounts exist
        and that neither its account nor its code has applied (``BrokerExists``; a concurrent
        application that wins the unique constraint is ``BrokerExists`` too). A frozen account
        does not apply (``AccountFrozen``, ``freeze.refuse_frozen``)."""
        account_id, rebate_to, code = (
            values["account_id"],
            values["rebate_account_id"],
            values["code"],
        )
        try:
            with write(self.db) as conn:
                self.check_account(conn, account_id, "account")
                refuse_frozen(conn, account_id)
                if rebate_to != account_id:
                    self.check_account(conn, rebate_to, "rebate account")
                if conn.execute(select(_b.id).where(_b.account_id == account_id)).first():
                    raise BrokerExists(f"account {account_id} has already applied as a broker")
                if code and conn.execute(select(_b.id).where(_b.code == code)).first():
                    raise BrokerExists(f"broker code {code!r} is taken")
                conn.execute(insert(bt.brokers).values(**values))
        except IntegrityError:
            raise BrokerExists("this account or code has already applied as a broker") from None

    @staticmethod
    def move_status(
        conn: Connection, broker_id: int, before: str, after: str, reason: str, now: int
    ) -> bool:
        """Set the status if it is still ``before``; False if it changed concurrently."""
        n = conn.execute(
            update(bt.brokers)
            .where(_b.id == broker_id, _b.status == before)
            .values(status=after, reason=reason, updated=now)
        ).rowcount
        return bool(n == 1)

    def set_oauth_scopes(self, broker_id: int, scopes: str, now: int) -> None:
        with write(self.db) as conn:
            conn.execute(
                update(bt.brokers)
                .where(bt.brokers.c.id == broker_id)
                .values(oauth_scopes=scopes, updated=now)
            )

    def set_rebate_account(self, broker_id: int, account_id: int, now: int) -> None:
        with write(self.db) as conn:
            self.check_account(conn, account_id, "rebate account")
            conn.execute(
                update(bt.brokers)
                .where(_b.id == broker_id)
                .values(rebate_account_id=account_id, updated=now)
            )

    # --- rates -----------------------------------------------------------------------------------
    def rate_rows(self, broker_id: int, conn: Connection | None = None) -> list[Any]:
        """The broker's rate history (``rate_ppm``, ``effective_from``, ``set_at``, ``note``),
        in force order."""
        q = (
            select(bt.broker_rate_history)
            .where(_h.broker_id == broker_id)
            .order_by(_h.effective_from, _h.id)
        )
        if conn is not None:
            return list(conn.execute(q).all())
        with self.db.connect() as own:
            return list(own.execute(q).all())

    @staticmethod
    def insert_rate(
        conn: Connection, broker_id: int, rate: int, eff: int, now: int, note: str
    ) -> None:
        conn.execute(
            insert(bt.broker_rate_history).values(
                broker_id=broker_id, rate_ppm=rate, effective_from=eff, set_at=now, note=note
            )
        )

    # --- key bindings ----------------------------------------------------------------------------
    def binding(self, api_key: str) -> Any | None:
        with self.db.connect() as conn:
            return conn.execute(select(bt.key_bindings).where(_kb.api_key == api_key)).first()

    def key_row(self, api_key: str) -> Any | None:
        """The key's ``account_id``, ``revoked`` and ``permissions`` (read, never written here)."""
        q = select(_k.account_id, _k.revoked, _k.permissions).where(_k.api_key == api_key)
        with self.db.connect() as conn:
            return conn.execute(q).first()

    def insert_binding(
        self,
        values: dict[str, Any],
        check: Callable[[Any | None, Any | None], None],
        *,
        actor: str | None = None,
    ) -> bool:
        """Insert a binding row after ``check(key row, actor row)`` (it raises to insert
        nothing) in the same transaction; False when the key was ever bound (the
        UNIQUE(api_key) constraint).

        Both rows are read under their row locks (``apikeys.locked_rows``; the actor's is None
        without ``actor``): concurrent binds of one key run one at a time, and a revoke,
        renewal or binding change of the key or of the signing key either committed before
        the check or waits for this binding. The rows are those of ``apikeys._bound_row``.
        A frozen account's key is not bound (``AccountFrozen``, ``freeze.refuse_frozen``)."""
        try:
            with write(self.db) as conn:
                key, actor_row = locked_rows(conn, values["api_key"], actor)
                check(key, actor_row)
                refuse_frozen(conn, int(values["account_id"]))
                conn.execute(insert(bt.key_bindings).values(**values))
        except IntegrityError:
            return False
        return True

    def close_binding(
        self,
        api_key: str,
        now: int,
        by: str,
        check: Callable[[Any | None, Any | None], None] | None = None,
        *,
        actor: str | None = None,
    ) -> bool:
        """Close the key's open binding; False if it had none. Under the key's row lock, as
        ``insert_binding``; ``check(key row, actor row)`` runs first there and raises to close
        nothing."""
        with write(self.db) as conn:
            rows = locked_rows(conn, api_key, actor)
            if check is not None:
                check(*rows)
            n = conn.execute(
                update(bt.key_bindings)
                .where(_kb.api_key == api_key, _kb.unbound_at.is_(None))
                .values(unbound_at=now, unbound_by=by)
            ).rowcount
        return bool(n == 1)

    def bound_keys(self, broker_id: int, include_unbound: bool = False) -> list[Any]:
        """The broker's bindings joined with their keys' public columns, oldest first."""
        q = (
            select(
                _kb.api_key,
                _kb.account_id,
                _kb.bound_at,
                _kb.unbound_at,
                _kb.unbound_by,
                _k.permissions,
                _k.ip_whitelist,
                _k.symbols,
                _k.expires,
                _k.revoked,
                _k.label,
            )
            .select_from(bt.key_bindings.outerjoin(t.api_keys, _k.api_key == _kb.api_key))
            .where(_kb.broker_id == broker_id)
            .order_by(_kb.bound_at, _kb.id)
        )
        if not include_unbound:
            q = q.where(_kb.unbound_at.is_(None))
        with self.db.connect() as conn:
            return list(conn.execute(q).all())

    # --- attribution audit -----------------------------------------------------------------------
    def record_attribution(self, values: dict[str, Any]) -> None:
        """Keep one order's refused attribution (idempotent per order)."""
        with write(self.db) as conn:
            conn.execute(insert_ignore(conn, bt.order_attributions).values(**values))
