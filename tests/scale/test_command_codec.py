"""The command stream's wire form: every command, result and refusal crosses as an equal value
(money as exact integers past 64 bits); a message naming a class outside the domain and the
engine is refused; a retried command keeps its ``Nats-Msg-Id``, two different ones never share
one."""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from typing import Any

import pytest

from bourse.bus import commands as wire
from bourse.bus.codec import CodecError
from bourse.domain import errors as d
from bourse.domain.accounts import AccountKind
from bourse.domain.money import Asset
from bourse.domain.orders import BUY, OrderRequest, OrderType, StpMode
from bourse.domain.symbols import Symbol
from bourse.engine import commands as c
from bourse.engine.engine import EngineUnavailable
from bourse.engine.trace import Trace
from tests.ws.test_nats_bus import BIG, _fields, _order

USDT, BTC = Asset("USDT", 8), Asset("BTC", 8)
REQ = OrderRequest(
    7, "BTCUSDT", BUY, OrderType.LIMIT, BIG, 3_000_000, 0, "cid-1", StpMode.CANCEL_BOTH
)
COMMANDS: list[c.Command] = [
    c.PlaceOrder(REQ, replay="r1"),
    c.CancelOrder(7, "BTCUSDT", order_id=BIG),
    c.OpenAccount(AccountKind.USER, parent=7, name="sub"),
    c.Transfer(7, 8, "USDT", BIG, client_id="t1", initiator=7),
    c.AddAsset(USDT),
    c.AddSymbol(Symbol("BTCUSDT", BTC, USDT, 2, 6, 1, BIG, 5, BIG)),
    c.ConvertDust(7, ("ETH", "XRP")),
    c.PayRebates("2026-12-03", ((7, "USDT", BIG),)),
    c.SetStpGroupMembers(7, 3, (8, 9), add=True),
    c.ClaimReplayKey("r2"),
]


def _same(a: Any, b: Any) -> None:
    assert type(a) is type(b)
    if is_dataclass(a):
        for f in fields(a):
            _same(getattr(a, f.name), getattr(b, f.name))
    else:
        assert _fields(a) == _fields(b)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda x: type(x).__name__)
def test_every_command_crosses_equal(command: c.Command) -> None:
    data = wire.encode_command(command, Trace("req-1", "api_key:k"), 123)
    back, trace, deadline = wire.decode_command(data)
    _same(back, command)
    assert back == command and (trace, deadline) == (Trace("req-1", "api_key:k"), 123)


def test_results_and_refusals_cross_equal() -> None:
    order = _order(9, BUY, 1, BIG)
    result: Any = {"cancelled": [order], "balances": {(7, "USDT"): (BIG, 0)}, "ids": {1, 2}}
    back, error, commits = wire.decode_reply(wire.encode_reply(result, None, 41))
    assert error is None and commits == 41
    assert _fields(back["cancelled"][0]) == _fields(order)
    assert back["balances"] == {(7, "USDT"): (BIG, 0)} and back["ids"] == {1, 2}
    refused = d.BelowMinNotional("too small", minimum="5USDT")
    _, error, _ = wire.decode_reply(wire.encode_reply(None, refused, 3))
    assert type(error) is d.BelowMinNotional and error.minimum == "5USDT"
    assert error.message == "too small" and str(error) == str(refused)
    _, error, _ = wire.decode_reply(wire.encode_reply(None, EngineUnavailable("down"), 0))
    assert type(error) is EngineUnavailable and str(error) == "down"


def test_a_withdrawals_refusal_crosses_with_it() -> None:
    """The wallet's verdict on a new withdrawal travels in its ``ReserveWithdrawal`` (the
    engine raises it only for a ``withdrawOrderId`` it has not seen): it reaches the engine
    as the same refusal."""
    refusal = d.WithdrawDisabled("withdrawals of USDT on TRX are suspended")
    command = c.ReserveWithdrawal(
        7, "USDT", BIG, 10**6, "T" * 34, "TRX", client_id="w1", sent_network="", refusal=refusal
    )
    back, _, _ = wire.decode_command(wire.encode_command(command, Trace("r", "o"), 1))
    assert isinstance(back, c.ReserveWithdrawal)
    assert type(back.refusal) is d.WithdrawDisabled and str(back.refusal) == str(refusal)
    assert back.refusal.message == refusal.message
    assert back == c.ReserveWithdrawal(
        7, "USDT", BIG, 10**6, "T" * 34, "TRX", client_id="w1", refusal=back.refusal
    )


def test_only_domain_and_engine_classes_are_rebuilt() -> None:
    for name in (
        "subprocess:Popen",
        "os:_wrap_close",
        "bourse.store.sql:SqlStore",
        "builtins:eval",
    ):
        evil = f'[1,"cmd",{{"o":"{name}","f":{{}}}},"","",0]'.encode()
        with pytest.raises(CodecError):
            wire.decode_command(evil)
    with pytest.raises(CodecError):  # a domain value that is not a command
        wire.decode_command(wire.encode_command(USDT, Trace(), 0))  # type: ignore[arg-type]
    with pytest.raises(CodecError):
        wire.decode_reply(b'[9,"ok",1,0]')


def test_message_ids() -> None:
    # a command a client may retry is named by its content: a retry is stored once
    assert wire.message_id(COMMANDS[0]) == wire.message_id(c.PlaceOrder(REQ, replay="r1"))
    assert wire.message_id(COMMANDS[0]) != wire.message_id(c.PlaceOrder(REQ, replay="r2"))
    # any other gets an id of its own each time
    cancel = c.CancelOrder(7, "BTCUSDT", order_id=1)
    assert wire.message_id(cancel) != wire.message_id(cancel)
