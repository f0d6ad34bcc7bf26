"""The two grants the server offers, on authlib's RFC 6749 grant classes.

**Authorization code** (RFC 6749 §4.1) with **PKCE S256 required for every client**
(RFC 7636, RFC 9700 §2.1.1): an authorization request without ``code_challenge`` and
``code_challenge_method=S256`` is refused, and so is a token request without the matching
``code_verifier``. Codes:

* are 256-bit random values stored as SHA-256 digests, and live ``CODE_TTL`` (60 s);
* are bound to the client, the exact redirect URI, the PKCE challenge, the user and the scope;
* are single-use: the token request consumes the code with a conditional UPDATE in the same
  transaction that stores the tokens, so two concurrent exchanges cannot both succeed;
* when replayed, revoke every token issued from them (RFC 6749 §4.1.2): the code carries the
  ``family_id`` its tokens get.

**Refresh token** (RFC 6749 §6) with rotation on every use and family revocation on reuse
(``bourse.oauth.tokens``). A refresh may narrow the scope, never widen it.

A frozen account gets no token: its code is not exchanged and its refresh token does not
refresh (``invalid_grant``, decided in the transaction that would store the tokens), until it
is unfrozen; the tokens it holds keep reading until they expire.

There is no implicit grant, no password grant and no client-credentials grant: only these two
are registered, anything else is ``unsupported_grant_type`` / ``unsupported_response_type``.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from authlib.oauth2.rfc6749 import AuthorizationCodeMixin, grants
from authlib.oauth2.rfc6749.errors import InvalidGrantError, InvalidRequestError
from authlib.oauth2.rfc7636 import CodeChallenge

from bourse.domain.errors import AccountFrozen
from bourse.oauth import tokens as tk

CODE_TTL = 60  # seconds
CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]


@dataclass(frozen=True, slots=True)
class Owner:
    """The resource owner a code or token acts for: a web user and their exchange account."""

    user_id: int
    account_id: int

    def get_user_id(self) -> int:
        return self.user_id


@dataclass(slots=True)
class AuthorizationCode(AuthorizationCodeMixin):
    code_hash: str
    client_id: str
    user_id: int
    account_id: int
    redirect_uri: str
    scope: str
    code_challenge: str
    code_challenge_method: str
    family_id: str
    created: int
    expires: int
    used: int | None

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope


class RequiredS256(CodeChallenge):
    """PKCE for every client, S256 only (``plain`` gives no protection if the code leaks)."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def __init__(self) -> None:
        super().__init__(required=True)

    def validate_code_challenge(self, grant: Any, redirect_uri: str | None) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError(
                "PKCE is required: send 'code_challenge' with 'code_challenge_method=S256'."
            )
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("'code_challenge_method' must be 'S256'.")
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant: Any, result: Any) -> None:
        if not grant.request.form.get("code_verifier"):
            raise InvalidRequestError("Missing 'code_verifier' (PKCE is required).")
        super().validate_code_verifier(grant, result)


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = CLIENT_AUTH_METHODS
    AUTHORIZATION_CODE_LENGTH = 43  # ~256 bits from authlib's alphabet

    # --- authorization endpoint --------------------------------------------------------------
    def save_authorization_code(self, code: str, request: Any) -> None:
        now = self.server.clock()
        owner: Owner = request.user
        data = request.payload.data
        self.server.repo.insert_code(
            dict(
                code_hash=tk.digest(code),
                client_id=request.client.get_client_id(),
                user_id=owner.user_id,
                account_id=owner.account_id,
                redirect_uri=request.payload.redirect_uri,
                scope=request.scope,
                code_challenge=data["code_challenge"],
                code_challenge_method=data["code_challenge_method"],
                family_id=tk.new_family_id(),
                created=now,
                expires=now + CODE_TTL * 1000,
                used=None,
            )
        )

    # --- token endpoint -----------------------------------------------------------------------
    def query_authorization_code(self, code: str, client: Any) -> AuthorizationCode | None:
        if not code or len(code) > 256:
            return None
        now = self.server.clock()
        row = self.server.repo.code(tk.digest(code))
        if row is None:
            return None
        if not secrets.compare_digest(row.client_id, client.get_client_id()):
            return None
        if row.used is not None:
            # RFC 6749 §4.1.2: a replayed code revokes what it was exchanged for
            tk.revoke_family(self.server.repo, row.family_id, now)
            raise InvalidGrantError(
                "The authorization code was already used; the tokens issued from it are revoked."
            )
        if now >= row.expires:
            raise InvalidGrantError("The authorization code has expired.")
        return AuthorizationCode(**row._mapping)

    def authenticate_user(self, authorization_code: AuthorizationCode) -> Owner:
        return Owner(authorization_code.user_id, authorization_code.account_id)

    def create_token_response(self) -> tuple[int, Any, Any]:
        code: AuthorizationCode = self.request.authorization_code
        owner = self.authenticate_user(code)
        self.request.user = owner
        now = self.server.clock()
        token = self.generate_token(user=owner, scope=code.scope, include_refresh_token=True)
        family_expires = now + tk.FAMILY_MAX_AGE * 1000
        row = tk.token_row(
            token,
            family_id=code.family_id,
            parent_id=None,
            client_id=code.client_id,
            user_id=code.user_id,
            account_id=code.account_id,
            scope=code.scope,
            now=now,
            family_expires=family_expires,
        )
        # consumes the code (conditional UPDATE) and stores the tokens in one transaction
        if not _unless_frozen(self.server.repo.exchange_code, code.code_hash, now, row):
            tk.revoke_family(self.server.repo, code.family_id, now)
            raise InvalidGrantError(
                "The authorization code was already used; the tokens issued from it are revoked."
            )
        return 200, token, self.TOKEN_RESPONSE_HEADER

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        # codes are consumed (never deleted) in create_token_response, so a replay is detected
        pass


