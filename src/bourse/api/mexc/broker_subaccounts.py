"""Sub-account endpoints: MEXC's broker API sections 1.2-1.6 and the normal sub-account API
(section 2.9), over ``bourse.services.subaccounts``.

Broker API, called with the **broker's master key** (the broker is the approved independent
broker whose main account owns the key; never a parameter):

* ``POST /api/v3/broker/sub-account/virtualSubAccount``, ``GET .../list``, ``GET .../status``,
  ``POST .../futures``: enveloped ``{"code":"0","message":"","data":[...]}`` where MEXC
  envelopes (create, list, futures); ``status`` is the bare ``{"status":"1"|"2"}``;
* ``POST/GET/DELETE /api/v3/broker/sub-account/apiKey`` (bare objects; ``creatTime`` sic);
* ``POST/GET /api/v3/broker/sub-account/universalTransfer`` (``{"tranId"}`` / bare array);
* ``GET /api/v3/broker/capital/deposit/subHisrec/getall`` (every sub-account's deposits).

Called with a **sub-account's own key** (MEXC's endpoints take no ``subAccount``):

* ``POST/GET /api/v3/broker/capital/deposit/subAddress``,
  ``GET /api/v3/broker/capital/deposit/subHisrec``, ``POST /api/v3/broker/capital/withdraw/apply``.

Bourse extensions (MEXC has no API for them): ``POST /api/v3/broker/sub-account/status``
(freeze/unfreeze), ``POST/GET /api/v3/broker/sub-account/commission`` (fee markup),
``GET /api/v3/broker/sub-account/assets`` (balances; clients call it, MEXC does not document
it), ``withdrawOrderId`` on the broker withdraw (idempotency), and ``*``
as ``fromAccount``/``toAccount`` in the transfer history (the master and every sub-account).

Normal sub-accounts (section 2.9, any user's master key): ``/api/v3/sub-account/...`` and
``/api/v3/capital/sub-account/universalTransfer``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool

from bourse.api.mexc import schemas as s
from bourse.api.mexc.capital import address_json, deposit_json
from bourse.api.mexc.context import Ctx, Endpoint
from bourse.api.mexc.errors import invalid
from bourse.api.mexc.params import P
from bourse.domain.money import format_units, to_units
from bourse.services.subaccounts import SubAccount, SubAccounts, Tenant
from bourse.services.wallet import format_id

#: new domain errors -> (MEXC code, HTTP status); to be merged into ``errors.TABLE``


async def _run(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """A blocking service call in a worker thread (errors map through ``errors.TABLE``)."""
    return await run_in_threadpool(fn, *args, **kwargs)


def _svc(ctx: Ctx) -> SubAccounts:
    return ctx.services.subaccounts


async def _broker(ctx: Ctx) -> Tenant:
    return await _run(_svc(ctx).tenant_for_broker, ctx.account)


async def _master(ctx: Ctx) -> Tenant:
    return await _run(_svc(ctx).tenant_for_master, ctx.account)


def envelope(data: Any) -> dict[str, Any]:
    """MEXC's broker envelope (``code`` is the string ``"0"``)."""
    return {"code": "0", "message": "", "data": data}


def _units(ctx: Ctx, asset: str, text: str, field: str = "amount") -> int:
    return to_units(text, ctx.services.wallet.asset(asset).scale, field=field)


def _rate_units(text: str, field: str) -> int:
    """A decimal fee rate (``"0.0005"``) as ppm."""
    return to_units(text, 6, field=field)


# --- sub-accounts ------------------------------------------------------------------------------
async def create(ctx: Ctx) -> Any:
    p = ctx.params
    t = await _broker(ctx)
    sub = await _run(_svc(ctx).create, t, p.get("subAccount"), p.get("note"), p.get("password"))
    return envelope([{"subAccount": sub.name, "note": sub.note, "timestamp": str(sub.created)}])


