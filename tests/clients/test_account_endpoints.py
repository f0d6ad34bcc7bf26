"""Account endpoints through stock clients, unmodified: pymexc's own methods and ccxt's implicit
API methods (``spotPrivateGetUid`` ...). MEXC's official SDK has no method for any of them (its
generic ``signRequest`` hands back the raw HTTP response object, not the JSON)."""

from __future__ import annotations

from typing import Any

import pymexc

from bourse.domain.accounts import AccountKind
from bourse.engine import commands as c
from bourse.sandbox.demo import FULL_SPOT_PERMISSIONS
from tests.support.clock import backdated


def pymexc_client(live_server: Any, role: str = "user") -> Any:
    creds = live_server.credentials[role]
    spot = pymexc.spot.HTTP(api_key=creds["api_key"], api_secret=creds["secret"])
    spot.base_url = live_server.url
    return spot


def test_uid(live_server) -> None:  # type: ignore[no-untyped-def]
    uid = str(live_server.accounts["user"])
    assert pymexc_client(live_server).get_uid() == {"uid": uid}
    assert live_server.mexc().spotPrivateGetUid() == {"uid": uid}


def test_mx_deduct(live_server) -> None:  # type: ignore[no-untyped-def]
    """pymexc's ``enable_mx_deduct(True)`` sends Python's ``True``; ccxt's implicit methods send
    what they are given. Both read MEXC's envelope."""
    spot = pymexc_client(live_server)
    body = spot.query_mx_deduct_status()
    assert body["data"] == {"mxDeductEnable": False} and body["code"] == 0
    assert spot.enable_mx_deduct(True)["data"] == {"mxDeductEnable": True}
    assert spot.query_mx_deduct_status()["data"] == {"mxDeductEnable": True}
    ex = live_server.mexc()
    assert ex.spotPrivateGetMxDeductEnable()["data"] == {"mxDeductEnable": True}
    off = ex.spotPrivatePostMxDeductEnable({"mxDeductEnable": "false"})
    assert off["data"] == {"mxDeductEnable": False} and off["msg"] == "success"
    assert spot.query_mx_deduct_status()["data"] == {"mxDeductEnable": False}
    account = live_server.accounts["user"]
    engine = live_server.platform.engine
    assert engine.read(lambda e: account not in e.exchange.mx_deduct)


def test_stp_groups(live_server) -> None:  # type: ignore[no-untyped-def]
    """pymexc's STP group methods and ccxt's implicit ``strategy/group`` methods, on one group."""
    spot = pymexc_client(live_server)
    uid = str(live_server.accounts["user"])
    made = spot.create_stp_strategy_group("desk")
    assert (made["code"], made["msg"]) == (200, "success")
    gid = str(made["data"]["tradeGroupId"])
    assert spot.add_uid_to_stp_strategy_group(uid, gid)["data"] is True
    rows = spot.query_stp_strategy_group("desk")["data"]
    assert [(r["tradeGroupName"], r["tradeGroupUid"]) for r in rows] == [("desk", uid)]
    ex = live_server.mexc()
    assert ex.spotPrivateGetStrategyGroup()["data"][0]["tradeGroupId"] == int(gid)
    assert ex.spotPrivateDeleteStrategyGroupUid({"uid": uid, "tradeGroupId": gid})["data"] is True
    other = ex.spotPrivatePostStrategyGroup({"tradeGroupName": "second"})["data"]
    assert (
        ex.spotPrivatePostStrategyGroupUid(
            {"uid": uid, "tradeGroupId": str(other["tradeGroupId"])}
        )["data"]
        is True
    )
    assert spot.delete_uid_from_stp_strategy_group(uid, str(other["tradeGroupId"]))["data"]
    assert spot.delete_stp_strategy_group(gid)["data"] is True
    assert ex.spotPrivateDeleteStrategyGroup({"tradeGroupId": str(other["tradeGroupId"])})["data"]
    assert spot.query_stp_strategy_group()["data"] == []


