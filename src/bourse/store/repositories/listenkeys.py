"""The ``listen_keys`` table: listenKeys of the user-data streams (the SQL only; the rules are
``bourse.services.listenkeys``).

A key is *live* while it has not expired and the credential that created it (its ``Owner``)
still holds: the API key exists, is not revoked and has not expired; or the OAuth grant (token
family) still has a token that is not revoked and can still be used or refreshed, of a client
that is not disabled, whose broker (if any) is approved (what ``bourse.oauth.bearer`` asks of a
token); or, for the web console's key, the session (``sessions``) it was made in is live: not
revoked (log-out, a password change ending the others), not expired, not idle too long (what
``Users.load_session`` asks). Every read that opens a stream or lists keys asks this in the
same query, so a revocation made by any process is seen by the next one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import (
    ColumnElement,
    Engine,
    and_,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)

from bourse.domain.brokers import BrokerStatus
from bourse.store.broker_tables import brokers as br
from bourse.store.oauth_tables import oauth_clients as cl
from bourse.store.oauth_tables import oauth_tokens as tok
from bourse.store.oauth_tables import sessions as se
from bourse.store.repositories.freeze import refuse_frozen
from bourse.store.stream_tables import listen_keys as t
from bourse.store.tables import api_keys as ak
from bourse.store.transaction import write

#: keys asked about in one statement by ``live_accounts`` (bounds the statement's size)
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class Owner:
    """The credential that created a listenKey: an API key, an OAuth grant (``oauth_client``
    and its token family ``oauth_family``), or neither: the account itself, in the web
    console's session ``web_session`` (its id hash; None for keys made before sessions were
    recorded)."""

    api_key: str | None = None
    oauth_client: str | None = None
    oauth_family: str | None = None
    web_session: str | None = None

    @property
    def oauth(self) -> bool:
        return self.oauth_family is not None


def _live(now: int, session_idle_ms: int) -> ColumnElement[bool]:
    """The row's key is live at ``now`` (module docstring); a session idle for
    ``session_idle_ms`` has ended."""
    by_key = exists().where(
        ak.c.api_key == t.c.api_key,
        ak.c.account_id == t.c.account_id,
        ak.c.revoked.is_(False),
        or_(ak.c.expires.is_(None), ak.c.expires > now),
    )
    usable = or_(
        tok.c.access_expires > now,
        and_(
            tok.c.refresh_hash.isnot(None),
            tok.c.consumed.is_(None),
            tok.c.refresh_expires > now,
            tok.c.family_expires > now,
        ),
    )
    by_grant = exists(
        select(tok.c.id)
        .select_from(
            tok.join(cl, cl.c.client_id == tok.c.client_id).outerjoin(br, br.c.id == cl.c.broker_id)
        )
        .where(
            tok.c.family_id == t.c.oauth_family,
            tok.c.client_id == t.c.oauth_client,
            tok.c.account_id == t.c.account_id,
            tok.c.revoked.is_(None),
            usable,
            cl.c.disabled.is_(False),
            or_(cl.c.broker_id.is_(None), br.c.status == BrokerStatus.APPROVED.value),
        )
    )
    in_session = exists().where(
        se.c.id_hash == t.c.web_session,
        se.c.revoked.is_(None),
        se.c.expires > now,
        se.c.last_seen > now - session_idle_ms,
    )
    own = and_(
        t.c.api_key.is_(None),
        t.c.oauth_family.is_(None),
        or_(t.c.web_session.is_(None), in_session),
    )
    return and_(t.c.expires > now, or_(own, by_key, by_grant))


def _seen_by(owner: Owner) -> ColumnElement[bool]:
    """The keys ``owner`` lists, extends and closes: an OAuth grant its own, a web session its
    own; an API key or the account every key that no OAuth grant created."""
    if owner.web_session is not None:
        return t.c.web_session == owner.web_session
    if owner.oauth:
        return and_(t.c.oauth_family == owner.oauth_family, t.c.oauth_client == owner.oauth_client)
    return t.c.oauth_family.is_(None)


def _counted_with(owner: Owner) -> ColumnElement[bool]:
    """The keys ``owner``'s new key is counted with: an OAuth client's (all its grants of the
    account), or the account's own and its API keys'."""
    if owner.oauth:
        return t.c.oauth_client == owner.oauth_client
    return t.c.oauth_family.is_(None)


class ListenKeyRepository:
    def __init__(self, db: Engine, session_idle_ms: int) -> None:
        self.db = db
        #: a web session unused this long has ended (``services.users.SESSION_IDLE_MS``)
        self.session_idle_ms = session_idle_ms

    def _live(self, now: int) -> ColumnElement[bool]:
        return _live(now, self.session_idle_ms)

    def add_within_limit(
        self, key: str, account: int, owner: Owner, created: int, expires: int, limit: int
    ) -> bool:
        """Insert ``key`` unless ``owner``'s pool on ``account`` already holds ``limit`` live
        keys (counted in the insert's transaction, under the account's lock: two concurrent
        creations cannot both take the last place); returns whether it was inserted. A frozen
        account gets none (``AccountFrozen``, decided in this transaction)."""
        with write(self.db, lock=("listen_keys", account)) as conn:
            refuse_frozen(conn, account)
            count = conn.execute(
                select(func.count())
                .select_from(t)
                .where(t.c.account_id == account, _counted_with(owner), self._live(created))
            ).scalar_one()
            if int(count) >= limit:
                return False
            conn.execute(
                insert(t).values(
                    listen_key=key,
                    account_id=account,
                    created=created,
                    expires=expires,
                    api_key=owner.api_key,
                    oauth_client=owner.oauth_client,
                    oauth_family=owner.oauth_family,
                    web_session=owner.web_session,
                )
            )
        return True

    def valid_keys(self, account: int, owner: Owner, now: int) -> list[str]:
        """The account's live keys ``owner`` sees, oldest first."""
        with self.db.connect() as conn:
            rows = conn.execute(
                select(t.c.listen_key)
                .where(t.c.account_id == account, _seen_by(owner), self._live(now))
                .order_by(t.c.created, t.c.listen_key)
            )
            return [r[0] for r in rows]

    def extend(self, account: int, key: str, owner: Owner, now: int, expires: int) -> bool:
        """Move a live key's expiry to ``expires``; False if ``owner`` sees no such key. A
        frozen account's keys live no longer (``AccountFrozen``, in this transaction)."""
        with write(self.db) as conn:
            refuse_frozen(conn, account)
            res = conn.execute(
                update(t)
                .where(
                    t.c.listen_key == key,
                    t.c.account_id == account,
                    _seen_by(owner),
                    self._live(now),
                )
                .values(expires=expires)
            )
            return bool(res.rowcount)

    def remove(self, account: int, key: str, owner: Owner) -> bool:
        """Delete a key ``owner`` sees (live or not); False if there is none."""
        with write(self.db) as conn:
            res = conn.execute(
                delete(t).where(t.c.listen_key == key, t.c.account_id == account, _seen_by(owner))
            )
            return bool(res.rowcount)

    def account_of(self, key: str, now: int) -> int | None:
        """The account a key live at ``now`` belongs to."""
        return self.live_accounts([key], now).get(key)

    def live_accounts(self, keys: Iterable[str], now: int) -> dict[str, int]:
        """key -> account, for those of ``keys`` live at ``now``."""
        wanted = list(dict.fromkeys(keys))
        out: dict[str, int] = {}
        with self.db.connect() as conn:
            for i in range(0, len(wanted), _CHUNK):
                rows = conn.execute(
                    select(t.c.listen_key, t.c.account_id).where(
                        t.c.listen_key.in_(wanted[i : i + _CHUNK]), self._live(now)
                    )
                )
                out.update((r[0], int(r[1])) for r in rows)
        return out

    def purge_expired(self, now: int) -> int:
        with write(self.db) as conn:
            return int(conn.execute(delete(t).where(t.c.expires <= now)).rowcount)