async def list_(ctx: Ctx) -> Any:
    p = ctx.params
    t = await _broker(ctx)
    subs = await _run(
        _svc(ctx).list, t, name=p.get("subAccount"), page=p.get("page", 1), limit=p.get("limit", 10)
    )
    return envelope(
        [{"subAccount": x.name, "note": x.note, "timestamp": str(x.created)} for x in subs]
    )


def _status(sub: SubAccount) -> str:
    return "2" if sub.frozen else "1"


async def status(ctx: Ctx) -> Any:
    t = await _broker(ctx)
    sub = await _run(_svc(ctx).get, t, ctx.params.get("subAccount"))
    return {"status": _status(sub)}


async def set_status(ctx: Ctx) -> Any:
    p = ctx.params
    t = await _broker(ctx)
    sub = await _run(_svc(ctx).set_frozen, t, p.get("subAccount"), p["status"] == "2")
    return {"subAccount": sub.name, "status": _status(sub)}


async def futures(ctx: Ctx) -> Any:
    t = await _broker(ctx)
    sub = await _run(_svc(ctx).enable_futures, t, ctx.params.get("subAccount"))
    return envelope([{"subAccount": sub.name, "isFuturesEnabled": True, "timestamp": str(ctx.now)}])


async def _commission_json(ctx: Ctx, t: Tenant, sub: SubAccount) -> dict[str, Any]:
    maker, taker = await _run(_svc(ctx).rates, t, sub)
    return {
        "subAccount": sub.name,
        "makerCommission": format_units(maker, 6),
        "takerCommission": format_units(taker, 6),
        "makerMarkup": format_units(sub.maker_markup, 6),
        "takerMarkup": format_units(sub.taker_markup, 6),
        "maxMarkup": format_units(t.max_markup_ppm, 6),
    }


async def commission_get(ctx: Ctx) -> Any:
    t = await _broker(ctx)
    sub = await _run(_svc(ctx).get, t, ctx.params.get("subAccount"))
    return await _commission_json(ctx, t, sub)


async def commission_set(ctx: Ctx) -> Any:
    p = ctx.params
    t = await _broker(ctx)
    maker = await _run(_rate_units, p.get("makerMarkup", "0"), "makerMarkup")
    taker = await _run(_rate_units, p.get("takerMarkup", "0"), "takerMarkup")
    sub = await _run(_svc(ctx).set_markup, t, p.get("subAccount"), maker, taker)
    return await _commission_json(ctx, t, sub)


# --- API keys ----------------------------------------------------------------------------------
async def _create_key(ctx: Ctx, t: Tenant) -> dict[str, Any]:
    p = ctx.params
    assert ctx.key is not None
    out = await _run(
        _svc(ctx).keys.create,
        t,
        p.get("subAccount"),
        p.get("permissions"),
        p.get("ip"),
        p.get("note"),
        creator_permissions=ctx.key.permissions,
    )
    return {
        "subAccount": out["subAccount"],
        "permissions": out["permissions"],
        "note": out["note"],
        "apikey": out["apiKey"],  # the doc example's spelling
        "apiKey": out["apiKey"],  # the newest docs' spelling
        "secretKey": out["secretKey"],
        "ip": out["ip"],
        "createTime": out["createTime"],
        "creatTime": out["createTime"],
        "expireTime": out["expireTime"],
    }


async def _list_keys(ctx: Ctx, t: Tenant) -> dict[str, Any]:
    _, keys = await _run(_svc(ctx).keys.list, t, ctx.params.get("subAccount"))
    return {
        "subAccount": [
            {
                "note": k["label"],
                "apiKey": k["apiKey"],
                "permissions": ",".join(k["permissions"]),
                "ip": ",".join(k["ip"]),
                "creatTime": k["createTime"],
                "createTime": k["createTime"],
                "expireTime": k["expireTime"],
            }
            for k in keys
        ]
    }


