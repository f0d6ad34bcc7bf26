"""Tables of the web accounts and the OAuth authorization server, on ``bourse.store.tables.metadata``.

Migration ``0003_oauth`` creates these (``0011_login_failures`` adds ``login_failures`` and
drops the per-user counter it replaces). Times are BIGINT milliseconds since the epoch.

Nothing secret is stored in the clear:

* passwords: argon2id hashes; OAuth client secrets: ``sha256$`` digests (older rows argon2id);
* session ids, authorization codes, access and refresh tokens: SHA-256 hex digests (``digest``;
  they are 256-bit random values, so a fast hash is enough and lets every request look them up
  by index);
* TOTP secrets: encrypted with the server's Fernet key when the platform has one.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import BigInteger, Boolean, Column, Index, Integer, String, Table, Text

from bourse.store.tables import Id, metadata


def digest(value: str) -> str:
    """The stored form of a session id, authorization code or token: its SHA-256 hex digest."""
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


users = Table(
    "users",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("email", String(254), nullable=False, unique=True),  # lower-cased
    Column("password_hash", Text, nullable=False),  # argon2id
    Column("account_id", BigInteger, nullable=False, unique=True),  # the exchange account
    Column("totp_secret", Text, nullable=True),  # NULL = 2FA off
    Column("totp_last_step", BigInteger, nullable=False, default=0),  # refuses TOTP replays
    Column("created", BigInteger, nullable=False),
)

#: failed log-ins per (e-mail, client IP), whether the e-mail belongs to a user or not
#: (migration 0011); written only by atomic upserts, so concurrent failures are all counted
login_failures = Table(
    "login_failures",
    metadata,
    Column("email", String(254), primary_key=True),  # normalized, as typed
    Column("ip", String(64), primary_key=True),
    Column("failures", Integer, nullable=False),  # in a row, since the last success
    Column("last_failed", BigInteger, nullable=False),
    Column("locked_until", BigInteger, nullable=False),  # ms; 0 = not locked
    Index("ix_login_failures_last", "last_failed"),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),  # sha256 of the cookie value
    Column("user_id", BigInteger, nullable=False),
    Column("csrf", String(64), nullable=False),  # per-session CSRF token for every form
    Column("created", BigInteger, nullable=False),
    Column("expires", BigInteger, nullable=False),
    Column("last_seen", BigInteger, nullable=False),
    Column("revoked", BigInteger, nullable=True),  # ms; NULL = live
    Column("user_agent", String(256), nullable=False, default=""),
    Index("ix_sessions_user", "user_id"),
)

oauth_clients = Table(
    "oauth_clients",
    metadata,
    Column("client_id", String(64), primary_key=True),
    Column("secret_hash", Text, nullable=False),  # argon2id; the secret is shown once
    Column("broker_id", BigInteger, nullable=True),  # the approved OAuth broker it belongs to
    Column("name", String(128), nullable=False),
    Column("logo_url", String(512), nullable=False, default=""),
    Column("redirect_uris", Text, nullable=False),  # newline-separated, compared exactly
    Column("scopes", String(256), nullable=False),  # space-separated scopes it may ask for
    Column("allow_transfer", Boolean, nullable=False, default=False),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("created", BigInteger, nullable=False),
    # after a rotation: the previous secret's digest, valid until ``previous_secret_expires``
    Column("previous_secret_hash", Text, nullable=True),
    Column("previous_secret_expires", BigInteger, nullable=True),
    Column("secret_rotated", BigInteger, nullable=True),  # ms of the last rotation
)

oauth_codes = Table(
    "oauth_codes",
    metadata,
    Column("code_hash", String(64), primary_key=True),
    Column("client_id", String(64), nullable=False),
    Column("user_id", BigInteger, nullable=False),
    Column("account_id", BigInteger, nullable=False),
    Column("redirect_uri", Text, nullable=False),
    Column("scope", String(256), nullable=False),
    Column("code_challenge", String(128), nullable=False),
    Column("code_challenge_method", String(8), nullable=False),
    #: the token family the code starts; a replayed code revokes it
    Column("family_id", String(64), nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("expires", BigInteger, nullable=False),
    Column("used", BigInteger, nullable=True),  # ms; set once, atomically
)

#: One row per token response: its access token and (except in revoked families) a refresh
#: token. A refresh consumes its row (``consumed``, conditional UPDATE) and inserts a child row
#: with the same ``family_id`` and ``parent_id`` pointing back.
oauth_tokens = Table(
    "oauth_tokens",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("family_id", String(64), nullable=False),
    Column("parent_id", BigInteger, nullable=True),
    Column("client_id", String(64), nullable=False),
    Column("user_id", BigInteger, nullable=False),
    Column("account_id", BigInteger, nullable=False),
    Column("scope", String(256), nullable=False),
    Column("access_hash", String(64), nullable=False, unique=True),
    Column("refresh_hash", String(64), nullable=True, unique=True),
    Column("created", BigInteger, nullable=False),
    Column("access_expires", BigInteger, nullable=False),
    Column("refresh_expires", BigInteger, nullable=False),
    Column("family_expires", BigInteger, nullable=False),  # absolute end of the family
    Column("consumed", BigInteger, nullable=True),  # refresh token used (rotated)
    Column("revoked", BigInteger, nullable=True),
    Column("last_used", BigInteger, nullable=True),
    Index("ix_oauth_tokens_family", "family_id"),
    Index("ix_oauth_tokens_user_client", "user_id", "client_id"),
)

oauth_consents = Table(
    "oauth_consents",
    metadata,
    Column("user_id", BigInteger, primary_key=True),
    Column("client_id", String(64), primary_key=True),
    Column("scope", String(256), nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("updated", BigInteger, nullable=False),
    Column("revoked", BigInteger, nullable=True),
)
