"""The console's money pages: deposit, withdraw and transfers, over the wallet service the
capital API calls (``services.wallet``, ``services.internal_transfers``).

============================  =========  ================================================
path                          verbs      what
============================  =========  ================================================
/account/deposit              GET        pick a coin and network: the deposit address, recent
                                         deposits with status and confirmations; the faucet
                                         in demo mode
/account/withdraw             GET, POST  withdraw (fee shown; password and 2FA code), history
/account/withdraw/cancel      POST       cancel a withdrawal not yet broadcast
/account/transfers            GET, POST  SPOT <-> FUTURES of the user's own account; history
/account/transfers/internal   POST       to another user by UID or e-mail (password and 2FA)
============================  =========  ================================================

Money leaving the account (a withdrawal, a transfer to someone else) needs the log-in password
again and, when 2FA is on, a current code (``Users.confirm``; docs/decisions.md says why there
is no separate fund password). Each money form carries a request id: a form sent twice moves
money once (the engine's client-id idempotency, as ``withdrawOrderId`` and ``clientTranId``).
A withdraw form sent again once its withdrawal was made (the Back button, a reload after a
lost answer) shows that withdrawal, as the API answers a retry, before the step-up (the code
it carries is spent) and whatever changed since (a fee, the whitelist).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from functools import partial
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bourse.domain.errors import DomainError
from bourse.domain.money import format_units, to_units
from bourse.domain.wallet import WithdrawalStatus
from bourse.services import users as us
from bourse.services.bundle import Services
from bourse.services.wallet import WithdrawalRequest, format_id, parse_id
from bourse.services.wallet.chain import Network
from bourse.services.wallet.statuses import DEPOSIT_STATUS_NAMES, WITHDRAW_STATUS_NAMES
from bourse.services.wallet.transfers import ACCOUNT_TYPES
from bourse.web import figures, messages
from bourse.web.console import Console, Faucet, NotConfirmed, field, once_id, redirect

#: rows of each history shown
HISTORY_SHOWN = 20
#: recipients a transfer to another user can name (MEXC's MOBILE: Bourse keeps no numbers)
RECIPIENT_TYPES = (("UID", "UID"), ("EMAIL", "E-mail"))


@dataclass(frozen=True, slots=True)
class NetworkRow:
    id: str
    name: str
    fee: str
    min: str
    max: str
    confirmations: int
    deposit_min: str
    memo: bool
    deposit: bool
    withdraw: bool


@dataclass(frozen=True, slots=True)
class DepositRow:
    coin: str
    network: str
    amount: str
    status: str
    confirmations: str
    txid: str
    time: int


@dataclass(frozen=True, slots=True)
class WithdrawalRow:
    id: str
    coin: str
    network: str
    amount: str
    fee: str
    address: str
    status: str
    txid: str
    time: int
    cancellable: bool


@dataclass(frozen=True, slots=True)
class TransferRow:
    id: str
    what: str
    asset: str
    amount: str
    status: str
    time: int


def _network(n: Network) -> NetworkRow:
    return NetworkRow(n.id, n.name, format_units(n.withdraw_fee, n.scale),
                      format_units(n.withdraw_min, n.scale), format_units(n.withdraw_max, n.scale),
                      n.confirmations, format_units(n.deposit_min, n.scale), n.memo_required, n.deposit_enable,
                      n.withdraw_enable)  # fmt: skip


class WalletPages(Console):
    def _coins(self) -> list[tuple[str, list[NetworkRow]]]:
        return [(a.code, [_network(n) for n in nets]) for a, nets in self.svc.wallet.currencies()]

    def _coin(self, request: Request, coins: list[tuple[str, list[NetworkRow]]]) -> str:
        want = request.query_params.get("coin", "").upper()[:16] or figures.VALUATION_ASSET
        codes = [c for c, _ in coins]
        return want if want in codes else (codes[0] if codes else "")

    def _scales(self) -> dict[str, int]:
        return {a.code: a.scale for a in self.svc.wallet.assets()}

    async def _amount(self, coin: str, text: str) -> int:
        asset = await run_in_threadpool(self.svc.wallet.asset, coin)
        if not text:
            raise DomainError("Enter an amount.")
        return to_units(text, asset.scale, field="amount")

    # --- deposit -------------------------------------------------------------------------------
    def _deposit_context(self, account: int, coin: str, network: str) -> dict[str, Any]:
        w = self.svc.wallet
        address, error = None, ""
        if coin:
            try:
                address = w.deposit_address(account, coin, network or None)
            except DomainError as exc:
                error = messages.say(exc)
        scales = self._scales()
        rows = [
            DepositRow(d.coin, v.network.name if v.network else d.network,
                       format_units(d.amount, scales.get(d.coin, 0)),
                       DEPOSIT_STATUS_NAMES.get(v.mexc_status, d.status).title(),
                       f"{min(d.confirmations, d.required)}/{d.required}", d.txid, d.created)
            for v in w.deposit_history(account, limit=HISTORY_SHOWN)
            for d in (v.deposit,)
        ]  # fmt: skip
        return {"address": address, "deposits": rows, "error": error}

    async def deposit(self, request: Request) -> Response:
        session = await self._session(request)
        if session is None:
            return redirect("/login?next=/account/deposit")
        coins = await run_in_threadpool(self._coins)
        coin = self._coin(request, coins)
        networks = dict(coins).get(coin, [])
        network = request.query_params.get("network", "")[:32]
        if network not in {n.id for n in networks}:
            network = ""  # another coin's network (the coin was changed): its default
        data = await run_in_threadpool(
            self._deposit_context, session.user.account_id, coin, network
        )
        return self._page(
            "deposit.html",
            session,
            400 if data["error"] else 200,
            title="Deposit",
            here="deposit",
            coins=coins,
            coin=coin,
            networks=networks,
            network=data["address"].network.id if data["address"] else network,
            faucet_id=secrets.token_urlsafe(12),
            funded=request.query_params.get("funded", "")[:64],
            valuation=coin,
            assets=[c for c, _ in coins],
            **data,
        )

    # --- withdraw ------------------------------------------------------------------------------
    def _withdrawals(self, account: int) -> list[WithdrawalRow]:
        scales = self._scales()
        out = []
        for v in self.svc.wallet.withdraw_history(account, limit=HISTORY_SHOWN):
            w, sc = v.withdrawal, scales.get(v.withdrawal.asset, 0)
            out.append(
                WithdrawalRow(format_id(w.id), w.asset, v.network.name if v.network else w.network,
                              format_units(w.amount + w.fee, sc), format_units(w.fee, sc),
                              w.address, WITHDRAW_STATUS_NAMES[v.mexc_status].replace("_", " ")
                              .title(), w.txid, w.created,
                              w.status in (WithdrawalStatus.PENDING, WithdrawalStatus.REVIEW))
            )  # fmt: skip
        return out

    def _free(self, account: int, coin: str) -> str:
        def read(e: Any) -> tuple[int, int]:
            bal = e.exchange.ledger.balances.get((account, coin))
            asset = e.wallet.assets.get(coin)
            return (bal[0] if bal else 0), (asset.scale if asset else 0)

        free, scale = self.svc.engine.read(read)
        return format_units(free, scale)

    async def withdraw_page(self, request: Request, **ctx: Any) -> Response:
        session = await self._session(request)
        if session is None:
            return redirect("/login?next=/account/withdraw")
        account = session.user.account_id
        coins = await run_in_threadpool(self._coins)
        coin = str(ctx.pop("coin", "")) or self._coin(request, coins)
        rows = await run_in_threadpool(self._withdrawals, account)
        free = await run_in_threadpool(self._free, account, coin)
        return self._page(
            "withdraw.html",
            session,
            int(ctx.pop("status", 200)),
            title="Withdraw",
            here="withdraw",
            coins=[c for c, _ in coins],
            coin=coin,
            networks=[n for n in dict(coins).get(coin, []) if n.withdraw],
            free=free,
            totp=session.user.totp_enabled,
            request_id=secrets.token_urlsafe(12),
            withdrawals=rows,
            done=request.query_params.get("done", "")[:20],
            form=ctx.pop("form", {}),
            **ctx,
        )

    async def withdraw(self, request: Request) -> Response:
        session, form = await self._posted(request, "/account/withdraw")
        coin = field(form, "coin", 16).upper()
        kept = {k: field(form, k, 128) for k in ("network", "address", "memo", "amount")}
        request_id = once_id(form)

        async def again(status: int, error: str) -> Response:
            return await self.withdraw_page(request, status=status, error=error, coin=coin,
                                            form=kept)  # fmt: skip

        wallet, account = self.svc.wallet, session.user.account_id
        memo, client_id = kept["memo"], f"web-{request_id}"
        try:
            amount = await self._amount(coin, kept["amount"])
            args = (account, coin, kept["network"] or None, kept["address"], amount)
            req = WithdrawalRequest(*args, memo=memo, client_id=client_id)
            out = await self._withdraw_once(
                request, session, form, partial(wallet.check_withdrawal, req),
                partial(wallet.withdraw, *args, memo=memo, client_id=client_id),
            )  # fmt: skip
        except DomainError as exc:
            return await again(400, messages.say(exc))
        if isinstance(out, NotConfirmed):
            return out.headers(await again(out.status, out.message))
        return redirect(f"/account/withdraw?coin={coin}&done={format_id(out.id)}")

    async def cancel_withdrawal(self, request: Request) -> Response:
        session, form = await self._posted(request, "/account/withdraw")
        try:
            wid = parse_id(field(form, "id", 20))
            await run_in_threadpool(self.svc.wallet.cancel_withdrawal, session.user.account_id, wid)
        except DomainError as exc:
            return await self.withdraw_page(request, status=400, error=messages.say(exc))
        return redirect(f"/account/withdraw?done=cancelled-{wid}")

    # --- transfers -----------------------------------------------------------------------------
    def _transfers_context(self, account: int) -> dict[str, Any]:
        w, scales = self.svc.wallet, self._scales()
        own: list[TransferRow] = []
        for src, dst in (("SPOT", "FUTURES"), ("FUTURES", "SPOT")):
            rows, _ = w.transfer_history(account, src, dst, size=HISTORY_SHOWN)
            own += [TransferRow(format_id(t.id), f"{src} → {dst}", t.asset,
                                format_units(t.amount, scales.get(t.asset, 0)), "Done", t.time)
                    for t in rows]  # fmt: skip
        own.sort(key=lambda r: (r.time, int(r.id)), reverse=True)
        internal, _ = self.svc.internal_transfers.history(account, size=HISTORY_SHOWN)
        others = [
            TransferRow(format_id(t.transfer_id),
                        f"to {t.to_account_text}" if t.from_account == account
                        else f"from UID {t.from_account}", t.asset,
                        format_units(t.amount, scales.get(t.asset, 0)), t.status.title(), t.time)
            for t in internal
        ]  # fmt: skip
        futures = w.wallet_account(account, "FUTURES", create=False)
        spot_rows, _ = figures.balances(self.svc, account)
        fut_rows = figures.balances(self.svc, futures)[0] if futures is not None else []
        return {"own": own[:HISTORY_SHOWN], "others": others,
                "balances": {"SPOT": spot_rows, "FUTURES": fut_rows}}  # fmt: skip

    async def transfers(self, request: Request, **ctx: Any) -> Response:
        session = await self._session(request)
        if session is None:
            return redirect("/login?next=/account/transfers")
        data = await run_in_threadpool(self._transfers_context, session.user.account_id)
        assets = await run_in_threadpool(lambda: [a.code for a in self.svc.wallet.assets()])
        return self._page(
            "transfers.html",
            session,
            int(ctx.pop("status", 200)),
            title="Transfers",
            here="transfers",
            assets=assets,
            account_types=ACCOUNT_TYPES,
            recipient_types=RECIPIENT_TYPES,
            totp=session.user.totp_enabled,
            request_id=secrets.token_urlsafe(12),
            done=request.query_params.get("done", "")[:20],
            form=ctx.pop("form", {}),
            **data,
            **ctx,
        )

    async def transfer(self, request: Request) -> Response:
        """Between the user's own SPOT and FUTURES wallets (``capital/transfer``)."""
        session, form = await self._posted(request, "/account/transfers")
        kept = {k: field(form, k, 40) for k in ("from", "to", "asset", "amount")}
        request_id = once_id(form)
        try:
            amount = await self._amount(kept["asset"], kept["amount"])
            t = await run_in_threadpool(
                lambda: self.svc.wallet.universal_transfer(
                    session.user.account_id, kept["from"], kept["to"], kept["asset"], amount,
                    client_id=f"web-{request_id}",
                )
            )  # fmt: skip
        except DomainError as exc:
            return await self.transfers(request, status=400, error=messages.say(exc), form=kept)
        return redirect(f"/account/transfers?done={format_id(t.id)}")

    async def transfer_internal(self, request: Request) -> Response:
        """To another user (``capital/transfer/internal``), after the password and 2FA code."""
        session, form = await self._posted(request, "/account/transfers")
        kept = {k: field(form, k, 256) for k in ("to_type", "to_account", "asset", "amount")}
        request_id = once_id(form)
        account = session.user.account_id
        try:
            amount = await self._amount(kept["asset"], kept["amount"])
        except DomainError as exc:
            return await self.transfers(request, status=400, error=messages.say(exc), form=kept)
        refused = await self._confirm(request, session, form)
        if refused:
            page = await self.transfers(request, status=refused.status, error=refused.message,
                                        form=kept)  # fmt: skip
            return refused.headers(page)
        try:
            t = await run_in_threadpool(
                lambda: self.svc.internal_transfers.transfer(
                    account, kept["to_type"], kept["to_account"], kept["asset"], amount,
                    request_key=f"web:{account}:{request_id}",
                )
            )  # fmt: skip
        except (DomainError, us.UserError) as exc:
            return await self.transfers(request, status=400, error=messages.say(exc), form=kept)
        return redirect(f"/account/transfers?done={format_id(t.transfer_id)}")


def routes(svc: Services, secure: bool, faucet: Faucet | None = None) -> list[BaseRoute]:
    """The money pages' routes."""
    w = WalletPages(svc, secure, faucet)
    return [
        Route("/account/deposit", w.signed(w.deposit), methods=["GET"]),
        Route("/account/withdraw", w.signed(w.withdraw_page), methods=["GET"]),
        Route("/account/withdraw", w.signed(w.withdraw), methods=["POST"]),
        Route("/account/withdraw/cancel", w.signed(w.cancel_withdrawal), methods=["POST"]),
        Route("/account/transfers", w.signed(w.transfers), methods=["GET"]),
        Route("/account/transfers", w.signed(w.transfer), methods=["POST"]),
        Route("/account/transfers/internal", w.signed(w.transfer_internal), methods=["POST"]),
    ]