def test_dust_conversion(live_server) -> None:  # type: ignore[no-untyped-def]
    """pymexc's ``get_assets_convert_into_mx``/``dust_transfer``/``dustlog`` and ccxt's implicit
    ``capital/convert`` methods; the demo's dust desk pays the MX. ETH is the dust: its one
    trade (3000) is its reference price too, where BTC's reference is still near its first
    trade (60000) while its last price is 60500 (``domain.reference_price``). The market trades
    ``AVERAGING_MS`` ago (``backdated``): a pair that has only just traded prices no dust."""
    from ._harness import seed_market

    engine = live_server.platform.engine
    with backdated(engine):
        cp = seed_market(live_server)  # ETHUSDT last 3000
        cp.create_order("MX/USDT", "limit", "sell", "10", "2.5")
        cp.create_order("MX/USDT", "limit", "buy", "10", "2.5")
    user = engine.execute(c.OpenAccount(AccountKind.USER)).id
    engine.execute(c.CreditDeposit(user, "ETH", 80_000, "dust-eth"))  # 0.0008 ETH = 2.4 USDT
    engine.execute(c.CreditDeposit(user, "USDT", 10 * 10**8, "dust-usdt"))  # 10 USDT: too much
    key, secret = live_server.platform.apikeys.create_key(user, list(FULL_SPOT_PERMISSIONS))
    spot = pymexc.spot.HTTP(api_key=key, api_secret=secret)
    spot.base_url = live_server.url
    rows = {r["asset"]: r for r in spot.get_assets_convert_into_mx()}
    assert rows["ETH"]["code"] is None and rows["USDT"]["code"] is not None
    ex = live_server.mexc(None, apiKey=key, secret=secret)
    assert {r["asset"] for r in ex.spotPrivateGetCapitalConvertList()} == set(rows)
    mx_before = engine.read(lambda e: e.wallet.ledger.available(user, "MX"))
    done = spot.dust_transfer(["ETH", "USDT"])
    # 2.4 USDT at 2.5 is 0.96 MX; 0.2 % fee 0.00192
    assert done == {
        "successList": ["ETH"],
        "failedList": ["USDT"],
        "totalConvert": "0.95808",
        "convertFee": "0.00192",
    }
    assert engine.read(lambda e: e.wallet.ledger.available(user, "MX")) == mx_before + 95_808_000
    log = spot.dustlog(limit=10)
    assert log["totalRecords"] == 1 and log["data"][0]["convertDetails"][0]["asset"] == "ETH"
    assert ex.spotPrivateGetCapitalConvert({"limit": 10})["totalRecords"] == 1
    engine.execute(c.CreditDeposit(user, "ETH", 80_000, "dust-eth-2"))
    again = ex.spotPrivatePostCapitalConvert({"asset": "ETH"})
    assert again["successList"] == ["ETH"] and again["totalConvert"] == "0.95808"


def test_cancel_open_orders_on_several_symbols(live_server) -> None:  # type: ignore[no-untyped-def]
    """pymexc's ``cancel_all_open_orders`` with MEXC's comma-separated symbols, and ccxt's
    implicit ``spotPrivateDeleteOpenOrders`` with the same."""
    spot = pymexc_client(live_server)
    for symbol, price in (("BTCUSDT", "1000"), ("ETHUSDT", "100"), ("MXUSDT", "1.5")):
        for _ in range(2):
            spot.order(symbol, "BUY", "LIMIT", quantity="1", price=price)
    canceled = spot.cancel_all_open_orders("BTCUSDT,ETHUSDT")
    assert sorted(x["symbol"] for x in canceled) == ["BTCUSDT"] * 2 + ["ETHUSDT"] * 2
    assert {x["status"] for x in canceled} == {"CANCELED"}
    ex = live_server.mexc()
    rest = ex.spotPrivateDeleteOpenOrders({"symbol": "MXUSDT,BTCUSDT"})
    assert [x["symbol"] for x in rest] == ["MXUSDT"] * 2
    assert all(spot.current_open_orders(s) == [] for s in ("BTCUSDT", "ETHUSDT", "MXUSDT"))


def test_historical_trades_and_internal_transfer(live_server) -> None:  # type: ignore[no-untyped-def]
    """ccxt's implicit ``spotPublicGetHistoricalTrades``; pymexc's ``internal_transfer`` (its
    amount a float, as pymexc types it) and ``internal_transfer_history``, and ccxt's
    ``capital/transfer/internal`` methods, on MEXC's envelopes."""
    from ._harness import seed_market

    seed_market(live_server)
    ex = live_server.mexc()
    trades = ex.spotPublicGetHistoricalTrades({"symbol": "BTCUSDT", "limit": 5000})
    assert [(t["price"], t["qty"]) for t in trades] == [("60500", "0.02"), ("60000", "0.01")]
    spot = pymexc_client(live_server)
    to = str(live_server.accounts["counterparty"])
    sent = spot.internal_transfer("UID", to, "USDT", 12.5)
    assert set(sent) == {"tranId"}
    again = ex.spotPrivatePostCapitalTransferInternal(
        {"toAccountType": "UID", "toAccount": to, "asset": "USDT", "amount": "0.5"}
    )
    assert set(again) == {"tranId"} and again["tranId"] != sent["tranId"]
    history = spot.internal_transfer_history(limit=1)
    assert (history["page"], history["totalRecords"], history["totalPageNum"]) == (1, 2, 2)
    (row,) = history["data"]
    assert set(row) == {
        "tranId", "asset", "amount", "toAccountType", "toAccount", "fromAccount", "status",
        "timestamp",
    }  # fmt: skip
    assert (row["tranId"], row["amount"], row["status"]) == (again["tranId"], "0.5", "SUCCESS")
    page = ex.spotPrivateGetCapitalTransferInternal({"page": 2, "limit": 1})
    assert page["data"][0]["tranId"] == sent["tranId"]
