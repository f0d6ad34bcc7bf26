"""The sandbox controls of a running demo (``bourse serve --demo``), on SQLite and PostgreSQL:
each through the ``bourse sandbox`` command and the operator API, refused outside demo mode;
the faucet's limit under concurrency; faults as ccxt and a WebSocket client see them; a reset
while the market maker runs leaves the seed's balances and a balanced ledger.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ccxt
import httpx
import pytest
import websockets.sync.client as ws_client
from sqlalchemy import select
from websockets.exceptions import ConnectionClosed, InvalidStatus

from bourse.operations.home import read_token
from bourse.store.audit_tables import money_audit
from bourse.store.db import make_engine
from tests.support.ledger import assert_ledger_balanced
from tests.support.mexc import Signer, point_at
from tests.support.pg_pool import PgPool
from tests.support.served import Served

#: the faucet's USDT limit per account and day on the demo under test
USDT_LIMIT = 1000


@dataclass
class Demo(Served):
    args: tuple[str, ...] = ()

    def env(self, **extra: str) -> dict[str, str]:
        return super().env(COLUMNS="120", **extra)

    def cli_json(self, *args: str) -> Any:
        return json.loads(self.cli(*args, "--json"))

    def start(self, *args: str) -> None:
        super().start(*self.args, *args)

    def admin(self, verb: str, **params: Any) -> httpx.Response:
        token = read_token(self.home)
        return httpx.post(
            f"{self.base}/admin/v1/sandbox/{verb}",
            json=params,
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )

    def mexc(self, role: str = "user") -> Any:
        creds = self.cli_json("demo-credentials")["accounts"][role]
        exchange = ccxt.mexc(
            {"apiKey": creds["api_key"], "secret": creds["secret"], "timeout": 15_000}
        )
        point_at(exchange, self.base)
        return exchange


def _demo(backend: str, root: Path, pg: PgPool | None, *args: str) -> Demo:
    home = root / ".bourse"
    home.mkdir(parents=True)
    url = f"sqlite:///{home / 'bourse.db'}" if pg is None else pg.empty()
    return Demo(url, home, args=args)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def demo(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Demo]:
    pg = request.getfixturevalue("pg_pool") if request.param == "postgresql" else None
    root = tmp_path_factory.mktemp(f"sandbox-{request.param}")
    d = _demo(
        request.param, root, pg, "--demo", "--seed", "7", "--faucet-limit", f"USDT={USDT_LIMIT}"
    )
    d.start()
    try:
        yield d
    finally:
        d.stop()
        if pg is not None:
            pg.release(d.url)


def _account(demo: Demo, name: str, *extra: str) -> int:
    return int(demo.cli_json("accounts", "open", "--name", name, *extra)["account"])


def _mid(demo: Demo, symbol: str = "BTCUSDT") -> float:
    """The book's mid (0 while a side is empty: the maker re-quotes it within a cycle)."""
    r = httpx.get(f"{demo.base}/api/v3/ticker/bookTicker", params={"symbol": symbol}, timeout=10)
    r.raise_for_status()
    t = r.json()
    if not t["bidPrice"] or not t["askPrice"]:
        return 0.0
    return (float(t["bidPrice"]) + float(t["askPrice"])) / 2


def _wait(check: Any, seconds: float = 15.0, what: str = "") -> Any:
    deadline = time.monotonic() + seconds
    while True:
        got = check()
        if got:
            return got
        assert time.monotonic() < deadline, f"not within {seconds} s: {what}"
        time.sleep(0.2)


