"""Wallet endpoints (reference section 2.8) over ``bourse.services.wallet.WalletService``.

The handlers find the service at ``ctx.services.wallet``. Shapes follow MEXC, including where
MEXC's own documents disagree with what its servers send (the live form wins, because that is
what ccxt parses; docs/wallet.md lists each case):

* ``network`` is the display name (``Tron(TRC20)``) in ``config/getall`` and deposit addresses,
  and the id in history rows; ``netWork`` is always the id (``TRX``). Requests accept either,
  or a unified alias (``TRC20``), in any case.
* ``POST capital/deposit/address`` answers one object (ccxt parses an object); ``GET`` a list.
* ``POST capital/transfer`` answers ``{"tranId"}`` and ``GET capital/transfer``
  ``{"rows": [...], "total"}`` (the docs wrap both in a list; the live API and ccxt do not).
* Withdraw ``amount`` includes the fee (the chain receives ``amount - transactionFee``);
  history ``amount`` is the same gross amount, so ccxt's ``amount - fee`` is what arrived.

``/sandbox/...`` endpoints (unsigned, refused unless ``WalletSettings.sandbox``) send a deposit
from the outside world to any address, mine blocks, and approve or reject withdrawals in review.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool

from bourse.api.mexc import schemas as s
from bourse.api.mexc.context import Ctx, Endpoint
from bourse.api.mexc.errors import ApiError
from bourse.api.mexc.params import P
from bourse.domain.money import format_units, to_units
from bourse.sandbox.chain import DepositAddress, Network
from bourse.services.wallet import statuses as st
from bourse.services.wallet.service import (
    DepositView,
    TransferView,
    WalletService,
    WithdrawalView,
    format_id,
    parse_id,
)

# --- plumbing ----------------------------------------------------------------------------------


def _svc(ctx: Ctx) -> WalletService:
    svc = getattr(ctx.services, "wallet", None)
    if svc is None:
        raise ApiError(503, "service not available, please try again", 503)
    return svc


async def _call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a blocking service call in a worker thread (errors map through ``errors.TABLE``)."""
    return await run_in_threadpool(fn, *args, **kwargs)


def _amount(svc: WalletService, coin: str, text: str, field: str = "amount") -> int:
    return to_units(text, svc.asset(coin).scale, field=field)


def coin_id(coin: str) -> str:
    """A stable 32-hex id per coin (MEXC's ``coinId`` / ``vcoinId`` are opaque hex ids)."""
    return hashlib.sha256(f"coin:{coin}".encode()).hexdigest()[:32]


# --- JSON shapes (public: the broker endpoints reuse them) -------------------------------------


def network_json(net: Network, name: str) -> dict[str, Any]:
    """One ``networkList`` item of ``capital/config/getall``."""
    return {
        "coin": net.coin,
        "depositDesc": None,
        "depositEnable": net.deposit_enable,
        "minConfirm": net.confirmations,
        "name": name,
        "network": net.name,
        "netWork": net.id,
        "withdrawEnable": net.withdraw_enable,
        "withdrawFee": format_units(net.withdraw_fee, net.scale),
        "withdrawIntegerMultiple": None,
        "withdrawMax": format_units(net.withdraw_max, net.scale),
        "withdrawMin": format_units(net.withdraw_min, net.scale),
        "sameAddress": net.memo_required,
        "contract": net.contract,
        "withdrawTips": "A memo is required." if net.memo_required else None,
        "depositTips": "Send with both the address and the memo." if net.memo_required else None,
    }


def address_json(a: DepositAddress, empty_memo: str | None = None) -> dict[str, Any]:
    return {
        "coin": a.coin,
        "network": a.network.name,
        "address": a.address,
        "memo": a.memo or empty_memo,
        "netWork": a.network.id,
    }


def deposit_json(v: DepositView) -> dict[str, Any]:
    d = v.deposit
    scale = v.network.scale if v.network is not None else 0
    return {
        "amount": format_units(d.amount, scale),
        "coin": d.coin,
        "network": d.network,
        "status": v.mexc_status,
        "address": d.address,
        "addressTag": d.memo or None,
        "txId": d.tx_ref,
        "insertTime": d.created,
        "unlockConfirm": str(d.required),
        "confirmTimes": str(d.confirmations),
        "memo": d.memo or None,
        "transHash": d.txid,
        "updateTime": d.updated,
        "netWork": d.network,
    }


