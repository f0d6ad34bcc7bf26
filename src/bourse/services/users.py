"""Web users: sign-up, log-in (argon2id, optional TOTP, lockout) and server-side sessions.

``Users(repo, open_account, fernet=..., clock=...)`` is the service both the web pages
(``bourse.web``) and the authorization server's consent flow use to know who is logged in.
Its SQL is in ``bourse.store.repositories.users``.

* **Passwords** are argon2id hashes (``argon2-cffi`` defaults), re-hashed on log-in when the
  parameters change. Unknown e-mails cost the same as wrong passwords (a dummy verify), and
  both give the same message. After ``MAX_FAILED_LOGINS`` failures the account is locked for
  ``LOCKOUT_MS``.
* **TOTP** (pyotp, RFC 6238, 30 s steps, one step of clock drift): once enabled, log-in needs
  a current code, and a code (time step) is accepted at most once. The secret is encrypted with
  the server's Fernet key when one is configured.
* **Sessions** live in the ``sessions`` table; the cookie holds a 256-bit random id, the table
  its SHA-256. A session expires ``SESSION_TTL_MS`` after log-in or ``SESSION_IDLE_MS`` after its
  last use; log-out revokes it server-side. Each session has its own CSRF token, required by
  every form posted while logged in.
* **Accounts**: sign-up opens the user's exchange account through ``open_account(email)``
  (``engine_account_opener(engine)`` in a running platform).
"""

from __future__ import annotations

import contextlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import Fernet

from bourse.domain.accounts import AccountKind
from bourse.engine import Engine
from bourse.engine.clock import Clock, now_ms
from bourse.engine.commands import OpenAccount
from bourse.store.oauth_tables import digest
from bourse.store.repositories.users import UserRepository

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("not a real password, only here to spend the same time")

MIN_PASSWORD = 10
MAX_PASSWORD = 1024
MAX_FAILED_LOGINS = 10
LOCKOUT_MS = 15 * 60 * 1000
SESSION_TTL_MS = 12 * 3600 * 1000
SESSION_IDLE_MS = 2 * 3600 * 1000
SESSION_TOUCH_MS = 60 * 1000
TOTP_ISSUER = "Bourse"

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")

#: opens the exchange account of a new user (its argument is the e-mail); returns its id
OpenUserAccount = Callable[[str], int]


class UserError(ValueError):
    """Sign-up or log-in refused; the message is safe to show."""


@dataclass(frozen=True, slots=True)
class User:
    id: int
    email: str
    account_id: int
    totp_enabled: bool


@dataclass(frozen=True, slots=True)
class Session:
    user: User
    csrf: str
    id_hash: str


def engine_account_opener(engine: Engine) -> OpenUserAccount:
    """``open_account`` for a running engine: a USER account named after the e-mail."""

    def open_account(email: str) -> int:
        return int(engine.execute(OpenAccount(AccountKind.USER, name=email[:128])).id)

    return open_account


def _user(row: Any) -> User:
    return User(row.id, row.email, row.account_id, row.totp_secret is not None)


def normalize_email(email: str) -> str:
    email = (email or "").strip().lower()
    if len(email) > 254 or not _EMAIL.match(email):
        raise UserError("Enter a valid e-mail address.")
    return email


def check_password_policy(password: str) -> None:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise UserError(f"Choose a password of at least {MIN_PASSWORD} characters.")
    if len(password) > MAX_PASSWORD:
        raise UserError("That password is too long.")


def new_totp_secret() -> str:
    return pyotp.random_base32()


def totp_uri(secret: str, email: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=TOTP_ISSUER)


