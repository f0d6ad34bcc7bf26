"""The ``bourse`` command, run as a real subprocess against a temporary SQLite database."""

from __future__ import annotations

import http.server
import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from bourse.bootstrap import open_platform
from bourse.config import Config, RateLimits
from bourse.sandbox.demo import demo_credentials, remember_url, seed_demo

TIMEOUT = 120


def bourse(
    tmp_path: Path, *args: str, check: bool = True, env_columns: str = "200"
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["BOURSE_DATABASE_URL"] = f"sqlite:///{tmp_path / 'bourse.db'}"
    env.pop("BOURSE_SECRET_KEY", None)  # use the key file next to the database
    env.pop("BOURSE_HOME", None)
    env["COLUMNS"] = env_columns
    proc = subprocess.run(
        [sys.executable, "-m", "bourse.cli", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    if check:
        assert proc.returncode == 0, proc.stderr + proc.stdout
    return proc


@pytest.fixture
def seeded(tmp_path: Path) -> dict:
    config = Config(
        database_url=f"sqlite:///{tmp_path / 'bourse.db'}", rate_limits=RateLimits.off()
    )
    with open_platform(config) as platform:
        seed_demo(platform)
        remember_url(platform, "http://127.0.0.1:18123")
        return demo_credentials(platform)


def test_demo_credentials_json(tmp_path: Path, seeded: dict) -> None:
    out = bourse(tmp_path, "demo-credentials", "--json").stdout
    data = json.loads(out)
    assert list(data) == ["url", "accounts"]
    assert data["url"] == "http://127.0.0.1:18123"
    assert list(data["accounts"]) == ["user", "api_broker", "independent_broker"]
    user = data["accounts"]["user"]
    assert list(user) == ["api_key", "secret"]
    assert all(isinstance(v, str) and v for v in user.values())
    broker = data["accounts"]["api_broker"]
    assert list(broker) == ["api_key", "secret", "bound_user_key"]
    assert broker["bound_user_key"]["api_key"] != user["api_key"]
    assert data == seeded


def test_demo_credentials_default_url(tmp_path: Path) -> None:
    with open_platform(
        Config(database_url=f"sqlite:///{tmp_path / 'bourse.db'}", rate_limits=RateLimits.off())
    ) as platform:
        seed_demo(platform)
    data = json.loads(bourse(tmp_path, "demo-credentials", "--json").stdout)
    assert data["url"] == "http://127.0.0.1:8080"
    assert set(data["accounts"]["user"]) == {"api_key", "secret"}


def _demo_at(tmp_path: Path, url: str) -> None:
    config = Config(
        database_url=f"sqlite:///{tmp_path / 'bourse.db'}", rate_limits=RateLimits.off()
    )
    with open_platform(config) as platform:
        seed_demo(platform)
        remember_url(platform, url)


def test_demo_credentials_of_a_stopped_demo_say_that_nothing_answers(tmp_path: Path) -> None:
    """With the demo stopped the credentials print the same (exit 0, stdout JSON alone), and
    one line on stderr says that no server answers at their URL: a client would otherwise only
    meet a refused connection."""
    with socket.socket() as free:  # a port nothing listens on
        free.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{free.getsockname()[1]}"
    _demo_at(tmp_path, url)
    warning = (
        f"warning: no server answers at {url}: these credentials work once the demo runs "
        "(scripts/run, or bourse serve --demo)\n"
    )
    as_json = bourse(tmp_path, "demo-credentials", "--json")
    creds = json.loads(as_json.stdout)
    assert creds["url"] == url and "user" in creds["accounts"]
    assert as_json.stderr == warning, as_json.stderr
    banner = bourse(tmp_path, "demo-credentials")
    assert creds["accounts"]["user"]["api_key"] in banner.stdout
    assert banner.stderr == warning, banner.stderr


def test_demo_credentials_say_nothing_more_when_a_server_answers(tmp_path: Path) -> None:
    """A server that answers at the URL (started with another BOURSE_HOME: no runtime file
    here) is enough: no warning."""

    class Ping(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Ping)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        _demo_at(tmp_path, f"http://127.0.0.1:{server.server_address[1]}")
        proc = bourse(tmp_path, "demo-credentials", "--json")
    finally:
        server.shutdown()
        server.server_close()
    assert proc.stderr == "" and "user" in json.loads(proc.stdout)["accounts"]


@pytest.mark.slow
def test_accounts_deposit_and_keys(tmp_path: Path) -> None:
    bourse(tmp_path, "migrate")
    acc = json.loads(bourse(tmp_path, "accounts", "open", "--json").stdout)["account"]
    out = bourse(tmp_path, "deposit", str(acc), "usdt", "1234.5").stdout
    assert "1234.5 USDT" in out
    again = bourse(tmp_path, "deposit", str(acc), "USDT", "0.5", "--tx-ref", "t1").stdout
    assert "available: 1235 USDT" in again
    dup = bourse(tmp_path, "deposit", str(acc), "USDT", "0.5", "--tx-ref", "t1").stdout
    assert "already credited" in dup and "available: 1235 USDT" in dup
    bad = bourse(tmp_path, "deposit", str(acc), "USDT", "0.123456789", check=False)
    assert bad.returncode == 1 and "decimals" in bad.stderr

    made = json.loads(
        bourse(
            tmp_path,
            "keys",
            "create",
            "--account",
            str(acc),
            "--permissions",
            "SPOT_DEAL_READ,SPOT_DEAL_W",
            "--symbols",
            "BTCUSDT",
            "--ip",
            "127.0.0.1",
            "--json",
        ).stdout
    )
    listed = json.loads(bourse(tmp_path, "keys", "list", "--account", str(acc), "--json").stdout)
    assert [k["apiKey"] for k in listed] == [made["api_key"]]
    assert listed[0]["permissions"] == ["SPOT_DEAL_READ", "SPOT_DEAL_WRITE"]
    assert listed[0]["symbols"] == ["BTCUSDT"] and listed[0]["ip"] == ["127.0.0.1"]
    text = bourse(tmp_path, "keys", "list", "--account", str(acc)).stdout
    assert made["secret"] not in text and made["secret"] not in json.dumps(listed)

    bourse(tmp_path, "keys", "delete", made["api_key"])
    assert (
        json.loads(bourse(tmp_path, "keys", "list", "--account", str(acc), "--json").stdout) == []
    )
    gone = bourse(tmp_path, "keys", "delete", made["api_key"], check=False)
    assert gone.returncode == 1

    missing = bourse(tmp_path, "keys", "create", "--account", "999999", check=False)
    assert missing.returncode == 1 and "does not exist" in missing.stderr


def test_serve_demo(tmp_path: Path) -> None:
    """`bourse serve --demo --port 0`: banner with URL and key, a live market, a working key."""
    import queue
    import re
    import threading
    import time

    import httpx

    env = dict(os.environ)
    env["BOURSE_DATABASE_URL"] = f"sqlite:///{tmp_path / 'bourse.db'}"
    env.pop("BOURSE_SECRET_KEY", None)
    env["PYTHONUNBUFFERED"] = "1"
    env["COLUMNS"] = "200"
    proc = subprocess.Popen(
        [sys.executable, "-m", "bourse.cli", "serve", "--demo", "--port", "0", "--seed", "5"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    try:
        seen = ""
        deadline = time.monotonic() + 60
        while "secret" not in seen and time.monotonic() < deadline:
            try:
                seen += lines.get(timeout=1)
            except queue.Empty:
                assert proc.poll() is None, seen
        match = re.search(r"http://127\.0\.0\.1:(\d+)", seen)
        assert match and "/openapi.json" in seen, seen
        assert "Limits" in seen and "500 per 10s per endpoint" in seen, seen  # the limits in force
        assert "Log-in" in seen and "30/60s per IP" in seen, seen  # and the credential throttle
        url = match.group(0)

        creds = json.loads(bourse(tmp_path, "demo-credentials", "--json").stdout)
        assert creds["url"] == url
        key = creds["accounts"]["user"]
        assert key["api_key"] in seen and key["secret"] in seen

        with httpx.Client(base_url=url, timeout=10) as client:
            assert client.get("/api/v3/ping").json() == {}
            assert client.get("/openapi.json").status_code == 200
            deadline = time.monotonic() + 30
            depth: dict = {}
            while time.monotonic() < deadline:
                depth = client.get("/api/v3/depth", params={"symbol": "BTCUSDT"}).json()
                if len(depth.get("bids", [])) >= 10 and len(depth.get("asks", [])) >= 10:
                    break
                time.sleep(0.3)
            assert len(depth["bids"]) >= 10 and len(depth["asks"]) >= 10, depth

        import ccxt

        ex = ccxt.mexc({"apiKey": key["api_key"], "secret": key["secret"], "timeout": 10_000})
        api = ex.urls["api"]
        api["spot"] = {"public": url, "private": url}
        api["contract"] = {"public": f"{url}/api/v1/contract", "private": f"{url}/api/v1/private"}
        balances = {b["asset"]: b["free"] for b in ex.fetch_balance()["info"]["balances"]}
        assert balances["USDT"] == "100000" and balances["BTC"] == "2"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def test_serve_refuses_a_malformed_rate_limit(tmp_path: Path) -> None:
    proc = bourse(tmp_path, "serve", "--port", "0", "--rate-limit", "lots", check=False)
    assert proc.returncode != 0
    assert "expected REQUESTS/SECONDS" in proc.stdout + proc.stderr
    proc = bourse(tmp_path, "serve", "--port", "0", "--login-limit", "0/60", check=False)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "--login-limit '0/60': expected FAILURES/SECONDS" in out and "Traceback" not in out
    assert "Traceback" not in proc.stdout + proc.stderr


def test_demo_credentials_banner_shows_the_bound_key_whole(tmp_path: Path, seeded: dict) -> None:
    """The banner a tester copies from: every key and secret whole, the bound one included."""
    out = bourse(tmp_path, "demo-credentials", env_columns="60").stdout
    bound = seeded["accounts"]["api_broker"]["bound_user_key"]
    for role in seeded["accounts"].values():
        assert role["api_key"] in out and role["secret"] in out
    assert bound["api_key"] in out and bound["secret"] in out
