"""Many simultaneous transfers and withdrawals against one sub-account's balance (HTTP, threads,
the engine thread running): nothing overdraws, nothing is spent twice, and a retried
``clientTranId`` moves money once."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import httpx
import pytest

from bourse.domain.money import to_units
from bourse.sandbox.chain import ChainConfig, format_address
from tests.support.mexc import Signer, ok
from tests.support.platforms import IEnv
from tests.support.wallet import with_default_network, with_fee, with_network

SUBP = "/api/v3/broker/sub-account"
SPOT = {"fromAccountType": "SPOT", "toAccountType": "SPOT"}
THREADS = 16


def _bal(ienv: IEnv, account: int, asset: str = "USDT") -> tuple[int, int]:
    return ienv.platform.engine.read(
        lambda e: (
            e.exchange.ledger.available(account, asset),
            e.exchange.ledger.locked(account, asset),
        )
    )


def _halves(
    send: Callable[[str], httpx.Response], odd: str, even: str
) -> list[tuple[str, httpx.Response]]:
    """``send(odd)`` from half of ``THREADS`` threads and ``send(even)`` from the others, all
    released at once: (what each sent, its answer)."""
    barrier = threading.Barrier(THREADS)

    def race(i: int) -> tuple[str, httpx.Response]:
        sent = odd if i % 2 else even
        barrier.wait()
        return sent, send(sent)

    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(race, range(THREADS)))


def test_racing_transfers_and_withdrawals_never_overdraw(ienv: IEnv) -> None:
    _, master_acc, master = ienv.broker("Racer", USDT="10000")
    a_id, a = ienv.sub(master, "racer0001")
    b_id, _ = ienv.sub(master, "racer0002")
    ok(
        master.post(
            f"{SUBP}/universalTransfer", toAccount="racer0001", asset="USDT", amount="100", **SPOT
        )
    )
    addr = ok(a.post("/api/v3/broker/capital/deposit/subAddress", coin="USDT", network="TRX"))
    other = format_address("tron", hashlib.sha256(b"outside world").digest())
    assert addr["address"] != other

    start = threading.Barrier(THREADS)
    results: list[tuple[str, int, Any]] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        start.wait()
        for k in range(6):
            kind = (n + k) % 3
            if kind == 0:
                r = master.post(
                    f"{SUBP}/universalTransfer",
                    fromAccount="racer0001",
                    toAccount="racer0002",
                    asset="USDT",
                    amount="3",
                    clientTranId=f"t{n:03d}{k:03d}",
                    **SPOT,
                )
                what = "sub"
            elif kind == 1:
                r = master.post(
                    f"{SUBP}/universalTransfer",
                    fromAccount="racer0001",
                    asset="USDT",
                    amount="2",
                    clientTranId=f"m{n:03d}{k:03d}",
                    **SPOT,
                )
                what = "master"
            else:
                r = a.post(
                    "/api/v3/broker/capital/withdraw/apply",
                    coin="USDT",
                    network="TRX",
                    address=other,
                    amount="6",
                    remark=f"w{n:03d}{k:03d}",  # the same request twice would be a replay
                )
                what = "withdraw"
            with lock:
                results.append((what, r.status_code, r.json()))

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(worker, range(THREADS)))
    assert len(results) == THREADS * 6
    won = {"sub": 0, "master": 0, "withdraw": 0}
    for what, status, body in results:
        if status == 200:
            won[what] += 1
        else:
            assert status == 400 and body["code"] in (10101,), body  # Insufficient balance
    spent = Decimal(3) * won["sub"] + Decimal(2) * won["master"] + Decimal(6) * won["withdraw"]
    assert spent <= 100 and any(s != 200 for _, s, _ in results)  # some had to be refused
    avail, locked = _bal(ienv, a_id)
    assert avail >= 0 and locked == to_units("6", 8) * won["withdraw"]
    assert avail + locked == to_units(str(100 - spent + 6 * won["withdraw"]), 8)
    assert _bal(ienv, b_id) == (to_units(str(3 * won["sub"]), 8), 0)
    rows = ok(
        master.get(f"{SUBP}/universalTransfer", fromAccount="racer0001", toAccount="*", **SPOT)
    )
    assert len(rows) == won["sub"] + won["master"]
    ienv.platform.engine.read(lambda e: e.exchange.ledger.check())
    # the chain pays the withdrawals out: the reserve becomes the payout, nothing more
    for _ in range(4):
        ienv.platform.chain.advance(5)
    assert _bal(ienv, a_id) == (avail, 0)
    hist = ok(a.get("/api/v3/capital/withdraw/history"))
    assert len(hist) == won["withdraw"] and all(h["status"] == 7 for h in hist)
    assert master_acc != a_id


def test_retried_client_tran_id_moves_once(ienv: IEnv) -> None:
    _, _, master = ienv.broker("Retrier", USDT="1000")
    a_id, _ = ienv.sub(master, "retry0001")
    b_id, _ = ienv.sub(master, "retry0002")
    ok(
        master.post(
            f"{SUBP}/universalTransfer", toAccount="retry0001", asset="USDT", amount="50", **SPOT
        )
    )
    params = {
        "fromAccount": "retry0001",
        "toAccount": "retry0002",
        "asset": "USDT",
        "amount": "5",
        "clientTranId": "a" * 32,
        **SPOT,
    }
    barrier = threading.Barrier(THREADS)

    def send(_: int) -> httpx.Response:
        barrier.wait()
        return master.post(f"{SUBP}/universalTransfer", **params)

    with ThreadPoolExecutor(THREADS) as pool:
        answers = list(pool.map(send, range(THREADS)))
    ids = {ok(r)["tranId"] for r in answers}
    assert len(ids) == 1
    assert _bal(ienv, a_id) == (to_units("45", 8), 0)
    assert _bal(ienv, b_id) == (to_units("5", 8), 0)
    # the same id with other parameters is refused, not applied
    r = master.post(f"{SUBP}/universalTransfer", **{**params, "amount": "6"})
    assert r.status_code == 400
    assert _bal(ienv, b_id) == (to_units("5", 8), 0)
    rows = ok(
        master.get(
            f"{SUBP}/universalTransfer",
            fromAccount="retry0001",
            toAccount="retry0002",
            clientTranId="a" * 32,
            **SPOT,
        )
    )
    assert [x["tranId"] for x in rows] == list(ids)


def test_retried_withdraw_order_id_reserves_once(ienv: IEnv) -> None:
    _, _, master = ienv.broker("Withdrawer", USDT="1000")
    a_id, a = ienv.sub(master, "wretry001")
    ok(
        master.post(
            f"{SUBP}/universalTransfer", toAccount="wretry001", asset="USDT", amount="100", **SPOT
        )
    )
    address = format_address("tron", hashlib.sha256(b"retry target").digest())
    barrier = threading.Barrier(THREADS)

    def send(_: int) -> httpx.Response:
        barrier.wait()
        return a.post(
            "/api/v3/broker/capital/withdraw/apply",
            coin="USDT",
            network="TRX",
            address=address,
            amount="30",
            withdrawOrderId="w-retry-1",
        )

    with ThreadPoolExecutor(THREADS) as pool:
        ids = {ok(r)["id"] for r in pool.map(send, range(THREADS))}
    assert len(ids) == 1
    assert _bal(ienv, a_id) == (to_units("70", 8), to_units("30", 8))


def test_racing_retries_with_other_remarks_reserve_once_under_one_remark(ienv: IEnv) -> None:
    """The same ``withdrawOrderId`` sent at once with two remarks: one request reserves, its
    copies with the same remark get its id, the others the conflict of any other differing
    parameter; the remark kept is the one of the requests that got the id."""
    _, _, master = ienv.broker("Remarker", USDT="1000")
    a_id, a = ienv.sub(master, "wremark01")
    ok(
        master.post(
            f"{SUBP}/universalTransfer", toAccount="wremark01", asset="USDT", amount="100", **SPOT
        )
    )
    address = format_address("tron", hashlib.sha256(b"remark target").digest())
    barrier = threading.Barrier(THREADS)

    def send(i: int) -> tuple[str, httpx.Response]:
        remark = "ab"[i % 2]
        barrier.wait()
        return remark, a.post(
            "/api/v3/broker/capital/withdraw/apply",
            coin="USDT",
            network="TRX",
            address=address,
            amount="30",
            withdrawOrderId="w-remark-1",
            remark=remark,
        )

    with ThreadPoolExecutor(THREADS) as pool:
        answers = list(pool.map(send, range(THREADS)))
    won = {remark for remark, r in answers if r.status_code == 200}
    assert len(won) == 1, [(remark, r.text) for remark, r in answers]
    assert len({r.json()["id"] for _, r in answers if r.status_code == 200}) == 1
    for remark, r in answers:
        if remark not in won:
            assert (r.status_code, r.json()["code"]) == (400, 33333), r.text
            assert "withdrawOrderId 'w-remark-1' was already used" in r.json()["msg"]
    assert _bal(ienv, a_id) == (to_units("70", 8), to_units("30", 8))
    rows = ok(a.get("/api/v3/capital/withdraw/history", coin="USDT"))
    assert [(x["withdrawOrderId"], x["remark"]) for x in rows] == [("w-remark-1", won.pop())]


def test_racing_retries_after_a_fee_change_get_the_first_withdrawal(ienv: IEnv) -> None:
    """A withdrawal reserved at one fee, then the network's fee changes: 16 copies of the
    request sent at once (half with another amount) move nothing more; the identical ones get
    the first id, the others the conflict of a differing parameter."""
    _, _, master = ienv.broker("Feechange", USDT="1000")
    a_id, a = ienv.sub(master, "wfee00001")
    ok(
        master.post(
            f"{SUBP}/universalTransfer", toAccount="wfee00001", asset="USDT", amount="100", **SPOT
        )
    )
    address = format_address("tron", hashlib.sha256(b"fee target").digest())

    def send(amount: str) -> httpx.Response:
        return a.post(
            "/api/v3/broker/capital/withdraw/apply",
            coin="USDT",
            network="TRX",
            address=address,
            amount=amount,
            withdrawOrderId="w-fee-1",
            remark="rent",
        )

    first = ok(send("30"))["id"]
    # the operator changes the TRX fee of USDT (what the wallet reads from its chain adapter)
    ienv.platform.chain.config = with_fee("USDT", "TRX", "2.5")
    nets = {
        n["netWork"]: n["withdrawFee"]
        for c in ok(a.get("/api/v3/capital/config/getall"))
        if c["coin"] == "USDT"
        for n in c["networkList"]
    }
    assert nets["TRX"] == "2.5", nets
    answers = _halves(send, "30", "31")
    for amount, r in answers:
        if amount == "30":
            assert ok(r)["id"] == first
        else:
            assert (r.status_code, r.json()["code"]) == (400, 33333), r.text
    assert _bal(ienv, a_id) == (to_units("70", 8), to_units("30", 8))
    rows = ok(a.get("/api/v3/capital/withdraw/history", coin="USDT"))
    assert [(x["id"], x["transactionFee"], x["remark"]) for x in rows] == [(first, "1", "rent")]


def test_racing_retries_with_and_without_a_contract_address_reserve_once(ienv: IEnv) -> None:
    """``contractAddress`` is one of a withdrawal's parameters: the same ``withdrawOrderId``
    sent at once with and without it reserves once, and the variant that lost gets the
    conflict. One that is not the coin's contract on the network is refused in MEXC's shape."""
    acc = ienv.open_account(USDT="100")
    s = ienv.signer(acc, ["SPOT_WITHDRAW_READ", "SPOT_WITHDRAW_WRITE"], ip_whitelist=["127.0.0.1"])
    address = format_address("evm", hashlib.sha256(b"contract target").digest())
    trc20 = ienv.platform.wallet.network(ienv.platform.wallet.asset("USDT"), "TRX").contract
    erc20 = ienv.platform.wallet.network(ienv.platform.wallet.asset("USDT"), "ETH").contract
    common = dict(coin="USDT", netWork="ETH", address=address, amount="30")
    r = s.post("/api/v3/capital/withdraw", contractAddress=trc20, **common)
    assert (r.status_code, r.json()["code"]) == (400, 33333), r.text
    assert r.json()["msg"] == f"contractAddress {trc20!r} is not the contract of USDT on ETH"
    barrier = threading.Barrier(THREADS)

    def send(i: int) -> tuple[bool, httpx.Response]:
        named = i % 2 == 0
        extra = {"contractAddress": erc20} if named else {}
        barrier.wait()
        return named, s.post("/api/v3/capital/withdraw", withdrawOrderId="w-c-1", **common, **extra)

    with ThreadPoolExecutor(THREADS) as pool:
        answers = list(pool.map(send, range(THREADS)))
    won = {named for named, r in answers if r.status_code == 200}
    assert len(won) == 1, [(named, r.text) for named, r in answers]
    assert len({r.json()["id"] for _, r in answers if r.status_code == 200}) == 1
    for named, r in answers:
        if named not in won:
            assert (r.status_code, r.json()["code"]) == (400, 33333), r.text
            assert "withdrawOrderId 'w-c-1' was already used" in r.json()["msg"]
    assert _bal(ienv, acc) == (to_units("70", 8), to_units("30", 8))


def _unlist(ienv: IEnv, account: int, address: str) -> None:
    assert ienv.platform.wallet.remove_whitelist(account, "USDT", "TRX", address) == 1


def _reconfigure(config: ChainConfig) -> Callable[[IEnv, int, str], None]:
    """The operator configures the chain's networks anew (what the wallet reads them from)."""

    def apply(ienv: IEnv, _account: int, _address: str) -> None:
        ienv.platform.chain.config = config

    return apply


