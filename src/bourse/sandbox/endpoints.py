"""Sandbox endpoints: refused with 403 unless ``WalletSettings.sandbox`` (and unless the
wallet's chain is the simulator). The unsigned ones play the outside world and the operator:
send a deposit from the chain to any address, mine blocks now, approve or reject a withdrawal
waiting for review. The signed ``POST /sandbox/faucet`` lets a key fund its own account from
the demo faucet (``bourse.sandbox.faucet``, its caps and request ids). ``bourse.app.create_app``
serves them when the wallet runs in sandbox mode.
"""

from __future__ import annotations

from typing import Any

from bourse.api.mexc import schemas as s
from bourse.api.mexc.capital_service import call, units, wallet_of
from bourse.api.mexc.capital_wire import COIN
from bourse.api.mexc.context import Ctx, Endpoint
from bourse.api.mexc.errors import PARAM_ERROR, ApiError
from bourse.api.mexc.params import P
from bourse.domain.money import format_units
from bourse.engine.trace import set_origin
from bourse.sandbox import faucet as f
from bourse.sandbox.chain import SimulatedChain
from bourse.sandbox.controls import Sandbox
from bourse.services.wallet import WalletService, format_id, parse_id
from bourse.services.wallet import statuses as st
from bourse.store.repositories.faucet import FaucetLedger


def _sandbox(ctx: Ctx) -> WalletService:
    svc = wallet_of(ctx)
    if not svc.settings.sandbox:
        raise ApiError(403, "Access Denied", 403)
    set_origin("sandbox")  # recorded with the money movements this request makes
    return svc


def _simulator(svc: WalletService) -> SimulatedChain:
    """The wallet's chain, if it is the simulator (a real chain takes no orders from here)."""
    if not isinstance(svc.chain, SimulatedChain):
        raise ApiError(403, "Access Denied", 403)
    return svc.chain


async def sandbox_deposit(ctx: Ctx) -> Any:
    """A deposit from the outside world to ``address`` (+ ``memo``), or to ``account``'s
    address; with ``confirm=true`` blocks are mined until it is credited."""
    svc, p = _sandbox(ctx), ctx.params
    chain = _simulator(svc)
    coin, network = p["coin"], p.get("network") or p.get("netWork")
    address, memo = p.get("address"), p.get("memo", "")
    if not address:
        if "account" not in p:
            raise ApiError(44444, "Mandatory parameter 'address' (or 'account') was not sent.")
        a = await call(svc.deposit_address, p["account"], coin, network)
        address, memo, network = a.address, a.memo, a.network.id
    amount = await call(units, svc, coin, p["amount"])
    dep = await call(
        chain.send_deposit,
        address,
        memo,
        coin,
        network,
        amount,
        txid=p.get("txid"),
        vout=p.get("vout", 0),
    )
    if p.get("confirm") == "true" and dep.status == "PENDING":
        await call(chain.advance, dep.required)
        dep = await call(chain.deposit, dep.network, dep.txid, dep.vout)
    scale = (await call(svc.asset, dep.coin)).scale
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
        "height": chain.height,
    }


async def sandbox_advance(ctx: Ctx) -> Any:
    chain = _simulator(_sandbox(ctx))
    r = await call(chain.advance, ctx.params.get("blocks", 1))
    return {
        "height": r.height,
        "credited": r.credited,
        "broadcast": r.broadcast,
        "settled": r.settled,
        "failed": r.failed,
    }


async def sandbox_review(ctx: Ctx) -> Any:
    svc, p = _sandbox(ctx), ctx.params
    wid = await call(parse_id, p["id"])
    if p.get("action", "approve") == "approve":
        w = await call(svc.approve_withdrawal, wid)
    else:
        w = await call(svc.reject_withdrawal, wid)
    return {"id": format_id(w.id), "status": str(w.status)}


async def sandbox_faucet(ctx: Ctx) -> Any:
    """Test funds for the key's own account, within the faucet's caps (demo mode)."""
    _sandbox(ctx)
    platform, p = ctx.services, ctx.params
    limits = platform.sandbox.faucet_limits if isinstance(platform.sandbox, Sandbox) else None
    try:
        done = await call(
            f.credit,
            platform.engine,
            FaucetLedger(platform.db),
            ctx.account,
            p["asset"],
            p["amount"],
            p.get("requestId"),
            limits=limits,
        )
    except f.FaucetRefused as exc:
        raise ApiError(PARAM_ERROR, str(exc)) from exc
    except f.FaucetLimit as exc:
        raise ApiError(26, str(exc)) from exc  # operation not allowed
    return {
        "asset": done.asset,
        "amount": done.amount,
        "available": done.available,
        "remaining": done.remaining,
        "requestId": p.get("requestId"),
        "credited": done.credited,
    }


SANDBOX_ENDPOINTS: list[Endpoint] = [
    Endpoint(
        "POST",
        "/sandbox/faucet",
        sandbox_faucet,
        (
            P("asset", required=True),
            P("amount", "decimal", required=True),
            P("requestId"),
        ),
        True,
        "SPOT_ACCOUNT_READ",
        "Sandbox: test funds for the key's own account (capped per asset a day)",
        s.obj({}),
    ),
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
