"""The user referral endpoints through stock clients, unmodified, against a live server:
pymexc's rebate methods and ccxt's implicit API (``spot_private_get_rebate_*``). The official
SDK has no method for them. The counterparty invites the demo user; the user trades; the
accrual pays; both clients read the same rows."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import pymexc

D = Decimal


def _pymexc(live_server: Any, role: str) -> Any:
    creds = live_server.credentials[role]
    spot = pymexc.spot.HTTP(api_key=creds["api_key"], api_secret=creds["secret"])
    spot.base_url = live_server.url
    return spot


def test_referral_rebates_through_pymexc_and_ccxt(live_server: Any) -> None:
    referrals = live_server.platform.referrals
    referrals.invitee_ppm = 100_000  # the invitee's own kickback (the server default is none)
    inviter_p = _pymexc(live_server, "counterparty")
    inviter_x = live_server.mexc("counterparty")
    user_p = _pymexc(live_server, "user")
    user_x = live_server.mexc("user")

    code = inviter_p.query_refercode()["referCode"]
    assert inviter_x.spot_private_get_rebate_refercode() == {"referCode": code}
    invitee = live_server.accounts["user"]
    assert referrals.invite(invitee, code) == live_server.accounts["counterparty"]

    # the user (invitee) takes 0.1 BTC from the inviter at 30000
    inviter_x.create_order("BTC/USDT", "limit", "sell", 0.1, 30000)
    user_p.order(symbol="BTCUSDT", side="BUY", order_type="LIMIT", quantity="0.1", price="30000")
    # the server's change-feed follower pays moments after the fill; a run of our own is a no-op
    # or does it first, never twice
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not inviter_p.get_rebate_records_detail()["data"]:
        time.sleep(0.05)
    assert referrals.accrue_pending().failed == []

    history = inviter_p.get_rebate_history_records()
    assert history["totalRecords"] == 1
    (row,) = history["data"]
    assert row["uid"] == str(invitee) and row["futures"] == "0"
    assert D(row["spot"]) > 0 and row["total"] == row["spot"]
    assert inviter_x.spot_private_get_rebate_taxquery() == history

    detail = inviter_p.get_rebate_records_detail()
    assert detail["totalRecords"] == 1
    (line,) = detail["data"]
    assert line["asset"] == "BTC" and line["type"] == "spot" and line["rate"] == "0.2"
    assert line["uid"] == str(invitee) and D(line["amount"]) > 0
    assert inviter_x.spot_private_get_rebate_detail() == detail

    kick = user_p.get_self_rebate_records_detail()
    assert [(x["asset"], x["rate"]) for x in kick["data"]] == [("BTC", "0.1")]
    assert user_x.spot_private_get_rebate_detail_kickback() == kick
    # windows pass through both clients' parameter names
    later = line["tradeTime"] + 1
    assert inviter_p.get_rebate_records_detail(start_time=later)["data"] == []
    assert inviter_x.spot_private_get_rebate_detail({"startTime": later})["data"] == []

    # the affiliate endpoints over the same data, in MEXC's affiliate envelope
    calls = (
        ("affiliate_commission_record", "spot_private_get_rebate_affiliate_commission"),
        ("affiliate_withdraw_record", "spot_private_get_rebate_affiliate_withdraw"),
        (
            "affiliate_commission_detail_record",
            "spot_private_get_rebate_affiliate_commission_detail",
        ),
        ("affiliate_referral", "spot_private_get_rebate_affiliate_referral"),
        ("affiliate_subaffiliates", "spot_private_get_rebate_affiliate_subaffiliates"),
    )
    for p_name, x_name in calls:
        got = getattr(inviter_p, p_name)()
        assert got["success"] is True and got["code"] == 0, p_name
        assert getattr(inviter_x, x_name)() == got, x_name
    com = inviter_p.affiliate_commission_record()["data"]["resultList"]
    assert [(x["uid"], x["inviteCode"]) for x in com] == [(str(invitee), code)]
    assert inviter_p.affiliate_commission_record(invite_code="none")["data"]["resultList"] == []
    detail = inviter_p.affiliate_commission_detail_record(type=1)["data"]["resultList"]
    assert [(x["uid"], x["symbol"], x["currency"]) for x in detail] == [
        (str(invitee), "BTCUSDT", "BTC")
    ]
    (paid,) = inviter_p.affiliate_withdraw_record()["data"]["resultList"]
    assert paid["asset"] == "BTC" and paid["amount"] == line["amount"]
    (ref,) = inviter_p.affiliate_referral(uid=str(invitee))["data"]["resultList"]
    assert ref["tradingAmount"] == "3000"