#: what changes after a withdrawal was accepted (the operator's network settings, the user's
#: whitelist), and the refusal of a new withdrawal after it: (MEXC code, message)
RACE_CHANGES: dict[str, tuple[Callable[[IEnv, int, str], None], int, str]] = {
    "fee-above-amount": (
        _reconfigure(with_network("USDT", "TRX", withdraw_fee="40")),
        10097,
        "amount is below the minimum withdrawal of this network",
    ),
    "minimum-raised": (
        _reconfigure(with_network("USDT", "TRX", withdraw_min="50")),
        10097,
        "amount is below the minimum withdrawal of this network",
    ),
    "withdrawals-disabled": (
        _reconfigure(with_network("USDT", "TRX", withdraw_enable=False)),
        10206,
        "withdrawals of USDT on TRX are suspended",
    ),
    "whitelist-entry-removed": (
        _unlist,
        10212,
        "withdrawal address is not in the common-address list",
    ),
    "default-network-changed": (
        _reconfigure(with_default_network("USDT", "ETH")),
        10212,
        "address is not a valid Ethereum(ERC20) address",
    ),
}


@pytest.mark.parametrize("change", RACE_CHANGES)
def test_racing_retries_get_the_first_withdrawal_whatever_changed_since(
    ienv: IEnv, change: str
) -> None:
    """A withdrawal accepted, then a network setting or the whitelist changes so that the
    same request would now be refused: 16 requests sent at once, half the identical retry,
    half a new ``withdrawOrderId``, move nothing more. Every retry gets the first id (the
    engine looks the id up before the wallet's refusal counts), every new one the refusal a
    new withdrawal meets, in MEXC's shape."""
    apply, code, msg = RACE_CHANGES[change]
    acc = ienv.open_account(USDT="100")
    s = ienv.signer(acc, ["SPOT_WITHDRAW_READ", "SPOT_WITHDRAW_WRITE"], ip_whitelist=["127.0.0.1"])
    address = format_address("tron", hashlib.sha256(b"changed target").digest())
    for listed in (address, format_address("tron", hashlib.sha256(b"other").digest())):
        ienv.platform.wallet.add_whitelist(acc, "USDT", "TRX", listed)

    def send(client_id: str) -> httpx.Response:  # no network: the coin's default one
        return s.post(
            "/api/v3/capital/withdraw",
            coin="USDT",
            address=address,
            amount="30",
            withdrawOrderId=client_id,
            remark="rent",
        )

    first = ok(send("w-chg-1"))["id"]
    apply(ienv, acc, address)
    answers = _halves(send, "w-chg-1", "w-chg-2")
    for client_id, r in answers:
        if client_id == "w-chg-1":
            assert ok(r)["id"] == first
        else:
            assert (r.status_code, r.json()) == (400, {"code": code, "msg": msg}), r.text
    assert _bal(ienv, acc) == (to_units("70", 8), to_units("30", 8))
    rows = ok(s.get("/api/v3/capital/withdraw/history", coin="USDT"))
    assert [(x["id"], x["withdrawOrderId"], x["network"]) for x in rows] == [
        (first, "w-chg-1", "TRX")
    ], rows


