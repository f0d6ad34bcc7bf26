"""The operator API: ``POST /admin/v1/<group>/<verb>`` runs one operation.

The body is a JSON object of the operation's parameters; the answer is its result (200) or
``{"code": ..., "msg": ...}`` with the operation's status. Every request must carry the
server's operator credential (``Authorization: Bearer <$BOURSE_HOME/operator.token>``), never
a user's API key. A client address (the TCP peer, or the last ``X-Forwarded-For`` hop with
``Config.trust_forwarded_for``) that fails the check ``MAX_FAILURES`` times within
``FAILURE_WINDOW_S`` has its wrong credentials refused with 429 for the rest of the window
(``bourse.services.throttle.FailureWindow``, shared with the operator console's sign-in and
``/metrics``). The right credential always passes: it is 256 random bits, so the throttle only
slows guessing, and a throttle that refused it would let anyone who shares the operator's
address (a NAT, a reverse proxy) lock the operator out.
``X-Bourse-Actor`` names the person behind the call (the ``bourse`` command sends
``user@host``); it is recorded in the audit log next to the credential, with the address.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bourse.domain.text import storable
from bourse.operations.dispatch import invoke
from bourse.operations.home import PREFIX
from bourse.operations.registry import OperationError
from bourse.services.bundle import Services
from bourse.services.throttle import FailureWindow, request_ip
from bourse.store.repositories.audit import AuditLog

log = logging.getLogger("bourse.operations")

#: the MEXC-shaped codes of the operator API's refusals
AUTH_FAILED = 700001
THROTTLED = 429
REFUSED = 700003


def _error(status: int, code: int, msg: str) -> Response:
    return JSONResponse({"code": code, "msg": msg}, status_code=status)


def admin_routes(
    platform: Services, token: str, throttle: FailureWindow | None = None
) -> list[Route]:
    """The operator API of ``platform``, guarded by ``token``; ``throttle`` counts its failed
    credentials (share one with the operator console's sign-in)."""
    throttle = throttle or FailureWindow()
    trust = bool(getattr(platform.config, "trust_forwarded_for", False))
    audit = AuditLog(platform.db)
    expected = f"Bearer {token}".encode()

    async def handle(request: Request) -> Response:
        source = request_ip(request, trust) or "unknown"
        name = f"{request.path_params['group']}.{request.path_params['verb']}"
        if not storable(name):  # names no operation, and no audit row can hold it (PostgreSQL)
            return _error(404, REFUSED, "no such operation")
        given = request.headers.get("authorization", "").encode()
        # the credential first, always (constant time); the throttle only answers a wrong one,
        # with no await between its check and its count (concurrent guesses counted one by one)
        if not hmac.compare_digest(given, expected):
            if throttle.blocked(source):
                return _error(429, THROTTLED, "too many failed operator credentials; wait a minute")
            throttle.failed(source)
            await run_in_threadpool(
                audit.record,
                time=int(time.time() * 1000),
                actor="unauthenticated",
                source=source,
                operation=name[:64],
                params={},
                outcome="refused",
                detail="wrong or missing operator credential",
            )
            # the caller knows whether it sent one: saying which tells it nothing new
            said = "operator credential refused" if given else "operator credential required"
            return _error(401, AUTH_FAILED, said)
        try:
            body = await request.body()
            params: Any = json.loads(body) if body.strip() else {}
        except ValueError:
            return _error(400, REFUSED, "the body must be a JSON object")
        if not isinstance(params, dict):
            return _error(400, REFUSED, "the body must be a JSON object")
        actor = "operator"
        who = request.headers.get("x-bourse-actor", "")[:64]
        if who:
            actor = f"operator ({who})"
        try:
            result = await run_in_threadpool(
                invoke, platform, name, params, actor=actor, source=source
            )
        except OperationError as exc:
            return _error(exc.status, REFUSED, str(exc))
        except Exception as exc:  # one line for the operator; details in the server log
            log.exception("operation %s failed", name)
            return _error(500, REFUSED, f"{type(exc).__name__}: {exc}")
        return JSONResponse(result)

    return [Route(PREFIX + "/{group}/{verb}", handle, methods=["POST"])]