def _totp_step(secret: str, code: str, now: int) -> int | None:
    """The time step ``code`` is valid for (current step +/- 1), else ``None``."""
    code = (code or "").strip().replace(" ", "")
    if not code.isdigit() or len(code) != 6:
        return None
    totp = pyotp.TOTP(secret)
    step = (now // 1000) // totp.interval
    for s in (step, step - 1, step + 1):
        if secrets.compare_digest(totp.generate_otp(s), code):
            return s
    return None


class Users:
    """Web user accounts and their sessions."""

    def __init__(
        self,
        repo: UserRepository,
        open_account: OpenUserAccount | None = None,
        *,
        fernet: Fernet | None = None,
        clock: Clock = now_ms,
    ) -> None:
        self.repo = repo
        self.open_account = open_account
        self.fernet = fernet
        self.clock = clock

    # --- accounts --------------------------------------------------------------------------
    def create_user(self, email: str, password: str, *, now: int | None = None) -> User:
        """Create a web user and the exchange account it owns."""
        email = normalize_email(email)
        check_password_policy(password)
        now = self.clock() if now is None else now
        if self.repo.email_taken(email):
            raise UserError("An account with this e-mail already exists.")
        if self.open_account is None:
            raise UserError("Sign-up is not available on this server.")
        account_id = int(self.open_account(email))
        uid = self.repo.insert_user(
            dict(
                email=email,
                password_hash=_hasher.hash(password),
                account_id=account_id,
                totp_secret=None,
                totp_last_step=0,
                failed_logins=0,
                locked_until=0,
                created=now,
            )
        )
        if uid is None:
            raise UserError("An account with this e-mail already exists.")
        return User(uid, email, account_id, False)

    def get_user(self, user_id: int) -> User | None:
        row = self.repo.user(user_id)
        return _user(row) if row else None

    def authenticate(
        self, email: str, password: str, totp_code: str = "", *, now: int | None = None
    ) -> User:
        """The user for these credentials, or ``UserError`` (one message for every failure)."""
        now = self.clock() if now is None else now
        bad = UserError("Wrong e-mail, password or 2FA code.")
        try:
            email = normalize_email(email)
        except UserError:
            raise bad from None
        row = self.repo.user_by_email(email)
        if row is None:
            with contextlib.suppress(VerificationError, InvalidHashError):
                _hasher.verify(_DUMMY_HASH, password or "")
            raise bad
        if row.locked_until > now:
            raise UserError("Too many failed attempts; try again in a few minutes.")
        ok: bool
        try:
            ok = _hasher.verify(row.password_hash, password or "")
        except (VerificationError, InvalidHashError):
            ok = False
        step = None
        if ok and row.totp_secret is not None:
            step = _totp_step(self._decrypt(row.totp_secret), totp_code, now)
            ok = step is not None and step > row.totp_last_step
        if not ok:
            failed = row.failed_logins + 1
            values: dict[str, Any] = {"failed_logins": failed}
            if failed >= MAX_FAILED_LOGINS:
                values = {"failed_logins": 0, "locked_until": now + LOCKOUT_MS}
            self.repo.record_failed_login(row.id, values)
            raise bad
        values = {"failed_logins": 0}
        if step is not None:
            values["totp_last_step"] = step
        if _hasher.check_needs_rehash(row.password_hash):
            values["password_hash"] = _hasher.hash(password)
        # with a step, a code is good once, even under concurrent log-ins
        if not self.repo.record_login(row.id, values, step):
            raise bad
        return _user(row)

    # --- TOTP ------------------------------------------------------------------------------
    def _decrypt(self, stored: str) -> str:
        if stored.startswith("enc:"):
            if self.fernet is None:
                raise UserError("2FA is misconfigured on this server.")
            return self.fernet.decrypt(stored[4:].encode()).decode()
        return stored.removeprefix("raw:")

    def _encrypt(self, secret: str) -> str:
        if self.fernet is None:
            return "raw:" + secret
        return "enc:" + self.fernet.encrypt(secret.encode()).decode()

    def enable_totp(self, user_id: int, secret: str, code: str, *, now: int | None = None) -> None:
        """Turn 2FA on once the user proves their app has ``secret`` by sending a current code."""
        now = self.clock() if now is None else now
        if len(secret) < 16 or not re.fullmatch(r"[A-Z2-7]+=*", secret):
            raise UserError("Start again: that 2FA secret is not valid.")
        step = _totp_step(secret, code, now)
        if step is None:
            raise UserError("That code does not match; check your authenticator's clock.")
        self.repo.set_totp(user_id, self._encrypt(secret), step)

    def disable_totp(self, user_id: int, code: str, *, now: int | None = None) -> None:
        now = self.clock() if now is None else now
        row = self.repo.user(user_id)
        if row is None or row.totp_secret is None:
            return
        step = _totp_step(self._decrypt(row.totp_secret), code, now)
        if step is None or step <= row.totp_last_step:
            raise UserError("That code does not match.")
        self.repo.set_totp(user_id, None, 0)

    # --- sessions --------------------------------------------------------------------------
    def create_session(
        self, user_id: int, user_agent: str = "", *, now: int | None = None
    ) -> tuple[str, str]:
        """Start a session; returns ``(cookie value, csrf token)``."""
        now = self.clock() if now is None else now
        sid = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        self.repo.insert_session(
            dict(
                id_hash=digest(sid),
                user_id=user_id,
                csrf=csrf,
                created=now,
                expires=now + SESSION_TTL_MS,
                last_seen=now,
                revoked=None,
                user_agent=(user_agent or "")[:256],
            )
        )
        return sid, csrf

    def load_session(self, sid: str | None, *, now: int | None = None) -> Session | None:
        """The live session for a cookie value, else ``None``."""
        if not sid or len(sid) > 128:
            return None
        now = self.clock() if now is None else now
        h = digest(sid)
        row = self.repo.session_with_user(h)
        if row is None or row.revoked is not None:
            return None
        if now >= row.expires or now >= row.last_seen + SESSION_IDLE_MS:
            return None
        if now - row.last_seen > SESSION_TOUCH_MS:
            self.repo.touch_session(h, now)
        user = User(row.user_id, row.email, row.account_id, row.totp_secret is not None)
        return Session(user, row.csrf, h)

    def revoke_session(self, sid: str | None, *, now: int | None = None) -> None:
        if not sid:
            return
        self.repo.revoke_session(digest(sid), self.clock() if now is None else now)

    def revoke_all_sessions(self, user_id: int, *, now: int | None = None) -> None:
        self.repo.revoke_user_sessions(user_id, self.clock() if now is None else now)