def _funded_sub(ienv: IEnv, broker: str, name: str) -> tuple[int, Signer, Signer]:
    """A broker's sub-account holding 100 USDT: (its account, the master's signer, its own)."""
    _, _, master = ienv.broker(broker, USDT="1000")
    sub_id, sub = ienv.sub(master, name)
    ok(master.post(f"{SUBP}/universalTransfer", toAccount=name, asset="USDT", amount="100", **SPOT))
    return sub_id, master, sub


def test_racing_retries_after_a_freeze_get_the_first_withdrawal(ienv: IEnv) -> None:
    """A sub-account's withdrawal accepted, then the broker freezes the sub-account: 16
    requests at once, half the identical retry, half a new ``withdrawOrderId``. Every retry
    gets the first id (the engine decides the freeze after its lookup), every new one 140002;
    nothing more is reserved. Unfrozen, the new one goes through."""
    sub_id, master, sub = _funded_sub(ienv, "Freezer", "wfrozen01")
    address = format_address("tron", hashlib.sha256(b"frozen target").digest())

    def send(client_id: str, amount: str = "30") -> httpx.Response:
        return sub.post(
            "/api/v3/broker/capital/withdraw/apply",
            coin="USDT",
            network="TRX",
            address=address,
            amount=amount,
            withdrawOrderId=client_id,
        )

    first = ok(send("w-frz-1"))["id"]
    ok(master.post(f"{SUBP}/status", subAccount="wfrozen01", status="2"))
    answers = _halves(send, "w-frz-1", "w-frz-2")
    for client_id, r in answers:
        if client_id == "w-frz-1":
            assert ok(r)["id"] == first
        else:
            assert (r.status_code, r.json()["code"]) == (400, 140002), r.text
    r = send("w-frz-1", "31")  # another amount: the conflict, frozen or not
    assert (r.status_code, r.json()["code"]) == (400, 33333), r.text
    assert _bal(ienv, sub_id) == (to_units("70", 8), to_units("30", 8))
    ok(master.post(f"{SUBP}/status", subAccount="wfrozen01", status="1"))
    assert ok(send("w-frz-2"))["id"] != first
    assert _bal(ienv, sub_id) == (to_units("40", 8), to_units("60", 8))


