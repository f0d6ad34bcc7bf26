"""Account endpoints through stock clients, unmodified: pymexc's own methods and ccxt's implicit
API methods (``spotPrivateGetUid`` ...). MEXC's official SDK has no method for any of them (its
generic ``signRequest`` hands back the raw HTTP response object, not the JSON)."""

from __future__ import annotations

from typing import Any

import pymexc


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
