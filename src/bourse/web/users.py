"""Web users: sign-up, log-in (argon2id, optional TOTP), server-side sessions and CSRF tokens.

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
"""

from __future__ import annotations

import contextlib
import re
import secrets
import time
from dataclasses import dataclass

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from bourse.oauth import tokens as tk
from bourse.store.oauth_tables import sessions, users

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


def _now() -> int:
    return time.time_ns() // 1_000_000


def _user(row) -> User:  # type: ignore[no-untyped-def]
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


# --- accounts ------------------------------------------------------------------------------
def create_user(db: Engine, email: str, password: str, open_account, *, now: int | None = None):  # type: ignore[no-untyped-def]
    """Create a web user and the exchange account it owns; returns the ``User``.

    ``open_account(email) -> account_id`` opens the exchange account (through the engine).
    """
    email = normalize_email(email)
    check_password_policy(password)
    now = _now() if now is None else now
    with db.connect() as conn:
        if conn.execute(select(users.c.id).where(users.c.email == email)).first():
            raise UserError("An account with this e-mail already exists.")
    if open_account is None:
        raise UserError("Sign-up is not available on this server.")
    account_id = int(open_account(email))
    try:
        with db.begin() as conn:
            uid = conn.execute(
                insert(users).values(
                    email=email,
                    password_hash=_hasher.hash(password),
                    account_id=account_id,
                    totp_secret=None,
                    totp_last_step=0,
                    failed_logins=0,
                    locked_until=0,
                    created=now,
                )
            ).inserted_primary_key[0]
    except IntegrityError:
        raise UserError("An account with this e-mail already exists.") from None
    return User(int(uid), email, account_id, False)


def get_user(db: Engine, user_id: int) -> User | None:
    with db.connect() as conn:
        row = conn.execute(select(users).where(users.c.id == user_id)).first()
    return _user(row) if row else None


def _decrypt(fernet, stored: str) -> str:  # type: ignore[no-untyped-def]
    if stored.startswith("enc:"):
        if fernet is None:
            raise UserError("2FA is misconfigured on this server.")
        return fernet.decrypt(stored[4:].encode()).decode()
    return stored.removeprefix("raw:")


def _encrypt(fernet, secret: str) -> str:  # type: ignore[no-untyped-def]
    if fernet is None:
        return "raw:" + secret
    return "enc:" + fernet.encrypt(secret.encode()).decode()


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


def authenticate(
    db: Engine,
    email: str,
    password: str,
    totp_code: str = "",
    *,
    fernet=None,  # type: ignore[no-untyped-def]
    now: int | None = None,
) -> User:
    """The user for these credentials, or ``UserError`` (the same message for every failure)."""
    now = _now() if now is None else now
    bad = UserError("Wrong e-mail, password or 2FA code.")
    try:
        email = normalize_email(email)
    except UserError:
        raise bad from None
    with db.connect() as conn:
        row = conn.execute(select(users).where(users.c.email == email)).first()
    if row is None:
        with contextlib.suppress(VerificationError, InvalidHashError):
            _hasher.verify(_DUMMY_HASH, password or "")
        raise bad
    if row.locked_until > now:
        raise UserError("Too many failed attempts; try again in a few minutes.")
    try:
        ok = _hasher.verify(row.password_hash, password or "")
    except (VerificationError, InvalidHashError):
        ok = False
    step = None
    if ok and row.totp_secret is not None:
        step = _totp_step(_decrypt(fernet, row.totp_secret), totp_code, now)
        ok = step is not None and step > row.totp_last_step
    with db.begin() as conn:
        if not ok:
            failed = row.failed_logins + 1
            values: dict = {"failed_logins": failed}
            if failed >= MAX_FAILED_LOGINS:
                values = {"failed_logins": 0, "locked_until": now + LOCKOUT_MS}
            conn.execute(update(users).where(users.c.id == row.id).values(**values))
        else:
            values = {"failed_logins": 0}
            if step is not None:
                values["totp_last_step"] = step
            if _hasher.check_needs_rehash(row.password_hash):
                values["password_hash"] = _hasher.hash(password)
            q = update(users).where(users.c.id == row.id)
            if step is not None:  # a code is good once, even under concurrent log-ins
                q = q.where(users.c.totp_last_step < step)
            if conn.execute(q.values(**values)).rowcount != 1:
                ok = False
    if not ok:
        raise bad
    return _user(row)


