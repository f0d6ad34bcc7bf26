"""Crash-only: an unexpected exception on the engine thread ends ``bourse serve`` at once.

``BOURSE_TEST_RAISE_IN_ENGINE=N`` (``bourse.engine.crash``) makes the engine thread raise
outside any command when it closes the batch holding its Nth command, which escapes its loop.
The server must not keep taking orders that wait for ever: it logs the traceback once, says
so in one line and exits 70 within a bound (the request in flight sees its connection close).
Restarted on the same database, it holds every order it acknowledged, and ``bourse check``
passes.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from bourse.cli.crash import EXIT_CRASHED
from bourse.engine.crash import RAISE_IN_ENGINE
from tests.faults.serve import Serve, bourse_check, prepare
from tests.support.mexc import Signer, ok

pytestmark = pytest.mark.slow

#: the engine thread raises when the batch of its 6th command closes
CRASH_AT = 6
#: seconds from the fatal request to the process's exit, at most
EXIT_S = 5.0


def test_engine_thread_crash_exits_and_restart_recovers(tmp_path: Path) -> None:
    world = prepare(f"sqlite:///{tmp_path / 'bourse.db'}", tmp_path, users=1, families=0)
    user = world.users[0]
    serve = Serve(world, env={RAISE_IN_ENGINE: str(CRASH_AT)})
    acked: dict[str, int] = {}
    try:
        with httpx.Client(base_url=serve.url, timeout=10) as http:
            signer = Signer(http, user.api_key, user.secret)
            for i in range(CRASH_AT + 1):  # one at a time: each order is a batch of its own
                cid = f"crash{i}"
                sent = time.monotonic()
                try:
                    r = signer.post(
                        "/api/v3/order", symbol="BTCUSDT", side="BUY", type="LIMIT",
                        quantity="0.001", price="20000", newClientOrderId=cid,
                    )  # fmt: skip
                except httpx.TransportError:
                    break
                if r.status_code == 503:  # the fatal one, answered as unknown before the exit
                    assert r.json()["code"] == 503, r.text
                    break
                acked[cid] = ok(r)["orderId"]
            else:
                raise AssertionError(f"the server took {len(acked)} orders and did not crash")
        code = serve.proc.wait(max(0.1, sent + EXIT_S - time.monotonic()))
    finally:
        serve.stop()
    out = serve.log_path.read_text(errors="replace")
    assert code == EXIT_CRASHED, out[-4000:]
    assert 1 <= len(acked) < CRASH_AT, (acked, out[-4000:])
    # the traceback once, the engine's log line once, and the one line of what happens
    assert out.count("Traceback (most recent call last)") == 1, out[-4000:]
    assert out.count("the engine thread crashed: no more commands") == 1, out[-4000:]
    said = [line for line in out.splitlines() if line.startswith("bourse serve: the engine")]
    assert len(said) == 1 and f"InjectedFault: {RAISE_IN_ENGINE}={CRASH_AT}" in said[0], said
    assert f"exiting {EXIT_CRASHED}" in said[0], said

    again = Serve(world)  # the supervisor's restart: recovery from the store
    try:
        with httpx.Client(base_url=again.url, timeout=10) as http:
            signer = Signer(http, user.api_key, user.secret)
            for cid, order_id in acked.items():
                got = ok(signer.get("/api/v3/order", symbol="BTCUSDT", origClientOrderId=cid))
                assert (got["orderId"], got["status"]) == (order_id, "NEW"), (cid, got)
            # and it takes orders again
            ok(signer.post(
                "/api/v3/order", symbol="BTCUSDT", side="BUY", type="LIMIT", quantity="0.001",
                price="20000", newClientOrderId="after",
            ))  # fmt: skip
    finally:
        again.stop()
    code, report = bourse_check(world)
    assert code == 0, report
