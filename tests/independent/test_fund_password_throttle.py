"""Wrong fund passwords (``POST /api/v3/broker/capital/withdraw/apply`` with ``password``) are
throttled as other credential checks are (``services.throttle.CredentialThrottle``): per
sub-account and per caller IP, counted before the check, so a burst of concurrent guesses stops
at the budget; over it, MEXC's 429 with ``Retry-After`` and no password checked."""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from bourse.config import AuthLimits
from bourse.sandbox.chain import format_address
from tests.support.mexc import Signer, ok
from tests.support.platforms import IEnv, open_ienv

HOUR = 3_600_000
PASSWORD = hashlib.md5(b"fund password").hexdigest()
ELSEWHERE = format_address("tron", hashlib.sha256(b"elsewhere").digest())
APPLY = "/api/v3/broker/capital/withdraw/apply"
ARGS = {"coin": "USDT", "network": "TRX", "amount": "10", "address": ELSEWHERE}


def _sub(ienv: IEnv, master: Signer, name: str) -> Signer:
    ok(master.post("/api/v3/broker/sub-account/virtualSubAccount", subAccount=name, note="n",
                   password=PASSWORD))  # fmt: skip
    made = ok(master.post("/api/v3/broker/sub-account/apiKey", subAccount=name, note="k",
                          permissions="SPOT_ACCOUNT_READ,SPOT_WITHDRAW_WRITE"))  # fmt: skip
    ok(master.post("/api/v3/broker/sub-account/universalTransfer", toAccount=name,
                   fromAccountType="SPOT", toAccountType="SPOT", asset="USDT", amount="100"))  # fmt: skip
    return Signer(ienv.http, made["apiKey"], made["secretKey"])


def _at_once(send: Callable[[int], httpx.Response], n: int) -> list[httpx.Response]:
    barrier = threading.Barrier(n)

    def one(i: int) -> httpx.Response:
        barrier.wait()
        return send(i)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n)))


def _codes(answers: list[httpx.Response]) -> Counter[tuple[int, Any]]:
    return Counter((r.status_code, r.json().get("code")) for r in answers)


def _wrong(i: int) -> str:
    return hashlib.md5(f"guess {i}".encode()).hexdigest()


def test_wrong_fund_passwords_sent_at_once_stop_at_the_sub_accounts_budget(
    migrated_url: str, tmp_path: Any
) -> None:
    limits = AuthLimits(per_ip=(1_000, HOUR), per_account=(5, HOUR))
    gen = open_ienv(migrated_url, tmp_path, limits)
    ienv = next(gen)
    try:
        _, _, master = ienv.broker(USDT="1000")
        sub = _sub(ienv, master, "guessed01")
        other = _sub(ienv, master, "other0001")
        # a right password is given back: it spends nothing of the budget
        ok(sub.post(APPLY, password=PASSWORD, **ARGS))
        answers = _at_once(lambda i: sub.post(APPLY, password=_wrong(i), **ARGS), 20)
        assert _codes(answers) == {(400, 730002): 5, (429, 429): 15}, _codes(answers)
        assert all(int(r.headers["Retry-After"]) > 0 for r in answers if r.status_code == 429)
        r = sub.post(APPLY, password=PASSWORD, **ARGS)  # over budget: nothing is checked
        assert (r.status_code, r.json()["code"]) == (429, 429), r.text
        ok(other.post(APPLY, password=PASSWORD, **ARGS))  # another sub-account's own budget
    finally:
        gen.close()


def test_wrong_fund_passwords_count_per_caller_ip_across_sub_accounts(
    migrated_url: str, tmp_path: Any
) -> None:
    limits = AuthLimits(per_ip=(6, HOUR), per_account=(1_000, HOUR))
    gen = open_ienv(migrated_url, tmp_path, limits)
    ienv = next(gen)
    try:
        _, _, master = ienv.broker(USDT="1000")
        subs = [_sub(ienv, master, f"spread{i:04d}") for i in range(3)]
        answers = _at_once(lambda i: subs[i % 3].post(APPLY, password=_wrong(i), **ARGS), 18)
        assert _codes(answers) == {(400, 730002): 6, (429, 429): 12}, _codes(answers)
    finally:
        gen.close()
