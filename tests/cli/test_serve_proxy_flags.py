"""``bourse serve --trust-forwarded-for`` (or ``BOURSE_TRUST_FORWARDED_FOR=1``): behind a proxy,
the client IP is the last ``X-Forwarded-For`` hop, the one the proxy appended, here seen
through the public rate limit, which counts per IP; a hop the client wrote itself (before the
proxy's) changes nothing. Without the flag every request counts against the TCP peer (the
proxy) and the header changes nothing: uvicorn's own X-Forwarded-For handling, which trusts
any client connecting over loopback, is off. ``--strict-signatures`` reaches the API: ccxt's broker
write shape (a JSON body outside a signature of ``timestamp&recvWindow``) is refused (700002).
A real server process each."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from bourse.api.mexc.signing import sign
from bourse.engine.clock import now_ms
from bourse.operations.home import read_token
from bourse.operations.runtime import running_server


@contextmanager
def _serving(tmp_path: Path, *args: str, env_extra: dict[str, str] | None = None) -> Iterator[str]:
    """``bourse serve --port 0 --rate-limit 2/60 *args`` on a fresh SQLite file; its URL."""
    url = f"sqlite:///{tmp_path}/bourse.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOURSE_")}
    env.update(
        BOURSE_DATABASE_URL=url,
        BOURSE_HOME=str(tmp_path),
        BOURSE_SECRET_KEY="Tuuxnd6aTIwQYXUtHsKbGsZ7gmu2iQ4HuAFL7C7ocLU=",
        **(env_extra or {}),
    )
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "bourse.cli", "serve", "--port", "0", "--cpu", "none"]
            + ["--rate-limit", "2/60", *args],
            env=env,
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while (found := running_server(tmp_path, url)) is None:
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the server did not announce itself"
            time.sleep(0.1)
        yield found.url
    finally:
        server.terminate()
        server.wait(30)


A, B = "198.51.100.7", "198.51.100.8"


def _pings(base: str) -> list[int]:
    """As a proxy forwards them: three pings from client A, a fourth from A that wrote a hop of
    its own in front (trying to pass for another client), then one from client B."""
    with httpx.Client(base_url=base, timeout=15) as http:

        def ping(forwarded: str) -> int:
            return http.get("/api/v3/ping", headers={"X-Forwarded-For": forwarded}).status_code

        return [ping(A), ping(A), ping(A), ping(f"203.0.113.50, {A}"), ping(f"203.0.113.50, {B}")]


@pytest.mark.parametrize("how", ["flag", "env"])
def test_trusted_forwarded_for_counts_each_client(tmp_path: Path, how: str) -> None:
    args = ("--trust-forwarded-for",) if how == "flag" else ()
    extra = {"BOURSE_TRUST_FORWARDED_FOR": "1"} if how == "env" else None
    with _serving(tmp_path, *args, env_extra=extra) as base:
        assert _pings(base) == [200, 200, 429, 429, 200]  # B has a budget of its own


def test_without_it_the_header_changes_nothing(tmp_path: Path) -> None:
    with _serving(tmp_path) as base:
        assert _pings(base) == [200, 200, 429, 429, 429]  # one peer, one budget


@pytest.mark.parametrize("strict", [False, True])
def test_strict_signatures_refuse_ccxts_unsigned_broker_body(tmp_path: Path, strict: bool) -> None:
    """A plain user's key sends ccxt's shape to a broker write: the signature passes (and the
    handler refuses a non-broker) unless the server is strict, where the signature fails."""
    args = ("--strict-signatures",) if strict else ()
    with _serving(tmp_path, *args) as base, httpx.Client(base_url=base, timeout=15) as http:
        admin = {"Authorization": f"Bearer {read_token(tmp_path)}"}
        opened = http.post("/admin/v1/accounts/open", headers=admin, json={"name": "S"})
        account = opened.json()["account"]
        key = http.post(
            "/admin/v1/keys/create",
            headers=admin,
            json={"account": account, "permissions": ["SPOT_ACCOUNT_READ", "SPOT_ACCOUNT_WRITE"]},
        ).json()
        query = urllib.parse.urlencode({"timestamp": now_ms(), "recvWindow": 5000})
        r = http.post(
            f"/api/v3/broker/sub-account/virtualSubAccount?{query}"
            f"&signature={sign(key['secret'], query)}",
            content=json.dumps({"subAccount": "strictsub01", "note": "n"}).encode(),
            headers={"X-MEXC-APIKEY": key["api_key"], "Content-Type": "application/json"},
        )
        code = r.json().get("code")
        assert (code == 700002) is strict, r.text
        assert r.status_code != 200, r.text  # not a broker either way