async def _delete_key(ctx: Ctx, t: Tenant) -> dict[str, Any]:
    p = ctx.params
    sub = await _run(_svc(ctx).keys.delete, t, p.get("subAccount"), p.get("apiKey"))
    return {"subAccount": sub.name}


async def key_create(ctx: Ctx) -> Any:
    return await _create_key(ctx, await _broker(ctx))


async def key_list(ctx: Ctx) -> Any:
    return await _list_keys(ctx, await _broker(ctx))


async def key_delete(ctx: Ctx) -> Any:
    return await _delete_key(ctx, await _broker(ctx))


# --- universal transfer ------------------------------------------------------------------------
async def _transfer(ctx: Ctx, t: Tenant) -> str:
    p = ctx.params
    amount = await _run(_units, ctx, p["asset"], p["amount"])
    tid = await _run(
        _svc(ctx).transfers.transfer,
        t,
        p.get("fromAccount"),
        p.get("toAccount"),
        p["fromAccountType"],
        p["toAccountType"],
        p["asset"],
        amount,
        p.get("clientTranId", ""),
    )
    return format_id(tid)


async def transfer(ctx: Ctx) -> Any:
    return {"tranId": await _transfer(ctx, await _broker(ctx))}


async def _transfer_rows(ctx: Ctx, t: Tenant) -> list[dict[str, Any]]:
    p = ctx.params
    start, end = p.get("startTime"), p.get("endTime")
    if start is not None and end is not None and start > end:
        raise invalid("startTime", "must not be after endTime")
    rows = await _run(
        _svc(ctx).transfers.history,
        t,
        p.get("fromAccount"),
        p.get("toAccount"),
        p["fromAccountType"],
        p["toAccountType"],
        start=start,
        end=end,
        page=p.get("page", 1),
        limit=p.get("limit", 500),
        client_id=p.get("clientTranId"),
    )
    wallet = ctx.services.wallet
    out = []
    for r in rows:
        v = r["view"]
        scale = (await _run(wallet.asset, v.asset)).scale
        out.append(
            {
                "tranId": format_id(v.id),
                "fromAccount": r["from"] or str(t.master),
                "toAccount": r["to"] or str(t.master),
                "clientTranId": v.client_id or None,
                "asset": v.asset,
                "amount": format_units(v.amount, scale),
                "fromAccountType": v.from_type,
                "toAccountType": v.to_type,
                "fromSymbol": None,
                "toSymbol": None,
                "status": "SUCCESS",
                "timestamp": v.time,
            }
        )
    return out


async def transfer_history(ctx: Ctx) -> Any:
    return await _transfer_rows(ctx, await _broker(ctx))


# --- deposits and withdrawals ------------------------------------------------------------------
async def _own(ctx: Ctx) -> SubAccount:
    return await _run(_svc(ctx).funds.own, ctx.account)


async def sub_address_post(ctx: Ctx) -> Any:
    sub = await _own(ctx)
    p = ctx.params
    a = await _run(ctx.services.wallet.deposit_address, sub.account_id, p["coin"], p["network"])
    return address_json(a, "")


async def sub_address_get(ctx: Ctx) -> Any:
    sub = await _own(ctx)
    p = ctx.params
    found = await _run(
        ctx.services.wallet.deposit_addresses, sub.account_id, p["coin"], p.get("network")
    )
    return [address_json(a, "") for a in found]


def _paged(rows: list[Any], page: int, limit: int) -> list[Any]:
    return rows[(page - 1) * limit : page * limit]


async def sub_deposit_history(ctx: Ctx) -> Any:
    sub = await _own(ctx)
    p = ctx.params
    page, limit = p.get("page", 1), p.get("limit", 20)
    wallet = ctx.services.wallet
    end = p.get("endTime")
    start = p.get("startTime")
    if start is None:
        start = (end if end is not None else wallet.clock()) - 10 * 86_400_000
    rows = await _run(
        wallet.deposit_history,
        sub.account_id,
        coin=p.get("coin"),
        status=p.get("status"),
        start=start,
        end=end,
        limit=min(1000, page * limit),
    )
    return [deposit_json(v) for v in _paged(rows, page, limit)]