def _unless_frozen(store: Callable[..., bool], *args: Any) -> bool:
    """``store(*args)`` (tokens stored in one transaction), refused with ``invalid_grant``
    when the account is frozen: it gets no new token, and a refresh token is not consumed (it
    refreshes again once the account is unfrozen)."""
    try:
        return store(*args)
    except AccountFrozen:
        raise InvalidGrantError("The account is frozen.") from None


class RefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = CLIENT_AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> tk.TokenRecord | None:
        now = self.server.clock()
        rec = tk.find(self.server.repo, refresh_token, "refresh_token", now)
        if rec is None or rec.kind != "refresh_token":
            return None
        client = self.request.client
        if client is None or not rec.check_client(client):
            return None
        if rec.consumed is not None:
            # RFC 9700 §4.14.2: a used refresh token came back; end the whole family
            tk.revoke_family(self.server.repo, rec.family_id, now)
            raise InvalidGrantError(
                "The refresh token was already used; every token of this grant is revoked."
            )
        if rec.revoked is not None:
            raise InvalidGrantError("The refresh token is revoked.")
        if now >= rec.refresh_expires or now >= rec.family_expires:
            raise InvalidGrantError("The refresh token has expired.")
        return rec

    def authenticate_user(self, refresh_token: tk.TokenRecord) -> Owner:
        return Owner(refresh_token.user_id, refresh_token.account_id)

    def create_token_response(self) -> tuple[int, Any, Any]:
        old: tk.TokenRecord = self.request.refresh_token
        owner = self.authenticate_user(old)
        self.request.user = owner
        scope = self.request.payload.scope or old.scope
        scope = self.request.client.get_allowed_scope(scope)
        token = self.generate_token(user=owner, scope=scope, include_refresh_token=True)
        now = self.server.clock()
        if not _unless_frozen(tk.rotate, self.server.repo, old, token, scope, now):
            tk.revoke_family(self.server.repo, old.family_id, now)
            raise InvalidGrantError(
                "The refresh token was already used; every token of this grant is revoked."
            )
        return 200, token, self.TOKEN_RESPONSE_HEADER

    def revoke_old_credential(self, refresh_token: tk.TokenRecord) -> None:
        # consumed atomically in create_token_response (tokens.rotate)
        pass