# --- chain deposits ------------------------------------------------------------------------
def test_chain_deposit_says_what_happened_in_one_line_and_json_on_demand(demo: Demo) -> None:
    acc = str(_account(demo, "chain depositor"))
    sent = demo.cli("chain-deposit", "USDT", "30", "--account", acc)
    found = re.fullmatch(
        r"sent 30 USDT to \S+ \(\w+, tx \w+, \d+/(\d+) confirmations\): credited after \1\n",
        sent,
    )
    assert found, sent
    done = demo.cli("chain-deposit", "USDT", "20", "--account", acc, "--confirm")
    assert re.fullmatch(r"credited 20 USDT to \S+ \(\w+, tx \w+, (\d+)/\1 confirmations\)\n", done)
    dep = demo.cli_json("chain-deposit", "USDT", "10", "--account", acc, "--confirm")
    assert dep["credited"] is True and dep["amount"] == "10" and dep["status"] == 5
    # a refusal is its message alone (not the JSON it came in), as bourse deposit says it
    for account, said in [
        ("999999", "account 999999 does not exist"),
        ("3", "account 3 cannot receive deposits"),  # a system account
    ]:
        err = demo.cli("chain-deposit", "USDT", "100", "--account", account, code=1)
        assert err == f"error: {said}\n", err
    assert demo.cli("deposit", "999999", "USDT", "100", code=1) == (
        "error: account 999999 does not exist\n"
    )


# --- the faucet ----------------------------------------------------------------------------
def test_faucet_request_ids_and_configured_limit(demo: Demo) -> None:
    master = _account(demo, "faucet master", "--kind", "BROKER_MASTER")
    sub = _account(demo, "faucet sub", "--kind", "BROKER_SUB", "--parent", str(master))
    out = demo.cli("sandbox", "faucet", str(sub), "usdt", "250", "--request-id", "f-1")
    assert "credited 250 USDT" in out and "available 250;" in out
    again = demo.cli_json("sandbox", "faucet", str(sub), "USDT", "250", "--request-id", "f-1")
    assert again["credited"] is False and again["available"] == "250"  # once per request id
    other = demo.cli("sandbox", "faucet", str(sub), "USDT", "1", "--request-id", "f-1", code=1)
    # the same id for another grant is refused, in the words of what was sent
    assert other == "error: request id 'f-1' was already used with another asset or amount\n"
    r = demo.admin("faucet", account=sub, asset="USDT", amount="700", request_id="f-2")
    assert r.status_code == 200 and r.json()["remaining"] == "50"  # --faucet-limit USDT=1000
    over = demo.cli("sandbox", "faucet", str(sub), "USDT", "51", code=1)
    assert "50 USDT left" in over and "Traceback" not in over
    assert demo.admin("faucet", account=sub, asset="USDT", amount="51").status_code == 429
    # a retry of a request granted before the cap was reached still answers its first result
    assert (
        demo.cli_json("sandbox", "faucet", str(sub), "USDT", "700", "--request-id", "f-2")[
            "credited"
        ]
        is False
    )
    # the limit is per account: the master still gets its own
    assert demo.cli_json("sandbox", "faucet", str(master), "USDT", "1000")["credited"]
    assert "unknown asset DOGE" in demo.cli("sandbox", "faucet", str(sub), "DOGE", "1", code=1)


def test_a_key_funds_its_own_account(demo: Demo) -> None:
    """``POST /sandbox/faucet``, signed: the key's own account, the same caps and request ids."""
    acc = _account(demo, "self-service")
    key = demo.cli_json(
        "keys", "create", "--account", str(acc), "--permissions", "SPOT_ACCOUNT_READ"
    )
    with httpx.Client(base_url=demo.base, timeout=10) as http:
        signer = Signer(http, key["api_key"], key["secret"])
        first = signer.post("/sandbox/faucet", asset="USDT", amount="600", requestId="mine-1")
        assert first.status_code == 200, first.text
        assert first.json()["available"] == "600" and first.json()["remaining"] == "400"
        again = signer.post("/sandbox/faucet", asset="USDT", amount="600", requestId="mine-1")
        assert again.json()["credited"] is False and again.json()["available"] == "600"
        over = signer.post("/sandbox/faucet", asset="USDT", amount="600")
        assert over.status_code == 400 and over.json()["code"] == 26
        unsigned = http.post("/sandbox/faucet", params={"asset": "USDT", "amount": "1"})
        assert unsigned.status_code in (400, 401) and "code" in unsigned.json()