async def deposit_history_all(ctx: Ctx) -> Any:
    t = await _broker(ctx)
    p = ctx.params
    rows, names = await _run(
        _svc(ctx).funds.deposit_history_all,
        t,
        coin=p.get("coin"),
        status=p.get("status"),
        start=p.get("startTime"),
        end=p.get("endTime"),
        limit=p.get("limit", 100),
        page=p.get("page", 1),
    )
    out = []
    for v in rows:
        row = deposit_json(v)
        row.pop("addressTag", None)
        row["subAccount"] = names.get(v.deposit.account or 0, "")
        out.append(row)
    return out


async def withdraw(ctx: Ctx) -> Any:
    sub = await _own(ctx)
    p = ctx.params
    amount = await _run(_units, ctx, p["coin"], p["amount"])
    w = await _run(
        _svc(ctx).funds.withdraw,
        sub,
        p["coin"],
        p["network"],
        p["address"],
        amount,
        password=p.get("password"),
        remark=p.get("remark", ""),
        client_id=p.get("withdrawOrderId", ""),
    )
    return {"id": format_id(w.id)}


# --- normal sub-accounts (section 2.9) ---------------------------------------------------------
async def n_create(ctx: Ctx) -> Any:
    p = ctx.params
    t = await _master(ctx)
    sub = await _run(_svc(ctx).create, t, p.get("subAccount"), p.get("note"))
    return {"subAccount": sub.name, "note": sub.note}


async def n_list(ctx: Ctx) -> Any:
    p = ctx.params
    t = await _master(ctx)
    frozen = None if "isFreeze" not in p else p["isFreeze"] == "true"
    subs = await _run(
        _svc(ctx).list,
        t,
        name=p.get("subAccount"),
        frozen=frozen,
        page=p.get("page", 1),
        limit=p.get("limit", 10),
    )
    return {
        "subAccounts": [
            {
                "subAccount": x.name,
                "isFreeze": x.frozen,
                "createTime": x.created,
                "uid": str(x.account_id),
            }
            for x in subs
        ]
    }


async def n_key_create(ctx: Ctx) -> Any:
    out = await _create_key(ctx, await _master(ctx))
    out.pop("apikey", None)
    return out


async def n_key_list(ctx: Ctx) -> Any:
    return await _list_keys(ctx, await _master(ctx))


async def n_key_delete(ctx: Ctx) -> Any:
    return await _delete_key(ctx, await _master(ctx))


async def n_transfer(ctx: Ctx) -> Any:
    return {"tranId": await _transfer(ctx, await _master(ctx))}


async def n_transfer_history(ctx: Ctx) -> Any:
    return await _transfer_rows(ctx, await _master(ctx))


async def n_asset(ctx: Ctx) -> Any:
    return await _assets(ctx, await _master(ctx))


async def broker_assets(ctx: Ctx) -> Any:
    return await _assets(ctx, await _broker(ctx))


async def _assets(ctx: Ctx, t: Tenant) -> Any:
    sub = await _run(_svc(ctx).get, t, ctx.params.get("subAccount"))

    def snap(engine: Any) -> list[tuple[str, int, int, int]]:
        wallet = engine.wallet
        return [
            (a, av, lk, wallet.assets[a].scale)
            for a, (av, lk) in sorted(
                engine.exchange.ledger.account_balances(sub.account_id).items()
            )
            if a in wallet.assets and (av or lk)
        ]

    rows = await ctx.read(snap)
    return {
        "balances": [
            {"asset": a, "free": format_units(av, sc), "locked": format_units(lk, sc)}
            for a, av, lk, sc in rows
        ]
    }


