"""Replayed signed requests that mint, rotate or reveal a credential, over HTTP on SQLite and
PostgreSQL: the same signed request sent again within its recvWindow is refused with
``{"code":26}`` and mints nothing (an API key, a sub-account, a listenKey, a once token), a
replayed secret rotation leaves the owner's new secret working, and of identical copies sent at
once exactly one is served. A captured read signed over the time window alone (ccxt's
``GET account``) is no broker write with a body outside the signature, nor a listenKey."""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from bourse.api.mexc.signing import sign
from bourse.engine.clock import now_ms
from bourse.sandbox.demo import FULL_SPOT_PERMISSIONS
from bourse.services.signed_reads import SignedReads
from tests.support.mexc import Signer, err, ok
from tests.support.platforms import Env, IEnv, open_ienv

REPLAYED = 26
SUBP = "/api/v3/broker/sub-account"
KEYS = "/api/v3/user/apiKey"
STREAM = "/api/v3/userDataStream"


@pytest.fixture
def ienv(migrated_url: str, tmp_path: Any) -> Iterator[IEnv]:
    yield from open_ienv(migrated_url, tmp_path)


def _twice(s: Signer, method: str, path: str, params: dict[str, Any] | None = None) -> Any:
    """Send one signed request, then the very same (timestamp, signature) again: the first is
    served (its JSON is returned), the copy refused as a replay."""
    ts = now_ms()
    first = ok(s.request(method, path, params, timestamp=ts, recv_window=60000))
    err(s.request(method, path, params, timestamp=ts, recv_window=60000), REPLAYED)
    return first


def _racing(s: Signer, n: int, method: str, path: str, params: dict[str, Any]) -> list[Any]:
    """The same signed request (one timestamp, so one signature) sent ``n`` times at once."""
    ts = now_ms()
    barrier = threading.Barrier(n, timeout=30)

    def one(_: int) -> httpx.Response:
        with httpx.Client(base_url=s.http.base_url, timeout=30) as http:
            mine = Signer(http, s.api_key, s.secret)
            barrier.wait()
            return mine.request(method, path, params, timestamp=ts, recv_window=60000)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n), timeout=120))


def _one_ok_rest_replayed(answers: list[httpx.Response]) -> Any:
    good = [r for r in answers if r.status_code == 200]
    assert len(good) == 1, [(r.status_code, r.text) for r in answers]
    for r in answers:
        if r is not good[0]:
            err(r, REPLAYED)
    return good[0].json()


def _own_keys(s: Signer) -> int:
    return len(ok(s.get(KEYS))["apiKeys"])


def _streams(s: Signer) -> int:
    return len(ok(s.get(STREAM))["listenKey"])


def test_replayed_credential_requests_mint_nothing(ienv: IEnv) -> None:
    user = ienv.open_account(USDT="10")
    s = ienv.signer(user, list(FULL_SPOT_PERMISSIONS))
    # a spot API key
    before = _own_keys(s)
    _twice(s, "POST", KEYS, {"permissions": "SPOT_WITHDRAW_WRITE", "note": "mine"})
    assert _own_keys(s) == before + 1
    # a listenKey (the user's private stream), and the list that reveals them
    _twice(s, "POST", STREAM)
    assert _streams(s) == 1
    _twice(s, "GET", STREAM)
    # a normal sub-account and a key for it
    plain = {"subAccount": "plain0001", "note": "n"}
    _twice(s, "POST", "/api/v3/sub-account/virtualSubAccount", plain)
    assert len(ok(s.get("/api/v3/sub-account/list"))["subAccounts"]) == 1
    mint = {"subAccount": "plain0001", "note": "k", "permissions": "SPOT_ACCOUNT_READ"}
    _twice(s, "POST", "/api/v3/sub-account/apiKey", mint)
    listed = ok(s.get("/api/v3/sub-account/apiKey", subAccount="plain0001"))["subAccount"]
    assert len(listed) == 1
    # a broker's sub-account, its key, and a once token for its web page
    _, _, master = ienv.broker("creds")
    _twice(master, "POST", f"{SUBP}/virtualSubAccount", {"subAccount": "credsub001", "note": "n"})
    mint = {"subAccount": "credsub001", "permissions": "SPOT_WITHDRAW_WRITE", "note": "k"}
    _twice(master, "POST", f"{SUBP}/apiKey", mint)
    assert len(ok(master.get(f"{SUBP}/apiKey", subAccount="credsub001"))["subAccount"]) == 1
    _twice(master, "GET", f"{SUBP}/onceToken", {"subAccount": "credsub001"})


