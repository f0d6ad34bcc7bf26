"""ccxt's ``mexc`` against a live server: currencies, deposit addresses, deposits, withdrawals
and universal transfers, exactly as ccxt builds the requests and parses the answers.

Until the platform wires the wallet itself, the fixture attaches a chain and a wallet service to
the platform and serves its app (the capital endpoints are part of it).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from bourse.bootstrap import open_platform
from bourse.config import Config, RateLimits
from bourse.services.apikeys import generate_server_key
from tests.support.live import LiveServer
from tests.support.server import ServerThread as _ServerThread

DEST_TRX = "T" + "D" * 33


#: the test user's funds and key permissions (its own account: independent of the demo seed)
FUNDS = (("USDT", "100000"), ("BTC", "2"), ("ETH", "50"), ("MX", "100000"))
PERMISSIONS = [
    "SPOT_ACCOUNT_READ",
    "SPOT_DEAL_READ",
    "SPOT_WITHDRAW_READ",
    "SPOT_WITHDRAW_WRITE",
    "SPOT_TRANSFER_READ",
    "SPOT_TRANSFER_WRITE",
    "SPOT_DEPOSIT_READ",
    "SPOT_DEPOSIT_WRITE",
]


@pytest.fixture
def wallet_server(migrated_url: str) -> Iterator[LiveServer]:
    from bourse.app import create_app
    from bourse.domain.accounts import AccountKind
    from bourse.domain.money import to_units
    from bourse.engine import commands as c
    from bourse.sandbox.wallet import build_wallet

    config = Config(
        database_url=migrated_url, secret_key=generate_server_key(), rate_limits=RateLimits.off()
    )
    platform = open_platform(config)
    try:
        engine = platform.engine
        user = engine.execute(c.OpenAccount(AccountKind.USER, name="test:wallet-user")).id
        for i, (coin, amount) in enumerate(FUNDS):
            units = to_units(amount, engine.wallet.assets[coin].scale)
            engine.execute(c.CreditDeposit(user, coin, units, f"wallet-test-{user}-{i}"))
        key, secret = platform.apikeys.create_key(user, PERMISSIONS)
        if getattr(platform, "wallet", None) is None:
            platform.wallet = build_wallet(  # type: ignore[attr-defined]
                engine, platform.db, b"ccxt-wallet-test-server-key", seed=3
            )
        platform.wallet.chain.stop()  # type: ignore[attr-defined]  # tests mine blocks themselves
        settings = platform.wallet.settings  # type: ignore[attr-defined]
        settings.sandbox = True
        settings.review_above = {"BTC": "1"}
        app = create_app(platform)
        server = _ServerThread(app)
        url = f"http://127.0.0.1:{server.port}"
        server.start()
        try:
            yield LiveServer(
                url, platform, {"user": user}, {"user": {"api_key": key, "secret": secret}}
            )
        finally:
            server.stop()
    finally:
        platform.close()


def _sandbox(live: LiveServer, path: str, **params: Any) -> dict[str, Any]:
    r = httpx.post(f"{live.url}{path}", params=params, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def test_ccxt_wallet_round_trip(wallet_server: LiveServer) -> None:
    live = wallet_server
    ex = live.mexc("user")
    ex.load_markets()
    usdt = ex.currencies["USDT"]
    assert set(usdt["networks"]) == {"TRC20", "ERC20", "BEP20", "TON"}
    assert usdt["networks"]["TRC20"]["id"] == "TRX"
    assert usdt["networks"]["TRC20"]["fee"] == 1.0
    assert usdt["networks"]["TRC20"]["limits"]["withdraw"]["min"] == "5"
    fees = ex.fetch_deposit_withdraw_fees(["USDT"])
    assert fees["USDT"]["networks"]

    # deposit addresses
    created = ex.create_deposit_address("USDT", {"network": "TRC20"})
    assert created["network"] == "TRC20" and created["address"].startswith("T")
    fetched = ex.fetch_deposit_address("USDT", {"network": "TRC20"})
    assert fetched["address"] == created["address"]
    ton = ex.fetch_deposit_address("USDT", {"network": "TON"})
    assert ton["network"] == "TON" and ton["tag"]
    by_net = ex.fetch_deposit_addresses_by_network("USDT")
    assert {"TRC20", "TON"} <= set(by_net)

    # a deposit from the outside world, confirmed by mining
    dep = _sandbox(
        live, "/sandbox/deposit", coin="USDT", network="TRX", address=created["address"],
        amount="123.45", confirm="true",
    )  # fmt: skip
    assert dep["credited"] is True
    deposits = ex.fetch_deposits("USDT")
    assert len(deposits) == 1
    d = deposits[0]
    assert (d["type"], d["status"], d["amount"], d["network"], d["currency"]) == (
        "deposit",
        "ok",
        123.45,
        "TRC20",
        "USDT",
    )
    assert d["txid"] == dep["transHash"]
    assert ex.fetch_deposits("USDT", params={"network": "TRX"})[0]["id"] is None

    # withdraw: reserved, pending, then ok after the chain confirms
    before = ex.fetch_balance()["USDT"]["free"]
    wd = ex.withdraw("USDT", 20, DEST_TRX, params={"network": "TRC20"})
    assert wd["id"]
    assert ex.fetch_balance()["USDT"]["free"] == pytest.approx(before - 20)
    pending = [x for x in ex.fetch_withdrawals("USDT") if x["id"] == wd["id"]]
    assert pending and pending[0]["status"] == "pending"
    _sandbox(live, "/sandbox/chain/advance", blocks=5)
    done = [x for x in ex.fetch_withdrawals("USDT") if x["id"] == wd["id"]][0]
    assert done["status"] == "ok"
    assert done["amount"] == 19.0 and done["fee"]["cost"] == 1.0  # ccxt: amount - fee
    assert done["txid"] and done["network"] == "TRC20" and done["address"] == DEST_TRX

    # a retried withdrawOrderId returns the first withdrawal
    one = ex.withdraw("USDT", 10, DEST_TRX, {"network": "TRC20", "withdrawOrderId": "cc-1"})
    two = ex.withdraw("USDT", 10, DEST_TRX, {"network": "TRC20", "withdrawOrderId": "cc-1"})
    assert one["id"] == two["id"]

    # universal transfer spot <-> swap (FUTURES)
    tr = ex.transfer("USDT", 5, "spot", "swap")
    assert tr["id"] and tr["amount"] == 5
    back = ex.transfer("USDT", 2, "swap", "spot")
    assert back["id"] != tr["id"]
    rows = ex.fetch_transfers("USDT", params={"fromAccountType": "spot", "toAccountType": "swap"})
    assert [
        (r["id"], r["amount"], r["fromAccount"], r["toAccount"], r["status"]) for r in rows
    ] == [(tr["id"], 5.0, "spot", "swap", "ok")]
    assert rows[0]["timestamp"] <= int(time.time() * 1000)


def test_wallet_errors_reach_ccxt_as_exceptions(wallet_server: LiveServer) -> None:
    import ccxt

    ex = wallet_server.mexc("user")
    ex.load_markets()
    with pytest.raises(ccxt.InsufficientFunds):
        ex.withdraw("USDT", 500_000, DEST_TRX, params={"network": "TRC20"})
    with pytest.raises(ccxt.ExchangeError):
        ex.withdraw("USDT", 10, "not-an-address", params={"network": "TRC20"})
    with pytest.raises(ccxt.ExchangeError):
        ex.transfer("USDT", 10_000_000, "spot", "swap")


def test_raw_wallet_endpoints(wallet_server: LiveServer) -> None:
    """The endpoints ccxt has no unified method for, through its implicit API methods."""
    import ccxt

    live = wallet_server
    ex = live.mexc("user")
    # old withdraw/apply answers a list; DELETE cancels before the broadcast
    applied = ex.spotPrivatePostCapitalWithdrawApply(
        {"coin": "USDT", "network": "Tron(TRC20)", "address": DEST_TRX, "amount": "30"}
    )
    assert isinstance(applied, list) and applied[0]["id"]
    wid = applied[0]["id"]
    hist = ex.spotPrivateGetCapitalWithdrawHistory({"coin": "USDT"})
    row = [r for r in hist if r["id"] == wid][0]
    assert (row["status"], row["amount"], row["transactionFee"], row["netWork"]) == (
        1,
        "30",
        "1",
        "TRX",
    )
    assert ex.spotPrivateDeleteCapitalWithdraw({"id": wid}) == {"id": wid}
    row = [r for r in ex.spotPrivateGetCapitalWithdrawHistory({}) if r["id"] == wid][0]
    assert row["status"] == 9
    with pytest.raises(ccxt.ExchangeError):
        ex.spotPrivateDeleteCapitalWithdraw({"id": wid})
    # above the review threshold: AUDITING until the operator approves
    big = ex.spotPrivatePostCapitalWithdraw(
        {"coin": "BTC", "netWork": "BTC", "address": "bc1q" + "p" * 38, "amount": "1.5"}
    )
    row = ex.spotPrivateGetCapitalWithdrawHistory({"coin": "BTC", "status": "2"})
    assert [r["id"] for r in row] == [big["id"]]
    _sandbox(live, "/sandbox/withdraw/review", id=big["id"], action="approve")
    _sandbox(live, "/sandbox/chain/advance", blocks=4)
    assert ex.spotPrivateGetCapitalWithdrawHistory({"coin": "BTC"})[0]["status"] == 7
    # transfer by id, and the FUTURES -> SPOT history
    tr = ex.spotPrivatePostCapitalTransfer(
        {"fromAccountType": "SPOT", "toAccountType": "FUTURES", "asset": "MX", "amount": "12.5"}
    )
    one = ex.spotPrivateGetCapitalTransferTranId({"tranId": tr["tranId"]})
    assert (one["amount"], one["fromAccountType"], one["toAccountType"], one["status"]) == (
        "12.5",
        "SPOT",
        "FUTURES",
        "SUCCESS",
    )
    hist = ex.spotPrivateGetCapitalTransfer({"fromAccountType": "FUTURES", "toAccountType": "SPOT"})
    assert hist == {"rows": [], "total": 0}
    # the withdraw address book
    book = ex.spotPrivateGetCapitalWithdrawAddress({})
    assert book["data"] == [] and book["totalRecords"] == 0
    # deposit history status filter and the ccxt COIN-NETWORK form
    addr = ex.spotPrivateGetCapitalDepositAddress({"coin": "ETH"})
    assert addr[0]["netWork"] == "ETH" and addr[0]["network"] == "Ethereum(ERC20)"
    _sandbox(live, "/sandbox/deposit", coin="ETH", account=live.accounts["user"], amount="0.5")
    rows = ex.spotPrivateGetCapitalDepositHisrec({"coin": "ETH-ERC20"})
    assert [(r["status"], r["confirmTimes"], r["unlockConfirm"]) for r in rows] == [(4, "0", "6")]
    assert ex.spotPrivateGetCapitalDepositHisrec({"coin": "ETH", "status": "5"}) == []


def test_sandbox_endpoints_can_be_disabled(wallet_server: LiveServer) -> None:
    wallet_server.platform.wallet.settings.sandbox = False  # type: ignore[attr-defined]
    r = httpx.post(f"{wallet_server.url}/sandbox/chain/advance", params={"blocks": 1}, timeout=30)
    assert r.status_code == 403 and r.json()["code"] == 403