def test_faucet_limit_holds_under_concurrency(demo: Demo) -> None:
    acc = _account(demo, "faucet race")

    def grab(i: int) -> int:
        # a busy machine may answer 503 (busy store): a retry with the same request id is safe
        for _ in range(5):
            r = demo.admin("faucet", account=acc, asset="USDT", amount="70", request_id=f"r{i}")
            if r.status_code in (200, 429):
                return r.status_code
            time.sleep(0.5)
        return r.status_code

    with ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(grab, range(40)))
    fits = USDT_LIMIT // 70
    assert codes.count(200) == fits and codes.count(429) == 40 - fits, codes
    granted = codes.index(200)  # asked again, a granted request answers the balance
    bal = demo.admin("faucet", account=acc, asset="USDT", amount="70", request_id=f"r{granted}")
    assert bal.json()["credited"] is False and bal.json()["available"] == str(70 * fits)


# --- the market maker ----------------------------------------------------------------------
def test_price_path_replay_pause_resume(demo: Demo, tmp_path: Path) -> None:
    demo.cli("sandbox", "price", "BTCUSDT", "66000")
    _wait(lambda: 65_000 < _mid(demo) < 67_000, what="BTCUSDT near 66000")
    r = demo.admin("path", symbol="ETHUSDT", points=["0:3000", "2:3300"])
    assert r.status_code == 200, r.text
    _wait(lambda: 3_250 < _mid(demo, "ETHUSDT") < 3_350, what="ETHUSDT near 3300")
    status = demo.cli_json("sandbox", "status")
    assert {s["symbol"]: s["mode"] for s in status["symbols"]}["BTCUSDT"] == "walk"
    drift = demo.cli_json("sandbox", "path", "MXUSDT", "--drift", "10", "--volatility", "5")
    assert {s["symbol"]: s["mode"] for s in drift["symbols"]}["MXUSDT"] == "drift"

    csv = tmp_path / "trades.csv"
    csv.write_text(
        "timestamp,price,qty,side\n"
        "1700000000000,67000,0.01,BUY\n1700000001000,67100,0.02,SELL\n1700000002000,67200,0.01,BUY\n"
    )
    out = demo.cli_json("sandbox", "replay", "BTCUSDT", str(csv), "--speed", "4")
    assert out == {"symbol": "BTCUSDT", "trades": 3, "seconds": 0.5}

    def printed() -> bool:
        trades = httpx.get(
            f"{demo.base}/api/v3/trades", params={"symbol": "BTCUSDT", "limit": 50}
        ).json()
        return any(abs(float(t["price"]) - 67_200) <= 100 for t in trades)

    _wait(printed, what="the replayed trades printed")
    assert "line 1: side must be BUY or SELL" in demo.cli(
        "sandbox", "replay", "BTCUSDT", str(_bad_csv(tmp_path)), code=1
    )

    assert demo.admin("pause").json() == {"paused": True}
    assert demo.admin("status").json()["paused"] is True
    assert demo.cli_json("sandbox", "pause") == {"paused": True}
    time.sleep(1)  # a cycle that was running has ended
    before = httpx.get(f"{demo.base}/api/v3/depth", params={"symbol": "BTCUSDT"}).json()
    time.sleep(2)
    after = httpx.get(f"{demo.base}/api/v3/depth", params={"symbol": "BTCUSDT"}).json()
    assert before["lastUpdateId"] == after["lastUpdateId"]  # nothing quoted while paused
    assert demo.cli_json("sandbox", "status")["paused"] is True
    assert demo.admin("resume").json() == {"paused": False}
    _wait(
        lambda: (
            httpx.get(f"{demo.base}/api/v3/depth", params={"symbol": "BTCUSDT"}).json()[
                "lastUpdateId"
            ]
            != after["lastUpdateId"]
        ),
        what="quotes again after resume",
    )
    assert "unknown symbol NOPE" in demo.cli("sandbox", "price", "NOPE", "1", code=1)


def _bad_csv(tmp_path: Path) -> Path:
    bad = tmp_path / "bad.csv"
    bad.write_text("1700000000000,67000,0.01,SIDEWAYS\n")
    return bad


