"""``/healthz``, ``/readyz``, the ``X-Request-Id`` of every request, and the money audit: each
money movement is committed with its origin and its request's id (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from sqlalchemy import select

from bourse.app import create_app
from bourse.config import RateLimits
from bourse.operations.dispatch import invoke
from bourse.store.audit_tables import money_audit
from tests.support.platforms import Env, open_env
from tests.support.server import ServerThread


def test_healthz_and_readyz_answer_neutral_json(env: Env) -> None:
    r = env.http.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    r = env.http.get("/readyz")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["ready"] is True
    assert body["checks"]["engine"] == {"ok": True, "detail": "writer"}
    assert body["checks"]["store"]["ok"] is True
    assert "bus" not in body["checks"]  # no NATS configured


def test_readyz_is_false_while_the_engine_is_stopped(env: Env) -> None:
    env.platform.engine.stop()
    try:
        r = env.http.get("/readyz")
        assert r.status_code == 503
        assert r.json()["checks"]["engine"]["ok"] is False
        assert env.http.get("/healthz").status_code == 200  # alive, just not ready
    finally:
        env.platform.engine.start()
    assert env.http.get("/readyz").status_code == 200


def test_every_response_carries_a_request_id(env: Env) -> None:
    ids = set()
    for path in ("/api/v3/ping", "/api/v3/nonexistent", "/healthz"):
        r = env.http.get(path)
        rid = r.headers["x-request-id"]
        assert re.fullmatch(r"[0-9a-f]{32}", rid), rid
        ids.add(rid)
    assert len(ids) == 3
    sane = "client-42:retry.1"
    assert (
        env.http.get("/api/v3/ping", headers={"X-Request-Id": sane}).headers["x-request-id"] == sane
    )
    for bad in ("x" * 65, "a b", "<script>", ""):
        got = env.http.get("/api/v3/ping", headers={"X-Request-Id": bad}).headers["x-request-id"]
        assert got != bad and re.fullmatch(r"[0-9a-f]{32}", got)


def test_money_movements_are_committed_with_their_origin_and_request_id(env: Env) -> None:
    acc = env.open_account(USDT="1000")
    signer = env.signer(acc, ["SPOT_WITHDRAW_WRITE", "SPOT_WITHDRAW_READ", "SPOT_ACCOUNT_READ"])

    def withdraw(i: int) -> tuple[str, int]:
        params = {
            "coin": "USDT",
            "netWork": "TRX",
            "address": "T" + "E" * 33,
            "amount": "10",
            "withdrawOrderId": f"obs-{i}",
        }
        r = signer.request(
            "POST", "/api/v3/capital/withdraw", params, headers={"X-Request-Id": f"req-{i}"}
        )
        return r.headers["x-request-id"], r.status_code

    with ThreadPoolExecutor(4) as pool:  # concurrent requests keep their own ids
        answers = list(pool.map(withdraw, range(8)))
    assert all(status == 200 for _, status in answers), answers
    invoke(
        env.platform,
        "accounts.deposit",
        {"account": acc, "asset": "USDT", "amount": "5", "tx_ref": "obs-dep"},
        actor="operator (ops@test)",
        source="127.0.0.1",
    )
    with env.platform.db.connect() as conn:
        rows = conn.execute(select(money_audit).order_by(money_audit.c.id)).mappings().all()
    mine = [r for r in rows if r["account"] == acc]
    reserves = [r for r in mine if r["command"] == "ReserveWithdrawal"]
    assert sorted(r["request_id"] for r in reserves) == sorted(f"req-{i}" for i in range(8))
    assert {r["origin"] for r in reserves} == {f"api_key:{signer.api_key}"}
    unit = 10 ** env.platform.engine.wallet.assets["USDT"].scale
    # MEXC's amount includes the network fee: the command reserves the rest plus the fee
    got = {(r["asset"], r["amount"] + json.loads(r["detail"])["fee"]) for r in reserves}
    assert got == {("USDT", 10 * unit)}, reserves
    deposits = [r for r in mine if r["command"] == "CreditDeposit"]
    # the funding deposits of open_account ran outside any request: the system's
    assert [r["origin"] for r in deposits] == ["system", "operator:operator (ops@test)"]
    assert deposits[-1]["amount"] == 5 * unit and deposits[-1]["request_id"] == ""


def test_rate_limit_refusals_are_counted_under_concurrency(
    migrated_url: str, tmp_path: Any
) -> None:
    token = "t" * 32
    limits = RateLimits(requests=3, window_ms=60_000)
    for env in open_env(migrated_url, tmp_path, rate_limits=limits):
        app = create_app(env.platform, operator_token=token)
        with ServerThread(app) as srv, httpx.Client(base_url=srv.url, timeout=15) as http:
            with ThreadPoolExecutor(8) as pool:
                codes = list(pool.map(lambda _: http.get("/api/v3/ping").status_code, range(12)))
            assert sorted(codes) == [200] * 3 + [429] * 9
            text = http.get("/metrics", headers={"Authorization": f"Bearer {token}"}).text
        assert 'bourse_rate_limit_refusals_total{status="429"} 9.0' in text
        assert (
            'bourse_http_requests_total{method="GET",route="/api/v3/ping",status="429"} 9.0' in text
        )


def test_readyz_is_false_while_the_engine_thread_is_stuck(env: Env) -> None:
    """A reader holding the engine's lock (as a stuck handler or commit would) leaves the probe
    of ``/readyz`` unanswered: not ready within the bound; ready again once released."""
    engine = env.platform.engine
    release, holding = threading.Event(), threading.Event()

    def hold(_: Any) -> None:
        holding.set()
        assert release.wait(30)

    reader = threading.Thread(target=engine.read, args=(hold,))
    reader.start()
    try:
        assert holding.wait(10)
        deadline = time.monotonic() + 10
        while (r := env.http.get("/readyz")).status_code == 200:
            assert time.monotonic() < deadline, "still ready with the engine thread stuck"
            time.sleep(0.2)
        assert r.status_code == 503
        check = r.json()["checks"]["engine"]
        assert check == {"ok": False, "detail": "the engine thread has not answered for over 1 s"}
    finally:
        release.set()
        reader.join(10)
    deadline = time.monotonic() + 10
    while (r := env.http.get("/readyz")).status_code != 200:
        assert time.monotonic() < deadline, r.text
        time.sleep(0.2)