# --- TOTP ----------------------------------------------------------------------------------
def new_totp_secret() -> str:
    return pyotp.random_base32()


def totp_uri(secret: str, email: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=TOTP_ISSUER)


def enable_totp(db: Engine, user_id: int, secret: str, code: str, *, fernet=None, now=None) -> None:  # type: ignore[no-untyped-def]
    """Turn 2FA on once the user proves their app has ``secret`` by sending a current code."""
    now = _now() if now is None else now
    if len(secret) < 16 or not re.fullmatch(r"[A-Z2-7]+=*", secret):
        raise UserError("Start again: that 2FA secret is not valid.")
    step = _totp_step(secret, code, now)
    if step is None:
        raise UserError("That code does not match; check your authenticator's clock.")
    with db.begin() as conn:
        conn.execute(
            update(users)
            .where(users.c.id == user_id)
            .values(totp_secret=_encrypt(fernet, secret), totp_last_step=step)
        )


def disable_totp(db: Engine, user_id: int, code: str, *, fernet=None, now=None) -> None:  # type: ignore[no-untyped-def]
    now = _now() if now is None else now
    with db.connect() as conn:
        row = conn.execute(select(users).where(users.c.id == user_id)).first()
    if row is None or row.totp_secret is None:
        return
    step = _totp_step(_decrypt(fernet, row.totp_secret), code, now)
    if step is None or step <= row.totp_last_step:
        raise UserError("That code does not match.")
    with db.begin() as conn:
        conn.execute(
            update(users).where(users.c.id == user_id).values(totp_secret=None, totp_last_step=0)
        )


# --- sessions -----------------------------------------------------------------------------
def create_session(db: Engine, user_id: int, user_agent: str = "", *, now=None) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """Start a session; returns ``(cookie value, csrf token)``."""
    now = _now() if now is None else now
    sid = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    with db.begin() as conn:
        conn.execute(
            insert(sessions).values(
                id_hash=tk.digest(sid),
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


def load_session(db: Engine, sid: str | None, *, now=None) -> Session | None:  # type: ignore[no-untyped-def]
    """The live session for a cookie value, else ``None``."""
    if not sid or len(sid) > 128:
        return None
    now = _now() if now is None else now
    h = tk.digest(sid)
    q = (
        select(sessions, users)
        .select_from(sessions.join(users, users.c.id == sessions.c.user_id))
        .where(sessions.c.id_hash == h)
    )
    with db.connect() as conn:
        row = conn.execute(q).first()
    if row is None or row.revoked is not None:
        return None
    if now >= row.expires or now >= row.last_seen + SESSION_IDLE_MS:
        return None
    if now - row.last_seen > SESSION_TOUCH_MS:
        with db.begin() as conn:
            conn.execute(update(sessions).where(sessions.c.id_hash == h).values(last_seen=now))
    user = User(row.user_id, row.email, row.account_id, row.totp_secret is not None)
    return Session(user, row.csrf, h)


def revoke_session(db: Engine, sid: str | None, *, now=None) -> None:  # type: ignore[no-untyped-def]
    if not sid:
        return
    now = _now() if now is None else now
    with db.begin() as conn:
        conn.execute(
            update(sessions)
            .where(sessions.c.id_hash == tk.digest(sid), sessions.c.revoked.is_(None))
            .values(revoked=now)
        )


def revoke_all_sessions(db: Engine, user_id: int, *, now=None) -> None:  # type: ignore[no-untyped-def]
    now = _now() if now is None else now
    with db.begin() as conn:
        conn.execute(
            update(sessions)
            .where(sessions.c.user_id == user_id, sessions.c.revoked.is_(None))
            .values(revoked=now)
        )


def check_csrf(expected: str | None, sent: str | None) -> bool:
    """Constant-time comparison of a form's CSRF token with the expected one."""
    if not expected or not sent or len(sent) > 256:
        return False
    return secrets.compare_digest(expected.encode(), sent.encode())
