"""Web users: sign-up, log-in (argon2id, optional TOTP, lockout) and server-side sessions.

``Users(repo, open_account, fernet=..., clock=..., throttle=...)`` is the service both the web pages
(``bourse.web``) and the authorization server's consent flow use to know who is logged in.
Its SQL is in ``bourse.store.repositories.users``.

* **Passwords** are argon2id hashes (``argon2-cffi`` defaults), re-hashed on log-in when the
  parameters change. Unknown e-mails cost the same as wrong passwords (a dummy verify with the
  same parameters), and both give the same message.
* **Abuse** (``bourse.config.AuthLimits``): failures are counted per client IP and per e-mail
  in memory (``bourse.services.throttle``) and per (e-mail, client IP) in the database; over a
  budget, or while that pair's back-off lasts, ``Throttled`` is raised before any password or
  code is checked. Log-in, the step-up (``confirm``) and turning 2FA on and off share these
  budgets (``_guarded``). All of it is keyed by the e-mail as typed, so an unknown e-mail is
  throttled exactly like a known one and the owner, from another IP, is not locked out.
* **TOTP** (pyotp, RFC 6238, 30 s steps, one step of clock drift): once enabled, log-in needs
  a current code, and a code (time step) is accepted at most once. Turning it on needs the
  log-in password and a code of the new secret; turning it off, the password and a current
  code; while it is on it cannot be replaced (off, then on). The secret is encrypted with the
  server's Fernet key when one is configured.
* **Sessions** live in the ``sessions`` table; the cookie holds a 256-bit random id, the table
  its SHA-256. A session expires ``SESSION_TTL_MS`` after log-in or ``SESSION_IDLE_MS`` after its
  last use; log-out revokes it server-side. Each session has its own CSRF token, required by
  every form posted while logged in.
* **Accounts**: sign-up opens the user's exchange account through ``open_account(email)``
  (``engine_account_opener(engine)`` in a running platform).
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import Fernet, MultiFernet

from bourse.domain.accounts import AccountKind
from bourse.engine import Engine
from bourse.engine.clock import Clock, now_ms
from bourse.engine.commands import OpenAccount
from bourse.services.throttle import CredentialThrottle, Throttled, seconds
from bourse.store.oauth_tables import digest
from bourse.store.repositories.users import UserRepository

_hasher = PasswordHasher()
_dummy: dict[int, str] = {}

MIN_PASSWORD = 10
MAX_PASSWORD = 1024
#: one message for every log-in failure: wrong password, unknown e-mail, bad 2FA code
BAD_LOGIN = "Wrong e-mail, password or 2FA code."
#: what turning 2FA on says when the code is not the new secret's (that secret is no secret to
#: whoever sent it, so saying so tells nothing)
CODE_MISMATCH = "That code does not match; check your authenticator's clock."
TOTP_ALREADY_ON = (
    "Two-factor authentication is already on. To move it to another app, turn it off "
    "(with a current code), then on again."
)
#: failures of an (e-mail, IP) pair older than this start its count again
FAILURES_FORGOTTEN_MS = 24 * 3600 * 1000
SESSION_TTL_MS = 12 * 3600 * 1000
SESSION_IDLE_MS = 2 * 3600 * 1000
SESSION_TOUCH_MS = 60 * 1000
TOTP_ISSUER = "Bourse"

#: one "@", a local part of 1-64 characters and a domain of two or more non-empty labels (no
#: dot at its start or end, none doubled); no white space or control character anywhere
#: (PostgreSQL text cannot even hold a NUL); 254 at most in all
_EMAIL_CHAR = r"[^@\s\x00-\x1f\x7f-\x9f]"
_LABEL = r"[^@.\s\x00-\x1f\x7f-\x9f]+"
_EMAIL = re.compile(rf"{_EMAIL_CHAR}{{1,64}}@(?:{_LABEL}\.)+{_LABEL}")
#: what an e-mail had to be before NFKC and the rules above (rows stored then may differ)
_EMAIL_BEFORE = re.compile(rf"{_EMAIL_CHAR}{{1,64}}@{_EMAIL_CHAR}+\.{_EMAIL_CHAR}+")
#: Unicode categories refused in an e-mail: controls, format characters (zero-width spaces and
#: joiners, the byte-order mark, soft hyphens, direction overrides), surrogates, private use,
#: unassigned, and every separator
_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"})

T = TypeVar("T")

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
class LogIn:
    """One log-in as the security page lists it (a session row: log-ins make sessions)."""

    created: int
    last_seen: int
    user_agent: str
    #: live now (neither expired, idle too long, nor revoked)
    live: bool
    #: the session the list is shown in
    current: bool


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


def _dummy_hash() -> str:
    """A hash with the current hasher's parameters, verified for unknown e-mails so that they
    cost what a wrong password costs."""
    h = _dummy.get(id(_hasher))
    if h is None:
        h = _dummy[id(_hasher)] = _hasher.hash("not a real password, only to spend the time")
    return h


def throttled_message(exc: Throttled) -> str:
    """What the log-in and sign-up pages say when ``exc`` refuses an attempt."""
    return f"Too many attempts; try again in {exc.retry_after} seconds."


def _password_ok(row: Any | None, password: str) -> bool:
    """Whether ``password`` is the row's; without a row, a dummy hash is verified, so an
    unknown e-mail costs what a wrong password costs."""
    try:
        return bool(_hasher.verify(row.password_hash if row else _dummy_hash(), password or ""))
    except (VerificationError, InvalidHashError):
        return False


def _user(row: Any) -> User:
    return User(row.id, row.email, row.account_id, row.totp_secret is not None)


def normalize_email(email: str) -> str:
    """The one form of an e-mail, or ``UserError``: NFKC (full-width and other compatibility
    forms become the plain characters), without surrounding white space, lower-cased; refused
    with an invisible character (``_INVISIBLE``) or a domain that is not dot-separated labels
    (a trailing dot included). Look-alikes are one account, and the one form is what is stored
    and looked up."""
    email = unicodedata.normalize("NFKC", (email or "").strip()).strip().lower()
    if (
        len(email) > 254
        or not _EMAIL.fullmatch(email)
        or any(unicodedata.category(ch) in _INVISIBLE for ch in email)
    ):
        raise UserError("Enter a valid e-mail address.")
    return email


def _as_stored_before(email: str) -> str | None:
    """``email`` as rows were stored before ``normalize_email`` applied NFKC and refused
    invisible characters (stripped and lower-cased), when that differs from its one form: such a
    row still logs in typed as it was stored. ``None`` when nothing stored then could match."""
    before = (email or "").strip().lower()
    if len(before) > 254 or not _EMAIL_BEFORE.fullmatch(before):
        return None
    try:
        return None if normalize_email(email) == before else before
    except UserError:
        return before


def find_user(repo: UserRepository, email: str) -> Any | None:
    """The user row ``email`` names, the one lookup of log-in, sign-up and internal transfers
    by e-mail: first the row stored with exactly this spelling when it is not the one form
    (``_as_stored_before``: a row the migration 0025 left as it was, because its one form was
    another row's or is no valid e-mail now), else the row of its one form. ``None`` when
    neither exists or ``email`` is no e-mail."""
    before = _as_stored_before(email)
    if before is not None:
        row = repo.user_by_email(before)
        if row is not None:
            return row
    try:
        return repo.user_by_email(normalize_email(email))
    except UserError:
        return None


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
        fernet: Fernet | MultiFernet | None = None,
        clock: Clock = now_ms,
        throttle: CredentialThrottle | None = None,
    ) -> None:
        self.repo = repo
        self.open_account = open_account
        self.fernet = fernet
        self.clock = clock
        self.throttle = throttle or CredentialThrottle()
        self._failures = 0
        #: called once sessions ended (log-out, a revocation): what lived as long as they did
        #: (the console's listenKeys, ``ListenKeys.recheck``) looks again at once
        self.on_sessions_ended: Callable[[], None] | None = None

    def _ended(self, count: int = 1) -> int:
        if count and self.on_sessions_ended is not None:
            self.on_sessions_ended()
        return count

    def _lock_for(self, failures: int) -> int:
        """The back-off (ms) of an (e-mail, IP) pair after ``failures`` failures in a row."""
        lim = self.throttle.limits
        over = failures - lim.backoff_after
        if over < 0:
            return 0
        return min(lim.backoff_ms << min(over, 32), lim.backoff_max_ms)

    # --- accounts --------------------------------------------------------------------------
    def create_user(
        self, email: str, password: str, *, ip: str = "", now: int | None = None
    ) -> User:
        """Create a web user and the exchange account it owns; ``Throttled`` when ``ip`` has
        signed up too often (``AuthLimits.signups``)."""
        typed, email = email, normalize_email(email)
        check_password_policy(password)
        now = self.clock() if now is None else now
        self.throttle.signup(ip, now)
        if find_user(self.repo, typed) is not None:
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
        self,
        email: str,
        password: str,
        totp_code: str = "",
        *,
        ip: str = "",
        now: int | None = None,
    ) -> User:
        """The user for these credentials, or ``UserError`` (one message for every failure),
        or ``Throttled`` (nothing checked) when ``ip`` or the e-mail is over its budget or the
        (e-mail, ``ip``) pair is backing off. Known and unknown e-mails take the same path."""
        now = self.clock() if now is None else now
        typed = email
        try:
            email = normalize_email(email)
        except UserError:
            before = _as_stored_before(email)
            if before is None:
                raise UserError(BAD_LOGIN) from None
            email = before  # only a row stored before the rule can match

        def check() -> Any:
            row = find_user(self.repo, typed)
            ok = _password_ok(row, password)
            if not ok or row is None or not self._second_step(row, password, totp_code, now):
                raise UserError(BAD_LOGIN)
            return row

        return _user(self._guarded(email, ip, now, check))

    def _guarded(self, email: str, ip: str, now: int, check: Callable[[], T]) -> T:
        """Run ``check`` (it raises ``UserError`` when a password or code is wrong) as one
        attempt of the log-in throttle: ``Throttled``, with nothing checked, while the
        (e-mail, ``ip``) pair backs off or ``ip`` or the e-mail is over its budget; a failure
        counts towards the pair's back-off, a success gives the attempt back. Every password
        and TOTP check goes through here: log-in, the step-up (``confirm``), turning 2FA on
        and off."""
        locked = self.repo.login_locked_until(email, ip)
        if locked > now:
            raise Throttled(seconds(locked - now))
        attempt = self.throttle.begin("login", ip, email, now)
        try:
            out = check()
        except UserError:
            self._failed(email, ip, now)
            raise
        self.throttle.succeeded(attempt)
        self.repo.clear_login_failures(email, ip)
        return out

    def confirm(
        self,
        user_id: int,
        password: str,
        totp_code: str = "",
        *,
        ip: str = "",
        now: int | None = None,
    ) -> User:
        """A logged-in user proves it is them again (the step-up before a withdrawal, a
        transfer to someone else, a key that can withdraw, a key's new secret, an OAuth app's
        new secret or redirect URI, a password or 2FA change): the log-in password, and the 2FA code when 2FA is on (the code is spent).
        The same checks, throttles and lockout as ``authenticate``; ``UserError`` (one
        message) or ``Throttled``."""
        row = self.repo.user(user_id)
        if row is None:
            raise UserError(BAD_LOGIN)
        return self.authenticate(row.email, password, totp_code, ip=ip, now=now)

    def change_password(
        self,
        user_id: int,
        current: str,
        new: str,
        totp_code: str = "",
        *,
        keep_session: str | None = None,
        ip: str = "",
        now: int | None = None,
    ) -> int:
        """Set a new password once the current one (and the 2FA code when 2FA is on) is
        confirmed; every other session ends (``keep_session``: the id hash of the one the
        change was made in). Returns how many sessions ended."""
        check_password_policy(new)
        if new == current:
            raise UserError("Choose a new password that differs from the current one.")
        self.confirm(user_id, current, totp_code, ip=ip)
        self.repo.set_password(user_id, _hasher.hash(new))
        now = self.clock() if now is None else now
        return self._ended(self.repo.revoke_user_sessions(user_id, now, keep=keep_session))

    def log_ins(
        self, user_id: int, current: str = "", *, limit: int = 10, now: int | None = None
    ) -> list[LogIn]:
        """The user's newest log-ins (its sessions), newest first; ``current`` is the id hash
        of the session asking."""
        now = self.clock() if now is None else now
        return [
            LogIn(
                r.created,
                r.last_seen,
                r.user_agent,
                r.revoked is None and now < r.expires and now < r.last_seen + SESSION_IDLE_MS,
                r.id_hash == current,
            )
            for r in self.repo.recent_sessions(user_id, limit)
        ]

    def _second_step(self, row: Any, password: str, totp_code: str, now: int) -> bool:
        """After the right password: the TOTP code when 2FA is on (a code is good once, even
        under concurrent log-ins), and the re-hash when argon2's parameters changed."""
        values: dict[str, Any] = {}
        step = None
        if row.totp_secret is not None:
            step = _totp_step(self._decrypt(row.totp_secret), totp_code, now)
            if step is None or step <= row.totp_last_step:
                return False
            values["totp_last_step"] = step
        if _hasher.check_needs_rehash(row.password_hash):
            values["password_hash"] = _hasher.hash(password)
        return not values or self.repo.record_login(row.id, values, step)

    def _failed(self, email: str, ip: str, now: int) -> None:
        self.repo.record_login_failure(email, ip, now, now - FAILURES_FORGOTTEN_MS, self._lock_for)
        self._failures += 1
        if self._failures % 256 == 0:  # now and then, forget what no longer matters
            self.repo.prune_login_failures(now - FAILURES_FORGOTTEN_MS)

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

    def enable_totp(
        self,
        user_id: int,
        secret: str,
        code: str,
        password: str,
        *,
        ip: str = "",
        now: int | None = None,
    ) -> None:
        """Turn 2FA on once the user proves their app has ``secret`` (a current code) and that
        it is them (the log-in password), so a stolen session cannot put its own second factor
        on the account. Refused while 2FA is on: replacing it means turning it off first, which
        asks for the current code. Both checks are one attempt of the log-in throttle."""
        now = self.clock() if now is None else now
        if len(secret) < 16 or not re.fullmatch(r"[A-Z2-7]+=*", secret):
            raise UserError("Start again: that 2FA secret is not valid.")
        row = self.repo.user(user_id)
        if row is None:
            raise UserError(BAD_LOGIN)
        if row.totp_secret is not None:
            raise UserError(TOTP_ALREADY_ON)

        def check() -> int:
            step = _totp_step(secret, code, now)
            if step is None:
                raise UserError(CODE_MISMATCH)
            if not _password_ok(row, password):
                raise UserError(BAD_LOGIN)
            return step

        step = self._guarded(row.email, ip, now, check)
        if not self.repo.set_totp(user_id, self._encrypt(secret), step, only_if_off=True):
            raise UserError(TOTP_ALREADY_ON)  # turned on meanwhile, by another request

    def disable_totp(
        self, user_id: int, password: str, code: str, *, ip: str = "", now: int | None = None
    ) -> None:
        """Turn 2FA off: the log-in password and a current code (``confirm``: throttled as
        log-in, and the code is spent). Nothing to do when it is off."""
        row = self.repo.user(user_id)
        if row is None or row.totp_secret is None:
            return
        self.confirm(user_id, password, code, ip=ip, now=now)
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
        self._ended()

    def revoke_all_sessions(self, user_id: int, *, now: int | None = None) -> None:
        self._ended(self.repo.revoke_user_sessions(user_id, self.clock() if now is None else now))