# --- declarations ------------------------------------------------------------------------------
AR, AW = "SPOT_ACCOUNT_READ", "SPOT_ACCOUNT_WRITE"
TR, TW = "SPOT_TRANSFER_READ", "SPOT_TRANSFER_WRITE"
DR, DW = "SPOT_DEPOSIT_READ", "SPOT_DEPOSIT_WRITE"
WW = "SPOT_WITHDRAW_WRITE"
_TYPES = ("SPOT", "FUTURES")
SUB = P("subAccount", description="sub-account name")
SUB_REQ = P("subAccount", required=True, description="sub-account name")
PAGE = P("page", "int", minimum=1, maximum=1_000_000)
START = P("startTime", "int", minimum=0)
END = P("endTime", "int", minimum=0)
_S, _NS, _INT = s.S, s.NS, s.INT


def _env(item: dict[str, Any]) -> dict[str, Any]:
    return s.obj({"code": _S, "message": _S, "data": s.arr(item)})


_SUB_ROW = s.obj({"subAccount": _S, "note": _S, "timestamp": _S})
_KEY_CREATED = s.obj(
    {
        "subAccount": _S,
        "permissions": _S,
        "note": _S,
        "apiKey": _S,
        "secretKey": _S,
        "ip": _S,
        "createTime": _INT,
    }
)
_KEY_LIST = s.obj(
    {
        "subAccount": s.arr(
            s.obj({"note": _S, "apiKey": _S, "permissions": _S, "ip": _S, "creatTime": _INT})
        )
    }
)
_TRANSFER_ROW = s.obj(
    {
        "tranId": _S,
        "fromAccount": _S,
        "toAccount": _S,
        "clientTranId": _NS,
        "asset": _S,
        "amount": s.DEC,
        "fromAccountType": _S,
        "toAccountType": _S,
        "status": _S,
        "timestamp": _INT,
    }
)
_COMMISSION = s.obj(
    {
        "subAccount": _S,
        "makerCommission": s.DEC,
        "takerCommission": s.DEC,
        "makerMarkup": s.DEC,
        "takerMarkup": s.DEC,
    }
)
_ADDRESS = s.obj({"address": _S, "coin": _S, "network": _S, "memo": _NS})
_DEPOSIT = s.obj({"amount": s.DEC, "coin": _S, "network": _S, "status": _INT, "address": _S})
_BALANCES = s.obj({"balances": s.arr(s.obj({"asset": _S, "free": s.DEC, "locked": s.DEC}))})
_KEY_PARAMS = (
    SUB,
    P("permissions", description="comma-separated permission names"),
    P("ip", description="comma-separated IPs (broker: at most 4; normal: at most 20)"),
    P("note"),
)
_TRANSFER_PARAMS = (
    P("clientTranId", "client_id"),
    P("fromAccount"),
    P("toAccount"),
    P("fromAccountType", "enum", True, enum=_TYPES),
    P("toAccountType", "enum", True, enum=_TYPES),
    P("asset", required=True),
    P("amount", "decimal", True),
)
_HISTORY_PARAMS = (
    P("fromAccount", description="a sub-account; none: the master; * (Bourse): any"),
    P("toAccount", description="a sub-account; none: the master; * (Bourse): any"),
    P("fromAccountType", "enum", True, enum=_TYPES),
    P("toAccountType", "enum", True, enum=_TYPES),
    START,
    END,
    PAGE,
    P("limit", "int", minimum=1, maximum=500),
    P("clientTranId", "client_id"),
)
_DEPOSIT_PARAMS = (
    P("coin"),
    P("status", description="status name or numeric code"),
    START,
    END,
    PAGE,
    P("limit", "int", minimum=1, maximum=1000),
)

