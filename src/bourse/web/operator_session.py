"""The operator console's sign-in: the operator credential exchanged for a short session.

The browser never keeps the operator credential (``$BOURSE_HOME/operator.token``, the one the
``bourse`` command and ``/admin/v1`` use): ``/operator/login`` checks it once, in constant time,
behind the operator API's own failure throttle (``services.throttle.FailureWindow``, one shared
instance), and sets a random session id instead. The session lives in this process's memory
only, keyed by the id's SHA-256: it ends after ``IDLE_S`` without a request, ``MAX_AGE_S`` after
sign-in, at sign-out, and when the server restarts (docs/decisions.md, "Operator console
sign-in"). Its cookie is ``HttpOnly``, ``SameSite=Strict``, and ``Secure`` with the ``__Host-``
prefix when the server's public URL is https; a user's session cookie is a different cookie
and opens nothing here.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

#: seconds without a request after which a session ends
IDLE_S = 15 * 60
#: seconds after sign-in after which a session ends, however busy
MAX_AGE_S = 8 * 3600
#: sessions kept at most; the least recently used goes first
MAX_SESSIONS = 64


@dataclass(slots=True)
class OperatorSession:
    csrf: str
    created: float
    seen: float


def cookie_name(secure: bool) -> str:
    return "__Host-bourse_operator" if secure else "bourse_operator"


def _digest(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


class OperatorSessions:
    """The signed-in operator sessions of this process."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._by_digest: dict[str, OperatorSession] = {}
        self._lock = threading.Lock()

    def create(self) -> tuple[str, OperatorSession]:
        """A new session and its id (the cookie's value; only its digest is kept)."""
        sid = secrets.token_urlsafe(32)
        now = self.clock()
        session = OperatorSession(secrets.token_urlsafe(32), now, now)
        with self._lock:
            self._prune(now)
            while len(self._by_digest) >= MAX_SESSIONS:
                oldest = min(self._by_digest, key=lambda d: self._by_digest[d].seen)
                del self._by_digest[oldest]
            self._by_digest[_digest(sid)] = session
        return sid, session

    def load(self, sid: str | None) -> OperatorSession | None:
        """The live session of ``sid`` (its idle clock restarts), else ``None``."""
        if not sid or len(sid) > 128:
            return None
        now = self.clock()
        with self._lock:
            session = self._by_digest.get(_digest(sid))
            if session is None:
                return None
            if now - session.seen > IDLE_S or now - session.created > MAX_AGE_S:
                del self._by_digest[_digest(sid)]
                return None
            session.seen = now
            return session

    def revoke(self, sid: str | None) -> None:
        if sid:
            with self._lock:
                self._by_digest.pop(_digest(sid), None)

    def _prune(self, now: float) -> None:
        dead = [
            d
            for d, s in self._by_digest.items()
            if now - s.seen > IDLE_S or now - s.created > MAX_AGE_S
        ]
        for d in dead:
            del self._by_digest[d]

    # --- the cookie ------------------------------------------------------------------------
    def of(self, request: Request, secure: bool) -> OperatorSession | None:
        return self.load(request.cookies.get(cookie_name(secure)))

    @staticmethod
    def set_cookie(response: Response, sid: str, secure: bool) -> None:
        response.set_cookie(
            cookie_name(secure), sid, max_age=MAX_AGE_S, path="/", secure=secure,
            httponly=True, samesite="strict",
        )  # fmt: skip

    @staticmethod
    def clear_cookie(response: Response, secure: bool) -> None:
        response.delete_cookie(
            cookie_name(secure), path="/", secure=secure, httponly=True, samesite="strict"
        )
