"""The operator console's sign-in: the operator credential exchanged for a short session.

The browser never keeps the operator credential (``$BOURSE_HOME/operator.token``, the one the
``bourse`` command and ``/admin/v1`` use): ``/operator/login`` checks it once, in constant time,
behind the operator API's own failure throttle (``services.throttle.FailureWindow``, one shared
instance), and sets a random session id instead. The session is a row of ``operator_sessions``
keyed by the id's SHA-256 (``store.repositories.operator_sessions``), so every gateway process
of the database knows it (``bourse serve --workers``); it ends after ``IDLE_S`` without a
request, ``MAX_AGE_S`` after sign-in, or at sign-out (docs/decisions.md, "Operator console
sign-in"). Its cookie is ``HttpOnly``, ``SameSite=Strict``, and ``Secure`` with the ``__Host-``
prefix when the server's public URL is https; a user's session cookie is a different cookie and
opens nothing here. The methods read the database: call them on a worker thread.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from bourse.store.repositories.operator_sessions import OperatorSessionRepository

#: seconds without a request after which a session ends
IDLE_S = 15 * 60
#: seconds after sign-in after which a session ends, however busy
MAX_AGE_S = 8 * 3600


@dataclass(frozen=True, slots=True)
class OperatorSession:
    csrf: str


def cookie_name(secure: bool) -> str:
    return "__Host-bourse_operator" if secure else "bourse_operator"


def _digest(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


def _wall_ms() -> int:
    return int(time.time() * 1000)


class OperatorSessions:
    """The signed-in operator sessions of a database; ``clock`` is wall time in ms."""

    def __init__(
        self, repo: OperatorSessionRepository, clock: Callable[[], int] = _wall_ms
    ) -> None:
        self.repo = repo
        self.clock = clock

    def _limits(self, now: int) -> tuple[int, int]:
        return now - IDLE_S * 1000, now - MAX_AGE_S * 1000

    def create(self) -> tuple[str, OperatorSession]:
        """A new session and its id (the cookie's value; only its digest is stored)."""
        sid = secrets.token_urlsafe(32)
        now = self.clock()
        self.repo.prune(*self._limits(now))
        session = OperatorSession(secrets.token_urlsafe(32))
        self.repo.insert(_digest(sid), session.csrf, now)
        return sid, session

    def load(self, sid: str | None) -> OperatorSession | None:
        """The live session of ``sid`` (its idle clock restarts), else ``None``."""
        if not sid or len(sid) > 128:
            return None
        now = self.clock()
        csrf = self.repo.touch(_digest(sid), now, *self._limits(now))
        return OperatorSession(csrf) if csrf is not None else None

    def revoke(self, sid: str | None) -> None:
        if sid:
            self.repo.delete(_digest(sid))

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
