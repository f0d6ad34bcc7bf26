"""``/healthz`` (the process answers) and ``/readyz`` (it can serve: a load balancer's checks).

``/readyz`` answers 200 ``{"ready": true, "checks": {...}}`` or 503 with the same shape and
``ready: false``; each check is ``{"ok": bool, "detail": str}``:

* ``engine``: a writer's engine thread runs, holds the writer role and answers: a probe put on
  its queue (``engine.liveness``) has not waited over ``bus.heartbeat.STALL_S`` (1 s) with no
  batch committed meanwhile (a probe is sent when the last one was answered, so a stuck engine
  shows from the second ``/readyz`` a second or more apart); a process that follows the bus
  has its copy caught up (``Mirror.ready``) and heard the writer's heartbeat
  (``bus.heartbeat``) within ``bus.heartbeat.SILENCE_S`` (3 s): a gateway (``bourse gateway``,
  which sends its commands to ``bourse engine``) the active engine's, a plain follower
  (``bourse serve --bus`` on a database another process writes) its writer's (``bourse serve
  --bus`` or ``bourse engine``).
  A gateway with no engine behind it (dead, hung, fenced, no standby took over) could only
  answer orders 503, and a follower of such a writer serves books and balances that no longer
  move: neither is ready, and the detail says which part failed ("gateway, no engine heard for
  4.1 s", "follower, no writer heard for 4.1 s"); a failover (about a second) stays inside
  the bound;
* ``store``: ``SELECT 1`` answered within ``timeout`` seconds;
* ``bus`` (only with ``Config.bus_url``): the NATS connection is up.

The store check runs on a worker thread, at most one at a time, and its answer is kept for
``ttl`` seconds, so probes at any rate cost one query per ``ttl`` and a dead database (or one
that hangs) makes ``/readyz`` answer "not ready" after ``timeout``, never hang. Neither endpoint
needs a credential or says more than ok/not ok and why (no versions, no addresses).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bourse.bus import heartbeat
from bourse.bus.gateway import RemoteEngine
from bourse.services.bundle import Services


@dataclass(slots=True)
class Check:
    ok: bool
    detail: str

    def json(self) -> dict[str, Any]:
        return {"ok": self.ok, "detail": self.detail}


class Readiness:
    """The checks behind ``/readyz`` (see the module docstring)."""

    def __init__(self, platform: Services, *, ttl: float = 1.0, timeout: float = 1.0) -> None:
        self.platform = platform
        self.ttl = ttl
        self.timeout = timeout
        self._store: Check = Check(False, "not checked yet")
        self._checked = 0.0
        self._probe: asyncio.Future[Check] | None = None

    def engine(self) -> Check:
        p = self.platform
        if p.mirror is not None:
            role = "gateway" if isinstance(p.engine, RemoteEngine) else "follower"
            problems = [] if p.mirror.ready else ["catching up with the bus"]
            # the active engine's (a gateway) or the writer's (a follower) heartbeat: a copy
            # of a dead, hung or fenced writer is caught up and stale
            who, beats = p.heard() or ("", None)
            silent = beats.problem(who) if beats is not None else None
            if silent is not None:
                problems.append(silent)
            if problems:
                return Check(False, f"{role}, " + "; ".join(problems))
            ago = f", {who} heard {beats.silence()[0]:.1f} s ago" if beats is not None else ""
            return Check(True, f"{role}, caught up with the bus{ago}")
        if not p.engine.running:
            return Check(False, "the engine thread is not running")
        if p.engine.read_only is not None:
            return Check(False, p.engine.read_only)
        # the engine thread answers the probe this puts on its queue (engine.liveness): one
        # stuck in a handler, a commit or behind a lock is not ready, as its heartbeat stops
        if not p.engine.liveness.responsive(heartbeat.STALL_S):
            return Check(
                False, f"the engine thread has not answered for over {heartbeat.STALL_S:g} s"
            )
        return Check(True, "writer")

    def bus(self) -> Check | None:
        nats = self.platform.nats
        if nats is None:
            return None
        return Check(True, "connected") if nats.connected else Check(False, "NATS unreachable")

    def _select_one(self) -> Check:
        try:
            with self.platform.db.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:
            return Check(False, f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
        return Check(True, "reachable")

    async def store(self) -> Check:
        """The cached answer of the store probe, refreshed when older than ``ttl``."""
        if time.monotonic() - self._checked < self.ttl:
            return self._store
        if self._probe is None or self._probe.done():
            loop = asyncio.get_running_loop()
            self._probe = loop.run_in_executor(None, self._select_one)
        try:
            result = await asyncio.wait_for(asyncio.shield(self._probe), self.timeout)
        except TimeoutError:
            result = Check(False, f"no answer within {self.timeout:g} s")
        self._store, self._checked = result, time.monotonic()
        return result

    async def checks(self) -> dict[str, Check]:
        out = {"engine": self.engine(), "store": await self.store()}
        bus = self.bus()
        if bus is not None:
            out["bus"] = bus
        return out


def readyz_response(checks: dict[str, Check]) -> Response:
    """``/readyz``'s answer: 200 when every check is ok, else 503 (see the module docstring)."""
    ok = all(c.ok for c in checks.values())
    body = {"ready": ok, "checks": {name: c.json() for name, c in checks.items()}}
    return JSONResponse(body, status_code=200 if ok else 503)


def health_routes(platform: Services, readiness: Readiness | None = None) -> list[Route]:
    """``GET /healthz`` and ``GET /readyz`` for ``platform``."""
    ready = readiness or Readiness(platform)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        return readyz_response(await ready.checks())

    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
    ]
