"""``bourse serve --log-format json``: every log line is one JSON object carrying the request
id that the response's ``X-Request-Id`` names; ``bourse audit --money`` shows who moved money
(an operator through the API, an API key), with the request id. A real server process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from typer.testing import CliRunner

from bourse.cli import app
from bourse.operations.home import read_token
from bourse.operations.runtime import running_server
from tests.support.mexc import Signer


def _env(url: str, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOURSE_")}
    env.update(
        BOURSE_DATABASE_URL=url,
        BOURSE_HOME=str(home),
        BOURSE_SECRET_KEY="Tuuxnd6aTIwQYXUtHsKbGsZ7gmu2iQ4HuAFL7C7ocLU=",
        PYTHONUNBUFFERED="1",
    )
    return env


def test_json_logs_request_ids_and_the_money_audit(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/bourse.db"
    env = _env(url, tmp_path)
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    with out.open("w") as so, err.open("w") as se:
        server = subprocess.Popen(
            [sys.executable, "-m", "bourse.cli", "serve", "--port", "0", "--log-format", "json"],
            env=env,
            cwd=tmp_path,
            stdout=so,
            stderr=se,
            text=True,
        )
    try:
        deadline = time.monotonic() + 60
        while (found := running_server(tmp_path, url)) is None:
            assert server.poll() is None, err.read_text()
            assert time.monotonic() < deadline, "the server did not announce itself"
            time.sleep(0.1)
        base = found.url
        with httpx.Client(base_url=base, timeout=15) as http:
            r = http.get("/api/v3/ping", headers={"X-Request-Id": "log-test-1"})
            assert r.headers["x-request-id"] == "log-test-1"
            assert http.get("/readyz").json()["ready"] is True
            token = read_token(tmp_path)
            admin = {"Authorization": f"Bearer {token}", "X-Request-Id": "ops-deposit-1"}
            opened = http.post("/admin/v1/accounts/open", headers=admin, json={"name": "L"})
            account = opened.json()["account"]
            # an impossible account is refused as a client error (a sub-account needs a parent)
            orphan = http.post(
                "/admin/v1/accounts/open", headers=admin, json={"kind": "BROKER_SUB"}
            )
            assert orphan.status_code == 400 and "needs a parent" in orphan.text, orphan.text
            deposit = {"account": account, "asset": "USDT", "amount": "100", "tx_ref": "log-1"}
            assert http.post("/admin/v1/accounts/deposit", headers=admin, json=deposit).is_success
            key = http.post(
                "/admin/v1/keys/create",
                headers=admin,
                json={"account": account, "permissions": ["SPOT_WITHDRAW_WRITE"]},
            ).json()
            signer = Signer(http, key["api_key"], key["secret"])
            params = {"coin": "USDT", "netWork": "TRX", "address": "T" + "E" * 33, "amount": "7"}
            w = signer.request(
                "POST", "/api/v3/capital/withdraw", params, headers={"X-Request-Id": "wd-1"}
            )
            assert w.status_code == 200, w.text
        cli = CliRunner().invoke(
            app,
            ["audit", "--money", "--account", str(account), "--json"],
            env={k: v for k, v in env.items() if k.startswith("BOURSE_")},
        )
        assert cli.exit_code == 0, cli.stderr
        rows = json.loads(cli.stdout)
        got = [
            (r["command"], r["origin"].split(" ")[0], r["request_id"], r["amount"]) for r in rows
        ]
        assert got == [
            ("ReserveWithdrawal", f"api_key:{key['api_key']}", "wd-1", "6"),  # 1 USDT network fee
            ("CreditDeposit", "operator:operator", "ops-deposit-1", "100"),
        ], got
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    lines = [ln for ln in out.read_text().splitlines() + err.read_text().splitlines()]
    records = [json.loads(ln) for ln in lines if ln.startswith("{")]
    access = [r for r in records if r["logger"] == "uvicorn.access"]
    ping = [r for r in access if r["path"] == "/api/v3/ping"]
    assert ping and ping[0]["request_id"] == "log-test-1" and ping[0]["status"] == 200
    assert {"ts", "level", "logger", "msg", "request_id"} <= set(ping[0])
    assert any(r["request_id"] == "wd-1" for r in access)
    assert any(r["logger"].startswith("uvicorn.error") for r in records)  # startup lines too
    # nothing but the banner (rich, on a terminal's stdout) is outside JSON
    strays = [ln for ln in err.read_text().splitlines() if ln.strip() and not ln.startswith("{")]
    assert not strays, strays