def test_replayed_rotation_does_not_lock_the_owner_out(env: Env) -> None:
    acc = env.open_account(USDT="10")
    mgmt = env.signer(acc, list(FULL_SPOT_PERMISSIONS))
    made = ok(mgmt.post(KEYS, permissions="SPOT_ACCOUNT_READ", note="trader"))
    key = made["apiKey"]
    rotated = _twice(mgmt, "POST", f"{KEYS}/renew", {"apiKey": key, "rotateSecret": "true"})
    owner = Signer(env.http, key, rotated["secretKey"])
    ok(owner.get("/api/v3/account"))  # the owner's new secret is the key's secret
    err(Signer(env.http, key, made["secretKey"]).get("/api/v3/account"), 700002, 401)


def test_identical_credential_requests_at_once_serve_one(env: Env) -> None:
    acc = env.open_account(USDT="10")
    mgmt = env.signer(acc, list(FULL_SPOT_PERMISSIONS))
    before = _own_keys(mgmt)
    mint = {"permissions": "SPOT_ACCOUNT_READ,SPOT_WITHDRAW_WRITE", "note": "race"}
    made = _one_ok_rest_replayed(_racing(mgmt, 6, "POST", KEYS, mint))
    assert _own_keys(mgmt) == before + 1
    rotate = {"apiKey": made["apiKey"], "rotateSecret": "true"}
    rotated = _one_ok_rest_replayed(_racing(mgmt, 6, "POST", f"{KEYS}/renew", rotate))
    ok(Signer(env.http, made["apiKey"], rotated["secretKey"]).get("/api/v3/account"))
    _one_ok_rest_replayed(_racing(mgmt, 6, "POST", STREAM, {}))
    assert _streams(mgmt) == 1


def _raw(s: Signer, method: str, path: str, query: str, sig: str, body: bytes = b"") -> Any:
    headers = {"X-MEXC-APIKEY": s.api_key, "Content-Type": "application/json"}
    return s.http.request(
        method, f"{path}?{query}&signature={sig}", content=body or None, headers=headers
    )


def _spent_at_once(s: Signer, n: int, path: str, query: str, sig: str, body: bytes) -> list[Any]:
    """One captured signature resent as ``n`` POSTs of ``body`` at once."""
    barrier = threading.Barrier(n, timeout=30)

    def one(_: int) -> Any:
        with httpx.Client(base_url=s.http.base_url, timeout=30) as http:
            mine = Signer(http, s.api_key, s.secret)
            barrier.wait()
            return _raw(mine, "POST", path, query, sig, body)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n), timeout=120))