def test_a_freeze_racing_new_withdrawals_refuses_them_as_frozen(ienv: IEnv) -> None:
    """The broker freezes a sub-account while 15 new withdrawals of it are sent: each is
    accepted (reserved before the freeze) or refused with 140002, never another code; what is
    reserved is what was accepted, and each accepted one's retry still gets its id."""
    sub_id, master, sub = _funded_sub(ienv, "Racefreeze", "wfrozen02")
    address = format_address("tron", hashlib.sha256(b"freeze race target").digest())

    def send(i: int) -> httpx.Response:
        return sub.post(
            "/api/v3/broker/capital/withdraw/apply",
            coin="USDT",
            network="TRX",
            address=address,
            amount="6",
            withdrawOrderId=f"w-fr-{i}",
        )

    barrier = threading.Barrier(THREADS)

    def race(i: int) -> tuple[int, httpx.Response]:
        barrier.wait()
        if i == 0:
            return i, master.post(f"{SUBP}/status", subAccount="wfrozen02", status="2")
        return i, send(i)

    with ThreadPoolExecutor(THREADS) as pool:
        answers = list(pool.map(race, range(THREADS)))
    accepted = {}
    for i, r in answers[1:]:
        if r.status_code == 200:
            accepted[i] = r.json()["id"]
        else:
            assert (r.status_code, r.json()["code"]) == (400, 140002), r.text
    ok(answers[0][1])
    assert _bal(ienv, sub_id) == (
        to_units(str(100 - 6 * len(accepted)), 8),
        to_units(str(6 * len(accepted)), 8),
    )
    for i in range(1, THREADS):
        r = send(i)
        if i in accepted:
            assert ok(r)["id"] == accepted[i]
        else:
            assert (r.status_code, r.json()["code"]) == (400, 140002), r.text