ENDPOINTS: list[Endpoint] = [
    Endpoint(
        "POST",
        "/api/v3/broker/sub-account/virtualSubAccount",
        create,
        (SUB, P("note"), P("password", description="MD5 hex fund password")),
        True,
        AW,
        "Create a sub-account (MEXC broker)",
        _env(_SUB_ROW),
    ),
    Endpoint(
        "GET",
        "/api/v3/broker/sub-account/list",
        list_,
        (SUB, PAGE, P("limit", "int", minimum=1, maximum=200)),
        True,
        AR,
        "List sub-accounts (MEXC broker)",
        _env(_SUB_ROW),
    ),
    Endpoint(
        "GET",
        "/api/v3/broker/sub-account/status",
        status,
        (SUB_REQ,),
        True,
        AR,
        "Sub-account status: 1 normal, 2 frozen (MEXC broker)",
        s.obj({"status": {"type": "string", "enum": ["1", "2"]}}),
    ),
    Endpoint(
        "POST",
        "/api/v3/broker/sub-account/status",
        set_status,
        (SUB_REQ, P("status", "enum", True, enum=("1", "2"))),
        True,
        AW,
        "Freeze (2) or unfreeze (1) a sub-account; freezing cancels its orders (Bourse)",
        s.obj({"subAccount": _S, "status": _S}),
    ),
    Endpoint(
        "POST",
        "/api/v3/broker/sub-account/futures",
        futures,
        (SUB_REQ,),
        True,
        AW,
        "Enable futures for a sub-account (MEXC broker)",
        _env(s.obj({"subAccount": _S, "isFuturesEnabled": s.B, "timestamp": _S})),
    ),
    Endpoint(
        "GET",
        "/api/v3/broker/sub-account/commission",
        commission_get,
        (SUB_REQ,),
        True,
        AR,
        "A sub-account's fee rates: the master's plus the broker's markup (Bourse)",
        _COMMISSION,
    ),
    Endpoint(
        "POST",
        "/api/v3/broker/sub-account/commission",
        commission_set,
        (SUB_REQ, P("makerMarkup", "decimal"), P("takerMarkup", "decimal")),
        True,
        AW,
        "Set a sub-account's fee markup (decimal rates, capped) (Bourse)",
        _COMMISSION,
    ),
    Endpoint(
        "POST",
        "/api/v3/broker/sub-account/apiKey",
        key_create,
        _KEY_PARAMS,
        True,
        AW,
        "Create an API key for a sub-account (MEXC broker)",
        _KEY_CREATED,
    ),
    Endpoint(
        "GET",
        "/api/v3/broker/sub-account/apiKey",
        key_list,
        (SUB_REQ,),
        True,
        AR,
        "A sub-account's API keys (MEXC broker)",
        _KEY_LIST,
    ),
    Endpoint(
        "DELETE",
        "/api/v3/broker/sub-account/apiKey",
        key_delete,
        (SUB, P("apiKey")),
        True,
        AW,
        "Delete a sub-account's API key (MEXC broker)",
        s.obj({"subAccount": _S}),
    ),
    Endpoint(
        "POST",
        "/api/v3/broker/sub-account/universalTransfer",
        transfer,
        _TRANSFER_PARAMS,
        True,
        TW,
        "Universal transfer master <-> sub and sub <-> sub (MEXC broker)",
        s.obj({"tranId": _S}),
    ),
    Endpoint(
        "GET",
        "/api/v3/broker/sub-account/universalTransfer",
        transfer_history,
        _HISTORY_PARAMS,
        True,
        TR,
        "Universal transfer history (MEXC broker)",
        s.arr(_TRANSFER_ROW),
    ),
    Endpoint(
        "GET",
        "/api/v3/broker/sub-account/assets",
        broker_assets,
        (SUB_REQ, P("accountType", "enum", enum=("SPOT",))),
        True,
        AR,
        "A sub-account's spot balances (undocumented by MEXC, called by clients) (Bourse)",
        _BALANCES,
    ),
    Endpoint(
        "POST",
        "/api/v3/broker/capital/deposit/subAddress",
        sub_address_post,
        (P("coin", required=True), P("network", required=True)),
        True,
        DW,
        "Generate a deposit address (sub-account key) (MEXC broker)",
        _ADDRESS,
    ),
    Endpoint(
        "GET",
        "/api/v3/broker/capital/deposit/subAddress",
        sub_address_get,
        (P("coin", required=True), P("network")),
        True,
        DR,
        "Deposit addresses (sub-account key) (MEXC broker)",
        s.arr(_ADDRESS),
    ),
    Endpoint(
        "GET",
        "/api/v3/broker/capital/deposit/subHisrec",
        sub_deposit_history,
        _DEPOSIT_PARAMS,
        True,
        DR,
        "Deposit history (sub-account key) (MEXC broker)",
        s.arr(_DEPOSIT),
    ),
    Endpoint(
        "GET",
        "/api/v3/broker/capital/deposit/subHisrec/getall",
        deposit_history_all,
        _DEPOSIT_PARAMS,
        True,
        DR,
        "Deposit history of every sub-account (master key; default: last 3 days) (MEXC broker)",
        s.arr(_DEPOSIT),
    ),
    Endpoint(
        "POST",
        "/api/v3/broker/capital/withdraw/apply",
        withdraw,
        (
            P("coin", required=True),
            P("network", required=True),
            P("address", required=True),
            P("amount", "decimal", True),
            P("password", description="MD5 hex fund password: skips the address book"),
            P("remark"),
            P("withdrawOrderId", "client_id", description="idempotency key (Bourse)"),
        ),
        True,
        WW,
        "Withdraw (sub-account key only) (MEXC broker)",
        s.obj({"id": _S}),
    ),
    # --- normal sub-accounts (section 2.9) ---
    Endpoint(
        "POST",
        "/api/v3/sub-account/virtualSubAccount",
        n_create,
        (SUB, P("note")),
        True,
        AW,
        "Create a sub-account",
        s.obj({"subAccount": _S, "note": _S}),
    ),
    Endpoint(
        "GET",
        "/api/v3/sub-account/list",
        n_list,
        (
            SUB,
            P("isFreeze", "enum", enum=("true", "false")),
            PAGE,
            P("limit", "int", minimum=1, maximum=200),
        ),
        True,
        AR,
        "List sub-accounts",
        s.obj(
            {
                "subAccounts": s.arr(
                    s.obj({"subAccount": _S, "isFreeze": s.B, "createTime": _INT, "uid": _S})
                )
            }
        ),
    ),
    Endpoint(
        "POST",
        "/api/v3/sub-account/apiKey",
        n_key_create,
        _KEY_PARAMS,
        True,
        AW,
        "Create an API key for a sub-account",
        _KEY_CREATED,
    ),
    Endpoint(
        "GET",
        "/api/v3/sub-account/apiKey",
        n_key_list,
        (SUB_REQ,),
        True,
        AR,
        "A sub-account's API keys",
        _KEY_LIST,
    ),
    Endpoint(
        "DELETE",
        "/api/v3/sub-account/apiKey",
        n_key_delete,
        (SUB, P("apiKey")),
        True,
        AW,
        "Delete a sub-account's API key",
        s.obj({"subAccount": _S}),
    ),
    Endpoint(
        "POST",
        "/api/v3/capital/sub-account/universalTransfer",
        n_transfer,
        _TRANSFER_PARAMS,
        True,
        TW,
        "Universal transfer between the master and its sub-accounts",
        s.obj({"tranId": _S}),
    ),
    Endpoint(
        "GET",
        "/api/v3/capital/sub-account/universalTransfer",
        n_transfer_history,
        _HISTORY_PARAMS,
        True,
        TR,
        "Universal transfer history of the master and its sub-accounts",
        s.arr(_TRANSFER_ROW),
    ),
    Endpoint(
        "GET",
        "/api/v3/sub-account/asset",
        n_asset,
        (SUB_REQ, P("accountType", "enum", enum=("SPOT",))),
        True,
        TR,
        "A sub-account's spot balances",
        _BALANCES,
    ),
]