def test_captured_read_signature_is_no_broker_write(ienv: IEnv) -> None:
    """Attack: the broker reads its balance the way ccxt signs it (``timestamp&recvWindow``
    alone); whoever saw that request resends its signature on a broker write with a JSON body
    of their choosing (a withdraw-capable sub-account key), on an unbinding or on the list of
    listenKeys, as the query or as a form body: refused as a replay, however many copies race,
    and nothing is minted. A fresh signature still works. (A listenKey's creation shares the
    read's signature: ``test_a_clients_own_read_and_listen_key_in_one_millisecond_...``.)"""
    _, _, master = ienv.broker("captured")
    ok(master.post(f"{SUBP}/virtualSubAccount", subAccount="capsub0001", note="n"))
    mint = {"subAccount": "capsub0001", "permissions": "SPOT_WITHDRAW_WRITE", "note": "evil"}
    for read in ("/api/v3/account", "/api/v3/uid"):
        query = urllib.parse.urlencode({"timestamp": now_ms(), "recvWindow": 60000})
        sig = sign(master.secret, query)
        ok(_raw(master, "GET", read, query, sig))  # the victim's read
        body = json.dumps(mint).encode()
        err(_raw(master, "POST", f"{SUBP}/apiKey", query, sig, body), REPLAYED)
        for r in _spent_at_once(master, 4, f"{SUBP}/apiKey", query, sig, body):
            err(r, REPLAYED)
    assert ok(master.get(f"{SUBP}/apiKey", subAccount="capsub0001"))["subAccount"] == []
    # nor any other claimed request but a listenKey's: a key's unbinding from its broker
    # (which is for good), the list of listenKeys; nor the read's query resent as a form body,
    # which signs the same bytes
    query = urllib.parse.urlencode({"timestamp": now_ms(), "recvWindow": 60000})
    sig = sign(master.secret, query)
    ok(_raw(master, "GET", "/api/v3/account", query, sig))
    err(_raw(master, "DELETE", f"{KEYS}/bind", query, sig), REPLAYED)
    err(_raw(master, "GET", STREAM, query, sig), REPLAYED)
    form = {"X-MEXC-APIKEY": master.api_key, "Content-Type": "application/x-www-form-urlencoded"}
    as_form = f"{query}&signature={sig}".encode()
    err(master.http.request("DELETE", f"{KEYS}/bind", content=as_form, headers=form), REPLAYED)
    fresh = urllib.parse.urlencode({"timestamp": now_ms(), "recvWindow": 60000})
    r = _raw(master, "POST", f"{SUBP}/apiKey", fresh, sign(master.secret, fresh), body)
    assert ok(r)["subAccount"] == "capsub0001"


def _key(i: int) -> str:
    return f"{i:064x}"


def test_read_signatures_are_kept_until_their_window_ends_and_bounded_under_a_flood() -> None:
    """The gateway's memory of read signatures: a key is seen until its read's window ends,
    and a flood from several threads at once (the event loop and the bus's thread add keys)
    never holds more than the bound: the expired keys go first, then the oldest, and the
    newest are seen."""
    now = [1_000_000]
    reads = SignedReads(limit=1_000, clock=lambda: now[0])
    reads.add(_key(0), now[0] + 5_000, now[0])
    assert reads.seen(_key(0), now[0] + 5_000) and not reads.seen(_key(0), now[0] + 5_001)
    assert not reads.seen(_key(1), now[0])
    reads.add_shared(f"{_key(1)}:{now[0] + 60_000}")
    reads.add_shared("not a key:12")  # another gateway's unreadable message: ignored
    assert reads.seen(_key(1), now[0])
    for i in range(2, 700):  # expire within the second
        reads.add(_key(i), now[0] + 1_000, now[0])
    now[0] += 2_000  # those are past their window: a prune drops them before any live one
    barrier = threading.Barrier(4, timeout=30)

    def flood(t: int) -> None:
        barrier.wait()
        for i in range(2_500):
            key = _key(10_000 + t * 10_000 + i)
            if t % 2:
                reads.add_shared(f"{key}:{now[0] + 60_000}")
            else:
                reads.add(key, now[0] + 60_000, now[0])
            assert len(reads) <= 1_000

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(flood, range(4), timeout=120))
    assert len(reads) <= 1_000
    assert reads.dropped > 0
    assert not reads.seen(_key(5), now[0])
    newest = [_key(90_000 + i) for i in range(100)]
    for key in newest:
        reads.add(key, now[0] + 60_000, now[0])
    assert all(reads.seen(key, now[0]) for key in newest)


def test_a_clients_own_read_and_listen_key_in_one_millisecond_are_both_served(ienv: IEnv) -> None:
    """A bot next to the exchange reads its balance and asks for a listenKey within one
    millisecond: both signed over ``timestamp&recvWindow`` alone, so with one signature. The
    listenKey request carries nothing its signature does not cover: it is served (once: a copy
    of it is still refused), as the read is."""
    _, _, master = ienv.broker("samems")
    query = urllib.parse.urlencode({"timestamp": now_ms(), "recvWindow": 60000})
    sig = sign(master.secret, query)
    ok(_raw(master, "GET", "/api/v3/account", query, sig))
    assert ok(_raw(master, "POST", STREAM, query, sig))["listenKey"]
    err(_raw(master, "POST", STREAM, query, sig), REPLAYED)
    assert _streams(master) == 1