def withdrawal_json(v: WithdrawalView, scale: int) -> dict[str, Any]:
    w = v.withdrawal
    return {
        "id": format_id(w.id),
        "txId": w.txid or None,
        "coin": w.asset,
        "network": w.network,
        "address": w.address,
        "amount": format_units(w.amount + w.fee, scale),
        "transferType": 0,
        "status": v.mexc_status,
        "transactionFee": format_units(w.fee, scale),
        "confirmNo": v.confirmations,
        "applyTime": w.created,
        "remark": v.remark,
        "memo": w.memo or None,
        "transHash": w.txid or None,
        "updateTime": w.updated,
        "coinId": coin_id(w.asset),
        "vcoinId": coin_id(w.asset),
        "withdrawOrderId": w.client_id or None,
        "netWork": w.network,
        "explorerUrl": None,
    }


def transfer_json(v: TransferView, scale: int, by_id: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "tranId": format_id(v.id),
        "clientTranId": v.client_id or None,
        "asset": v.asset,
        "amount": format_units(v.amount, scale),
        "fromAccountType": v.from_type,
        "toAccountType": v.to_type,
    }
    if by_id:
        out["symbol"] = None
    else:
        out["fromSymbol"] = None
        out["toSymbol"] = None
        out["symbol"] = None
    out["status"] = "SUCCESS"
    out["timestamp"] = v.time
    return out


# --- handlers ----------------------------------------------------------------------------------


async def config_getall(ctx: Ctx) -> Any:
    svc = _svc(ctx)
    currencies = await _call(svc.currencies)
    return [
        {
            "coin": a.code,
            "name": a.name or a.code,
            "networkList": [network_json(n, a.name or a.code) for n in nets],
        }
        for a, nets in currencies
    ]


async def deposit_address_get(ctx: Ctx) -> Any:
    svc, p = _svc(ctx), ctx.params
    found = await _call(svc.deposit_addresses, ctx.account, p["coin"], p.get("network"))
    return [address_json(a) for a in found]


async def deposit_address_post(ctx: Ctx) -> Any:
    svc, p = _svc(ctx), ctx.params
    a = await _call(svc.deposit_address, ctx.account, p["coin"], p["network"])
    return address_json(a)


async def deposit_history(ctx: Ctx) -> Any:
    svc, p = _svc(ctx), ctx.params
    rows = await _call(
        svc.deposit_history,
        ctx.account,
        coin=p.get("coin"),
        network=p.get("network") or p.get("netWork"),
        status=p.get("status"),
        start=p.get("startTime"),
        end=p.get("endTime"),
        limit=p.get("limit", 1000),
    )
    return [deposit_json(v) for v in rows]


async def _withdraw(ctx: Ctx, network: str | None) -> dict[str, Any]:
    svc, p = _svc(ctx), ctx.params
    coin = p["coin"]
    amount = await _call(_amount, svc, coin, p["amount"])
    w = await _call(
        svc.withdraw,
        ctx.account,
        coin,
        network,
        p["address"],
        amount,
        memo=p.get("memo", ""),
        client_id=p.get("withdrawOrderId", ""),
        remark=p.get("remark", ""),
    )
    return {"id": format_id(w.id)}


async def withdraw(ctx: Ctx) -> Any:
    p = ctx.params
    return await _withdraw(ctx, p.get("netWork") or p.get("network"))


async def withdraw_apply(ctx: Ctx) -> Any:
    p = ctx.params
    return [await _withdraw(ctx, p.get("network") or p.get("netWork"))]


async def withdraw_cancel(ctx: Ctx) -> Any:
    svc = _svc(ctx)
    wid = await _call(parse_id, ctx.params["id"])
    w = await _call(svc.cancel_withdrawal, ctx.account, wid)
    return {"id": format_id(w.id)}


async def withdraw_history(ctx: Ctx) -> Any:
    svc, p = _svc(ctx), ctx.params
    rows = await _call(
        svc.withdraw_history,
        ctx.account,
        coin=p.get("coin"),
        status=p.get("status"),
        start=p.get("startTime"),
        end=p.get("endTime"),
        limit=p.get("limit", 1000),
    )
    scales = {a.code: a.scale for a in await _call(svc.assets)}
    return [withdrawal_json(v, scales.get(v.withdrawal.asset, 0)) for v in rows]


