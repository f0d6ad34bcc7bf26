"""What each user has let each app do, and taking it back ("Authorized apps").

A consent is recorded when the user approves the consent page. Revoking an app revokes the
consent, every token the app holds for the user (all families) and any code not yet exchanged;
bearer checks read the database, so the app's next call is refused.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from bourse.oauth import scopes as sc
from bourse.oauth import tokens as tk
from bourse.oauth.clients import OAuthClient
from bourse.store.oauth_tables import oauth_clients, oauth_codes, oauth_consents, oauth_tokens


@dataclass(frozen=True, slots=True)
class AuthorizedApp:
    client: OAuthClient
    scope: str
    granted: int  # ms
    last_used: int | None  # ms, last bearer use of any of its tokens

    @property
    def scopes(self) -> list[sc.Scope]:
        return sc.describe(self.scope)


def grant(db: Engine, user_id: int, client_id: str, scope: str, now: int) -> None:
    """Record (or widen/renew) the user's consent for ``client_id``."""
    for _ in range(2):  # a concurrent insert makes the second pass an update
        with db.begin() as conn:
            n = conn.execute(
                update(oauth_consents)
                .where(
                    oauth_consents.c.user_id == user_id,
                    oauth_consents.c.client_id == client_id,
                )
                .values(scope=scope, updated=now, revoked=None)
            ).rowcount
            if n:
                return
        try:
            with db.begin() as conn:
                conn.execute(
                    insert(oauth_consents).values(
                        user_id=user_id,
                        client_id=client_id,
                        scope=scope,
                        created=now,
                        updated=now,
                        revoked=None,
                    )
                )
            return
        except IntegrityError:
            continue


def authorized_apps(db: Engine, user_id: int) -> list[AuthorizedApp]:
    """The apps the user has authorised and not revoked, most recent first."""
    last_used = (
        select(func.max(oauth_tokens.c.last_used))
        .where(
            oauth_tokens.c.user_id == oauth_consents.c.user_id,
            oauth_tokens.c.client_id == oauth_consents.c.client_id,
        )
        .scalar_subquery()
    )
    q = (
        select(oauth_consents, oauth_clients, last_used.label("last_used"))
        .select_from(
            oauth_consents.join(
                oauth_clients, oauth_clients.c.client_id == oauth_consents.c.client_id
            )
        )
        .where(oauth_consents.c.user_id == user_id, oauth_consents.c.revoked.is_(None))
        .order_by(oauth_consents.c.updated.desc())
    )
    with db.connect() as conn:
        rows = list(conn.execute(q))
    return [AuthorizedApp(OAuthClient.from_row(r), r.scope, r.updated, r.last_used) for r in rows]


def revoke(db: Engine, user_id: int, client_id: str, now: int) -> int:
    """Revoke the app for the user; returns how many token rows were revoked."""
    with db.begin() as conn:
        conn.execute(
            update(oauth_consents)
            .where(
                oauth_consents.c.user_id == user_id,
                oauth_consents.c.client_id == client_id,
                oauth_consents.c.revoked.is_(None),
            )
            .values(revoked=now)
        )
        conn.execute(
            update(oauth_codes)
            .where(
                oauth_codes.c.user_id == user_id,
                oauth_codes.c.client_id == client_id,
                oauth_codes.c.used.is_(None),
            )
            .values(expires=now)
        )
        return tk.revoke_user_client(conn, user_id, client_id, now)