# --- faults --------------------------------------------------------------------------------
def test_faults_as_ccxt_sees_them(demo: Demo) -> None:
    ex = demo.mexc()
    ex.load_markets()
    ticker = "/api/v3/ticker/24hr"
    added = demo.cli_json(
        "sandbox", "fault", ticker, "throttle", "--retry-after", "7", "--for", "30"
    )
    r = httpx.get(demo.base + ticker, params={"symbol": "BTCUSDT"})
    assert r.status_code == 429 and r.headers["retry-after"] == "7" and r.json()["code"] == 429
    with pytest.raises(ccxt.RateLimitExceeded):
        ex.fetch_ticker("BTC/USDT")
    assert [f["id"] for f in demo.cli_json("sandbox", "faults")] == [added["id"]]
    assert demo.cli_json("sandbox", "clear", "--id", str(added["id"])) == {"cleared": 1}
    assert ex.fetch_ticker("BTC/USDT")["symbol"] == "BTC/USDT"

    assert (
        demo.admin("fault", path="/api/v3/*", kind="maintenance", duration_s=30).status_code == 200
    )
    with pytest.raises(ccxt.OnMaintenance):
        ex.fetch_balance()
    assert httpx.get(demo.base + "/api/v3/ping").status_code == 503
    assert demo.admin("clear").json() == {"cleared": 1}

    demo.cli("sandbox", "fault", ticker, "latency", "--latency-ms", "1500", "--for", "30")
    t0 = time.monotonic()
    ex.fetch_ticker("BTC/USDT")
    assert time.monotonic() - t0 >= 1.5
    with pytest.raises(ccxt.RequestTimeout):  # a client with a shorter timeout gives up
        slow = demo.mexc()
        slow.timeout = 500
        slow.markets, slow.markets_by_id = ex.markets, ex.markets_by_id
        slow.fetch_ticker("BTC/USDT")
    assert demo.cli_json("sandbox", "clear", "--path", ticker) == {"cleared": 1}
    t0 = time.monotonic()
    ex.fetch_ticker("BTC/USDT")
    assert time.monotonic() - t0 < 1.5

    demo.cli(
        "sandbox", "fault", ticker, "error", "--rate", "0.5", "--code", "10072", "--status", "400"
    )
    statuses = [
        httpx.get(demo.base + ticker, params={"symbol": "BTCUSDT"}).status_code for _ in range(60)
    ]
    assert 10 <= statuses.count(400) <= 50 and statuses.count(400) + statuses.count(200) == 60
    demo.cli("sandbox", "clear")

    # bounded: a fault expires by itself
    demo.cli("sandbox", "fault", ticker, "throttle", "--for", "1")
    assert httpx.get(demo.base + ticker, params={"symbol": "BTCUSDT"}).status_code == 429
    _wait(lambda: httpx.get(demo.base + ticker, params={"symbol": "BTCUSDT"}).status_code == 200, 5)
    assert demo.cli_json("sandbox", "faults") == []
    assert "kind 'slow'" in demo.cli("sandbox", "fault", ticker, "slow", code=1)


def test_dropped_websocket_connections(demo: Demo) -> None:
    ws_url = demo.base.replace("http://", "ws://") + "/ws"
    with ws_client.connect(ws_url, open_timeout=10) as conn:
        conn.send(json.dumps({"method": "PING"}))
        assert "PONG" in str(conn.recv(timeout=10))
        demo.cli("sandbox", "fault", "/ws", "drop_ws", "--for", "30")
        with pytest.raises(ConnectionClosed):
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                conn.recv(timeout=1)
    with pytest.raises(InvalidStatus):  # refused while the fault lasts
        ws_client.connect(ws_url, open_timeout=10)
    demo.cli("sandbox", "clear")
    with ws_client.connect(ws_url, open_timeout=10) as conn:
        conn.send(json.dumps({"method": "PING"}))
        assert "PONG" in str(conn.recv(timeout=10))


