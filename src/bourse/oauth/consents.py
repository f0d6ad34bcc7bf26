"""What each user has let each app do, and taking it back ("Authorized apps").

A consent is recorded when the user approves the consent page. Revoking an app revokes the
consent, every token the app holds for the user (all families) and any code not yet exchanged,
in one transaction (``bourse.store.repositories.oauth``); bearer checks read the database, so
the app's next call is refused.
"""

from __future__ import annotations

from dataclasses import dataclass

from bourse.oauth import scopes as sc
from bourse.oauth.clients import OAuthClient
from bourse.store.repositories.oauth import OAuthRepository


@dataclass(frozen=True, slots=True)
class AuthorizedApp:
    client: OAuthClient
    scope: str
    granted: int  # ms
    last_used: int | None  # ms, last bearer use of any of its tokens

    @property
    def scopes(self) -> list[sc.Scope]:
        return sc.describe(self.scope)


def grant(repo: OAuthRepository, user_id: int, client_id: str, scope: str, now: int) -> None:
    """Record (or widen/renew) the user's consent for ``client_id``."""
    repo.upsert_consent(user_id, client_id, scope, now)


def authorized_apps(repo: OAuthRepository, user_id: int) -> list[AuthorizedApp]:
    """The apps the user has authorised and not revoked, most recent first."""
    return [
        AuthorizedApp(OAuthClient.from_row(r), r.scope, r.updated, r.last_used)
        for r in repo.live_consents(user_id)
    ]


def revoke(repo: OAuthRepository, user_id: int, client_id: str, now: int) -> int:
    """Revoke the app for the user; returns how many token rows were revoked."""
    return repo.revoke_consent(user_id, client_id, now)
