"""A broker integration end to end, over HTTP with signed requests: an approved independent
broker opens 50 sub-accounts, funds them by chain deposits, they trade with each other and with
an outside account, move money between them and withdraw some. At the end every balance is
recomputed with ``Decimal`` from the API's own history responses, the ledger balances, and the
broker's rebates are exactly its sub-accounts' fees times its rate."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

from bourse.domain.money import to_units
from bourse.sandbox.chain import format_address
from bourse.sandbox.demo import FULL_SPOT_PERMISSIONS
from bourse.services.brokers import rebates as rb
from tests.support.mexc import Signer, ok
from tests.support.platforms import REBATE_PPM, IEnv

N_SUBS = 50
SUBP = "/api/v3/broker/sub-account"
POOL = 8


def _name(i: int) -> str:
    return f"client{i:04d}"


def _pmap(fn: Any, items: list[Any]) -> list[Any]:
    with ThreadPoolExecutor(POOL) as pool:
        return list(pool.map(fn, items))


def _order(s: Signer, side: str, qty: str, price: str) -> dict[str, Any]:
    return ok(
        s.post(
            "/api/v3/order", symbol="BTCUSDT", side=side, type="LIMIT", quantity=qty, price=price
        )
    )


def _deposit(ienv: IEnv, s: Signer, coin: str, network: str, amount: str, master: bool) -> None:
    path = (
        "/api/v3/capital/deposit/address" if master else "/api/v3/broker/capital/deposit/subAddress"
    )
    a = ok(s.post(path, coin=coin, network=network))
    units = to_units(amount, ienv.platform.wallet.asset(coin).scale)
    ienv.platform.chain.send_deposit(a["address"], a.get("memo") or "", coin, network, units)


def test_fifty_subaccounts_end_to_end(ienv: IEnv) -> None:
    platform = ienv.platform
    broker_id, master_acc, master = ienv.broker("Scenario Broker")

    # --- 50 sub-accounts with their own keys ---------------------------------------------------
    made = _pmap(lambda i: ienv.sub(master, _name(i)), list(range(N_SUBS)))
    subs: dict[str, Signer] = {_name(i): made[i][1] for i in range(N_SUBS)}
    sub_ids = {_name(i): made[i][0] for i in range(N_SUBS)}
    listed = []
    for page in range(1, 5):
        listed += ok(master.get(f"{SUBP}/list", page=page, limit=20))["data"]
    assert sorted(r["subAccount"] for r in listed) == [_name(i) for i in range(N_SUBS)]
    # a markup on a few of them (the rebate is on the whole fee they pay)
    for i in range(5):
        ok(master.post(f"{SUBP}/commission", subAccount=_name(i), takerMarkup="0.001"))

    # an outside trader with resting orders
    outside_acc = ienv.open_account(USDT="100000", BTC="10")
    outside = ienv.signer(outside_acc, list(FULL_SPOT_PERMISSIONS), ip_whitelist=["127.0.0.1"])

    # --- chain deposits --------------------------------------------------------------------------
    _deposit(ienv, master, "USDT", "TRX", "5000", master=True)

    def fund(i: int) -> None:
        s = subs[_name(i)]
        _deposit(ienv, s, "USDT", "TRX", f"{1000 + i}.{i:02d}", master=False)
        if i % 5 == 0:
            _deposit(ienv, s, "BTC", "BTC", "0.05", master=False)

    _pmap(fund, list(range(N_SUBS)))
    platform.chain.advance(10)
    every = ok(master.get("/api/v3/broker/capital/deposit/subHisrec/getall", limit=40))
    every += ok(master.get("/api/v3/broker/capital/deposit/subHisrec/getall", limit=40, page=2))
    assert len(every) == N_SUBS + N_SUBS // 5 and all(d["status"] == 5 for d in every)
    assert {d["subAccount"] for d in every} == set(subs) and "addressTag" not in every[0]
    assert sum(Decimal(d["amount"]) for d in every if d["coin"] == "USDT") == sum(
        Decimal(f"{1000 + i}.{i:02d}") for i in range(N_SUBS)
    )
    pending = platform.engine.read(
        lambda e: e.exchange.ledger.available(sub_ids[_name(49)], "USDT")
    )
    assert pending == to_units("1049.49", 8)

    # --- trading -------------------------------------------------------------------------------
    for _ in range(10):
        _order(outside, "SELL", "0.01", "30000")
        _order(outside, "BUY", "0.01", "29000")
    sellers = [i for i in range(N_SUBS) if i % 5 == 0]
    for i in sellers:  # makers: the best asks on the book
        _order(subs[_name(i)], "SELL", "0.01", "29500")
    for i in range(10, 30):
        if i not in sellers:
            _order(subs[_name(i)], "BUY", "0.004", "30000")  # takes the sub-accounts' asks
    for i in range(31, 40):
        if i not in sellers:
            _order(subs[_name(i)], "BUY", "0.005", "30000")  # the rest, then the outside asks
    for i in range(11, 15):
        _order(subs[_name(i)], "SELL", "0.001", "29000")  # hits the outside bids
    for i in range(5):
        _order(subs[_name(i)], "BUY", "0.001", "20000")  # rests: locked funds
    gone = _order(subs[_name(1)], "BUY", "0.001", "21000")
    ok(subs[_name(1)].delete("/api/v3/order", symbol="BTCUSDT", orderId=gone["orderId"]))

    # --- transfers -----------------------------------------------------------------------------
    def xfer(frm: str | None, to: str | None, asset: str, amount: str, cid: str) -> str:
        params: dict[str, Any] = {
            "fromAccountType": "SPOT",
            "toAccountType": "SPOT",
            "asset": asset,
            "amount": amount,
            "clientTranId": cid,
        }
        if frm:
            params["fromAccount"] = frm
        if to:
            params["toAccount"] = to
        return ok(master.post(f"{SUBP}/universalTransfer", **params))["tranId"]

    first = [xfer(None, _name(i), "USDT", "100", f"fund{i:028d}") for i in range(10)]
    assert xfer(None, _name(3), "USDT", "100", f"fund{3:028d}") == first[3]  # a retry
    for i in range(20, 30):
        xfer(_name(i), _name(i + 1), "USDT", "7.5", f"pass{i:028d}")
    for i in range(30, 35):
        xfer(_name(i), None, "USDT", "3", f"back{i:028d}")
    xfer(_name(0), _name(1), "BTC", "0.0001", "btc" + "0" * 29)

    # --- withdrawals ---------------------------------------------------------------------------
    outside_address = format_address("tron", hashlib.sha256(b"outside").digest())
    wids = {}
    for i in range(40, 45):
        wids[_name(i)] = ok(
            subs[_name(i)].post(
                "/api/v3/broker/capital/withdraw/apply",
                coin="USDT",
                network="TRX",
                address=outside_address,
                amount="50",
                remark="cash out",
            )
        )["id"]
    for _ in range(4):
        platform.chain.advance(5)

    # --- recompute every balance from the API's history ----------------------------------------
    expected: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    fees_paid: list[tuple[str, str, Decimal, str]] = []  # (sub, trade id, commission, asset)
    master_name = str(master_acc)
    signers = {**subs, master_name: master}

    def history(name: str) -> tuple[list, list, list, dict]:
        s = signers[name]
        if name == master_name:
            deps = ok(s.get("/api/v3/capital/deposit/hisrec"))
        else:
            deps = ok(s.get("/api/v3/broker/capital/deposit/subHisrec", limit=100))
        wds = ok(s.get("/api/v3/capital/withdraw/history"))
        trades = ok(s.get("/api/v3/myTrades", symbol="BTCUSDT", limit=100))
        acct = ok(s.get("/api/v3/account"))
        return deps, wds, trades, acct

    results = dict(zip(signers, _pmap(history, list(signers)), strict=True))
    actual: dict[str, dict[str, Decimal]] = {}
    for name, (deps, wds, trades, acct) in results.items():
        e = expected[name]
        for d in deps:
            assert d["status"] == 5, d
            e[d["coin"]] += Decimal(d["amount"])
        for w in wds:
            assert w["status"] == 7, w  # SUCCESS
            assert w["id"] == wids[name]
            e[w["coin"]] -= Decimal(w["amount"])  # gross: the fee included
        for t in trades:
            qty, quote, fee = Decimal(t["qty"]), Decimal(t["quoteQty"]), Decimal(t["commission"])
            if t["isBuyer"]:
                e["BTC"] += qty
                e["USDT"] -= quote
            else:
                e["BTC"] -= qty
                e["USDT"] += quote
            e[t["commissionAsset"]] -= fee
            if name != master_name:
                fees_paid.append((name, t["id"], fee, t["commissionAsset"]))
        actual[name] = {
            b["asset"]: Decimal(b["free"]) + Decimal(b["locked"]) for b in acct["balances"]
        }
    rows: list[dict[str, Any]] = []
    for page in range(1, 20):
        batch = ok(
            master.get(
                f"{SUBP}/universalTransfer",
                fromAccount="*",
                toAccount="*",
                fromAccountType="SPOT",
                toAccountType="SPOT",
                page=page,
                limit=10,
            )
        )
        rows += batch
        if len(batch) < 10:
            break
    assert len(rows) == 10 + 10 + 5 + 1  # the retry moved nothing
    assert len({r["tranId"] for r in rows}) == len(rows)
    for r in rows:
        expected[r["fromAccount"]][r["asset"]] -= Decimal(r["amount"])
        expected[r["toAccount"]][r["asset"]] += Decimal(r["amount"])
        assert r["status"] == "SUCCESS" and r["clientTranId"]

    traded = {n for n, (_, _, trades, _) in results.items() if trades}
    assert len(traded) >= 30
    for name in signers:
        want = {a: v for a, v in expected[name].items() if v != 0}
        got = {a: v for a, v in actual[name].items() if v != 0}
        assert got == want, name

    # --- the ledger and the broker's rebates ---------------------------------------------------
    platform.engine.read(lambda e: e.exchange.ledger.check())
    platform.brokers.accrue()
    total, records = rb.records(platform.db, broker_id, page_size=100_000)
    by_id = {v: k for k, v in sub_ids.items()}
    got_rebates = sorted(
        (by_id[r["account_id"]], str(r["trade_id"]), r["asset"], r["rebate"]) for r in records
    )
    scale = 10**8
    want_rebates = sorted(
        (name, tid, asset, int(fee * scale) * REBATE_PPM // 1_000_000)
        for name, tid, fee, asset in fees_paid
    )
    assert total == len(fees_paid) and got_rebates == want_rebates
    assert sum(x[3] for x in want_rebates) > 0
    # MEXC's daily view of the same rebates
    tax = ok(master.get("/api/v3/broker/rebate/taxQuery", pageSize=1000))
    per_asset: dict[str, Decimal] = defaultdict(Decimal)
    for row in tax["data"]:
        per_asset[row["asset"]] += Decimal(row["amount"])
    want_assets: dict[str, Decimal] = defaultdict(Decimal)
    for _, _, asset, units in want_rebates:
        want_assets[asset] += Decimal(units) / scale
    assert dict(per_asset) == dict(want_assets)
    assert {row["uid"] for row in tax["data"]} <= {str(x) for x in sub_ids.values()}
    # a sub-account's balances as its broker sees them
    seen = ok(master.get(f"{SUBP}/assets", subAccount=_name(10)))["balances"]
    assert {b["asset"]: Decimal(b["free"]) + Decimal(b["locked"]) for b in seen} == {
        a: v for a, v in actual[_name(10)].items() if v
    }
    # nothing of the outside account's fees went to the broker
    assert all(r["account_id"] != outside_acc for r in records)