async def withdraw_address_book(ctx: Ctx) -> Any:
    svc, p = _svc(ctx), ctx.params
    entries = await _call(svc.whitelist, ctx.account, p.get("coin"))
    page, limit = p.get("page", 1), p.get("limit", 20)
    chunk = entries[(page - 1) * limit : page * limit]
    return {
        "data": [
            {
                "coin": e["coin"],
                "network": e["network"],
                "address": e["address"],
                "addressTag": e["label"] or None,
                "memo": e["memo"] or None,
            }
            for e in chunk
        ],
        "totalRecords": len(entries),
        "page": page,
        "totalPageNum": max(1, -(-len(entries) // limit)),
    }


async def transfer(ctx: Ctx) -> Any:
    svc, p = _svc(ctx), ctx.params
    amount = await _call(_amount, svc, p["asset"], p["amount"])
    v = await _call(
        svc.universal_transfer,
        ctx.account,
        p["fromAccountType"],
        p["toAccountType"],
        p["asset"],
        amount,
        client_id=p.get("clientTranId", ""),
    )
    return {"tranId": format_id(v.id)}


async def transfer_history(ctx: Ctx) -> Any:
    svc, p = _svc(ctx), ctx.params
    rows, total = await _call(
        svc.transfer_history,
        ctx.account,
        p["fromAccountType"],
        p["toAccountType"],
        start=p.get("startTime"),
        end=p.get("endTime"),
        page=p.get("page", 1),
        size=p.get("size", 10),
    )
    scales = {a.code: a.scale for a in await _call(svc.assets)}
    return {"rows": [transfer_json(v, scales.get(v.asset, 0)) for v in rows], "total": total}


async def transfer_by_id(ctx: Ctx) -> Any:
    svc = _svc(ctx)
    tid = await _call(parse_id, ctx.params["tranId"], "tranId")
    v = await _call(svc.get_transfer, ctx.account, tid)
    scale = (await _call(svc.asset, v.asset)).scale
    return transfer_json(v, scale, by_id=True)


# --- sandbox -----------------------------------------------------------------------------------


def _sandbox(ctx: Ctx) -> WalletService:
    svc = _svc(ctx)
    if not svc.settings.sandbox:
        raise ApiError(403, "Access Denied", 403)
    return svc


async def sandbox_deposit(ctx: Ctx) -> Any:
    """A deposit from the outside world to ``address`` (+ ``memo``), or to ``account``'s
    address; with ``confirm=true`` blocks are mined until it is credited."""
    svc, p = _sandbox(ctx), ctx.params
    coin, network = p["coin"], p.get("network") or p.get("netWork")
    address, memo = p.get("address"), p.get("memo", "")
    if not address:
        if "account" not in p:
            raise ApiError(44444, "Mandatory parameter 'address' (or 'account') was not sent.")
        a = await _call(svc.deposit_address, p["account"], coin, network)
        address, memo, network = a.address, a.memo, a.network.id
    amount = await _call(_amount, svc, coin, p["amount"])
    dep = await _call(
        svc.chain.send_deposit,
        address,
        memo,
        coin,
        network,
        amount,
        txid=p.get("txid"),
        vout=p.get("vout", 0),
    )
    if p.get("confirm") == "true" and dep.status == "PENDING":
        await _call(svc.chain.advance, dep.required)
        dep = await _call(svc.chain.deposit, dep.network, dep.txid, dep.vout)
    scale = (await _call(svc.asset, dep.coin)).scale
    return {
        "txId": dep.tx_ref,
        "transHash": dep.txid,
        "coin": dep.coin,
        "netWork": dep.network,
        "address": dep.address,
        "memo": dep.memo or None,
        "amount": format_units(dep.amount, scale),
        "status": st.DEPOSIT_CODE.get(dep.status, 4) if dep.account is not None else None,
        "chainStatus": dep.status,
        "confirmations": dep.confirmations,
        "required": dep.required,
        "credited": dep.credited,
        "height": svc.chain.height,
    }


async def sandbox_advance(ctx: Ctx) -> Any:
    svc = _sandbox(ctx)
    r = await _call(svc.chain.advance, ctx.params.get("blocks", 1))
    return {
        "height": r.height,
        "credited": r.credited,
        "broadcast": r.broadcast,
        "settled": r.settled,
        "failed": r.failed,
    }


async def sandbox_review(ctx: Ctx) -> Any:
    svc, p = _sandbox(ctx), ctx.params
    wid = await _call(parse_id, p["id"])
    if p.get("action", "approve") == "approve":
        w = await _call(svc.approve_withdrawal, wid)
    else:
        w = await _call(svc.reject_withdrawal, wid)
    return {"id": format_id(w.id), "status": str(w.status)}


# --- declarations ------------------------------------------------------------------------------

COIN = P("coin", required=True, description="e.g. USDT")
NETWORK_OPT = P("network", description="network id (netWork) or name, e.g. TRX or Tron(TRC20)")
START = P("startTime", "int", minimum=0)
END = P("endTime", "int", minimum=0)
ACCOUNT_TYPE = ("SPOT", "FUTURES")

_S: dict[str, Any] = {"type": "string"}
_NS = s.nullable(_S)
_INT: dict[str, Any] = {"type": "integer"}
_B: dict[str, Any] = {"type": "boolean"}
_DEC: dict[str, Any] = {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?$"}

_NET = s.obj(
    {
        "coin": _S,
        "depositDesc": _NS,
        "depositEnable": _B,
        "minConfirm": _INT,
        "name": _S,
        "network": _S,
        "netWork": _S,
        "withdrawEnable": _B,
        "withdrawFee": _DEC,
        "withdrawIntegerMultiple": _NS,
        "withdrawMax": _DEC,
        "withdrawMin": _DEC,
        "sameAddress": _B,
        "contract": _S,
        "withdrawTips": _NS,
        "depositTips": _NS,
    }
)
_ADDRESS = s.obj({"coin": _S, "network": _S, "address": _S, "memo": _NS, "netWork": _S})
_DEPOSIT = s.obj(
    {
        "amount": _DEC,
        "coin": _S,
        "network": _S,
        "status": _INT,
        "address": _S,
        "addressTag": _NS,
        "txId": _S,
        "insertTime": _INT,
        "unlockConfirm": _S,
        "confirmTimes": _S,
        "memo": _NS,
        "transHash": _S,
        "updateTime": _INT,
        "netWork": _S,
    }
)
_WITHDRAWAL = s.obj(
    {
        "id": _S,
        "txId": _NS,
        "coin": _S,
        "network": _S,
        "address": _S,
        "amount": _DEC,
        "transferType": _INT,
        "status": _INT,
        "transactionFee": _DEC,
        "confirmNo": s.nullable(_INT),
        "applyTime": _INT,
        "remark": _S,
        "memo": _NS,
        "transHash": _NS,
        "updateTime": _INT,
        "coinId": _S,
        "vcoinId": _S,
        "withdrawOrderId": _NS,
        "netWork": _S,
        "explorerUrl": _NS,
    }
)
_TRANSFER = s.obj(
    {
        "tranId": _S,
        "clientTranId": _NS,
        "asset": _S,
        "amount": _DEC,
        "fromAccountType": _S,
        "toAccountType": _S,
        "status": _S,
        "timestamp": _INT,
    }
)
_ID = s.obj({"id": _S})

_WITHDRAW_PARAMS = (
    COIN,
    P("withdrawOrderId", "client_id", description="client id: a retry returns the first result"),
    P("netWork", description="network id, e.g. TRX (default: the coin's first network)"),
    P("network", description="network id or name (old form)"),
    P("contractAddress"),
    P("address", required=True),
    P("memo", description="required on memo networks"),
    P("amount", "decimal", required=True, description="fee included"),
    P("remark"),
)

DR, DW = "SPOT_DEPOSIT_READ", "SPOT_DEPOSIT_WRITE"
WR, WW = "SPOT_WITHDRAW_READ", "SPOT_WITHDRAW_WRITE"
TR, TW = "SPOT_TRANSFER_READ", "SPOT_TRANSFER_WRITE"

ENDPOINTS: list[Endpoint] = [
    Endpoint(
        "GET",
        "/api/v3/capital/config/getall",
        config_getall,
        (),
        True,
        None,
        "Currencies and their networks",
        s.arr(s.obj({"coin": _S, "name": _S, "networkList": s.arr(_NET)})),
        10,
    ),
    Endpoint(
        "GET",
        "/api/v3/capital/deposit/address",
        deposit_address_get,
        (COIN, NETWORK_OPT),
        True,
        DR,
        "Deposit addresses of a coin",
        s.arr(_ADDRESS),
        10,
    ),
    Endpoint(
        "POST",
        "/api/v3/capital/deposit/address",
        deposit_address_post,
        (COIN, P("network", required=True, description="network id or name")),
        True,
        DW,
        "Generate a deposit address",
        _ADDRESS,
    ),
    Endpoint(
        "GET",
        "/api/v3/capital/deposit/hisrec",
        deposit_history,
        (
            P("coin", description="COIN or COIN-NETWORK"),
            P("network"),
            P("netWork"),
            P("status", description="numeric status or its name"),
            START,
            END,
            P("limit", "int", minimum=1, maximum=1000),
        ),
        True,
        WR,
        "Deposit history",
        s.arr(_DEPOSIT),
    ),
    Endpoint(
        "POST",
        "/api/v3/capital/withdraw",
        withdraw,
        _WITHDRAW_PARAMS,
        True,
        WW,
        "Withdraw (two-phase: reserved now, settled after chain confirmation)",
        _ID,
    ),
    Endpoint(
        "POST",
        "/api/v3/capital/withdraw/apply",
        withdraw_apply,
        _WITHDRAW_PARAMS,
        True,
        WW,
        "Withdraw (old form)",
        s.arr(_ID),
    ),
    Endpoint(
        "DELETE",
        "/api/v3/capital/withdraw",
        withdraw_cancel,
        (P("id", required=True),),
        True,
        WW,
        "Cancel a withdrawal not yet broadcast",
        _ID,
    ),
    Endpoint(
        "GET",
        "/api/v3/capital/withdraw/history",
        withdraw_history,
        (
            P("coin"),
            P("status", description="numeric status or its name"),
            START,
            END,
            P("limit", "int", minimum=1, maximum=1000),
        ),
        True,
        WR,
        "Withdraw history",
        s.arr(_WITHDRAWAL),
    ),
    Endpoint(
        "GET",
        "/api/v3/capital/withdraw/address",
        withdraw_address_book,
        (P("coin"), P("page", "int", minimum=1), P("limit", "int", minimum=1, maximum=100)),
        True,
        WR,
        "Withdraw address book",
        s.obj({"data": s.arr(s.obj({})), "totalRecords": _INT, "page": _INT, "totalPageNum": _INT}),
    ),
    Endpoint(
        "POST",
        "/api/v3/capital/transfer",
        transfer,
        (
            P("fromAccountType", "enum", required=True, enum=ACCOUNT_TYPE),
            P("toAccountType", "enum", required=True, enum=ACCOUNT_TYPE),
            P("asset", required=True),
            P("amount", "decimal", required=True),
            P("clientTranId", "client_id"),
            P("symbol"),
        ),
        True,
        TW,
        "Universal transfer between the account's SPOT and FUTURES wallets",
        s.obj({"tranId": _S}),
    ),
    Endpoint(
        "GET",
        "/api/v3/capital/transfer",
        transfer_history,
        (
            P("fromAccountType", "enum", required=True, enum=ACCOUNT_TYPE),
            P("toAccountType", "enum", required=True, enum=ACCOUNT_TYPE),
            START,
            END,
            P("page", "int", minimum=1),
            P("size", "int", minimum=1, maximum=100),
        ),
        True,
        TR,
        "Universal transfer history",
        s.obj({"rows": s.arr(_TRANSFER), "total": _INT}),
    ),
    Endpoint(
        "GET",
        "/api/v3/capital/transfer/tranId",
        transfer_by_id,
        (P("tranId", required=True),),
        True,
        TR,
        "One universal transfer",
        _TRANSFER,
    ),
]

SANDBOX_ENDPOINTS: list[Endpoint] = [
    Endpoint(
        "POST",
        "/sandbox/deposit",
        sandbox_deposit,
        (
            COIN,
            P("network"),
            P("netWork"),
            P("address"),
            P("memo"),
            P("account", "int", minimum=1),
            P("amount", "decimal", required=True),
            P("txid"),
            P("vout", "int", minimum=0, maximum=2**31 - 1),
            P("confirm", "enum", enum=("true", "false")),
        ),
        False,
        None,
        "Sandbox: a chain deposit to any address (credited after its confirmations)",
        s.obj({}),
    ),
    Endpoint(
        "POST",
        "/sandbox/chain/advance",
        sandbox_advance,
        (P("blocks", "int", minimum=1, maximum=10_000),),
        False,
        None,
        "Sandbox: mine blocks now",
        s.obj({}),
    ),
    Endpoint(
        "POST",
        "/sandbox/withdraw/review",
        sandbox_review,
        (P("id", required=True), P("action", "enum", enum=("approve", "reject"))),
        False,
        None,
        "Sandbox: approve or reject a withdrawal waiting for review",
        s.obj({}),
    ),
]