# --- reset ---------------------------------------------------------------------------------
def test_reset_while_the_market_maker_runs(demo: Demo) -> None:
    acc = _account(demo, "resettable")
    demo.cli("sandbox", "faucet", str(acc), "USDT", "100")
    user = demo.mexc()
    user.load_markets()
    user.create_order("BTC/USDT", "limit", "buy", 0.001, 50_000)  # rests below the market
    assert user.fetch_open_orders("BTC/USDT")
    demo.cli("sandbox", "price", "BTCUSDT", "61000")

    stop = threading.Event()
    seen: list[tuple[int, Any]] = []

    def hammer() -> None:  # a client calling through the reset: MEXC answers, never a 500
        with httpx.Client(base_url=demo.base, timeout=10) as http:
            while not stop.is_set() and len(seen) < 2000:
                r = http.get("/api/v3/depth", params={"symbol": "BTCUSDT", "limit": 5})
                seen.append((r.status_code, r.json()))

    t = threading.Thread(target=hammer)
    t.start()
    try:
        time.sleep(0.5)
        out = demo.cli_json("sandbox", "reset")
        time.sleep(0.3)
    finally:
        stop.set()
        t.join(10)
    assert out["cancelled_orders"] >= 1 and out["balances_reset"] >= 1
    assert all(code in (200, 503) for code, _ in seen), {c for c, _ in seen}
    assert all(body["code"] == 801 for code, body in seen if code == 503)
    assert user.fetch_open_orders("BTC/USDT") == []
    bal = user.fetch_balance()
    assert bal["USDT"]["total"] == 100_000 and bal["BTC"]["total"] == 2  # the demo seed
    assert demo.admin("faucet", account=acc, asset="USDT", amount="1").json()["available"] == "1"
    _wait(lambda: _mid(demo) > 0, what="the market maker quotes again")
    demo.cli("sandbox", "pause")
    try:
        time.sleep(1)
        assert_ledger_balanced(demo.url)
        assert "ledger sound" in demo.cli("check")
        moved = _money_audit(demo.url, "ResetBalances")
        assert moved and moved[-1]["origin"].startswith("operator:operator (")
        audit = demo.cli_json("audit", "--operation", "sandbox.reset")
        assert audit and audit[0]["outcome"] == "ok" and audit[0]["source"] == "127.0.0.1"
    finally:
        demo.cli("sandbox", "resume")


def _money_audit(url: str, command: str) -> list[dict[str, Any]]:
    db = make_engine(url)
    try:
        with db.connect() as conn:
            q = select(money_audit).where(money_audit.c.command == command)
            return [dict(r) for r in conn.execute(q.order_by(money_audit.c.id)).mappings()]
    finally:
        db.dispose()


# --- outside demo mode ---------------------------------------------------------------------
@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def plain(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Demo]:
    pg = request.getfixturevalue("pg_pool") if request.param == "postgresql" else None
    d = _demo(request.param, tmp_path_factory.mktemp(f"plain-{request.param}"), pg)
    d.start()
    try:
        yield d
    finally:
        d.stop()
        if pg is not None:
            pg.release(d.url)


COMMANDS = [
    ("faucet", "100", "USDT", "1"),
    ("status",),
    ("price", "BTCUSDT", "1"),
    ("path", "BTCUSDT", "0:1"),
    ("pause",),
    ("resume",),
    ("fault", "/api/*", "maintenance"),
    ("faults",),
    ("clear",),
    ("reset",),
]


def test_refused_outside_demo_mode(plain: Demo) -> None:
    for args in COMMANDS:
        err = plain.cli("sandbox", *args, code=1)
        assert "only in demo mode" in err and "Traceback" not in err, args
    r = plain.admin("reset")
    assert r.status_code == 403 and "only in demo mode" in r.json()["msg"]
    plain.stop()  # with no server, no sandbox runs at all: the command says so
    try:
        err = plain.cli("sandbox", "faucet", "100", "USDT", "1", code=1)
        assert "no server runs for" in err and "bourse serve --demo" in err, err
    finally:
        plain.start()
