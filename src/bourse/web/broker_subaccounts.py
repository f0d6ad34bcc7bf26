"""An independent broker's sub-accounts in the console: create and freeze them, their API
keys, balances, transfers with the master account, deposits and withdrawals.

=======================================  =====  =============================================
path                                     verbs  what
=======================================  =====  =============================================
/broker/subaccounts                      GET    the sub-accounts, the master's balances, create
/broker/subaccounts                      POST   create one (name: 8-32 letters and digits)
/broker/subaccounts/status               POST   freeze (open orders cancelled) or unfreeze
/broker/subaccounts/{name}               GET    balances, keys, transfers, deposits, withdrawals
/broker/subaccounts/{name}/keys          POST   create a key (secret shown once; one that can
                                                withdraw asks for the password and 2FA code)
/broker/subaccounts/{name}/keys/delete   POST   delete a key
/broker/subaccounts/{name}/transfer      POST   master -> sub ("in") or sub -> master ("out")
/broker/subaccounts/{name}/address       POST   the deposit address of a coin and network
/broker/subaccounts/{name}/faucet        POST   demo mode: test funds into the sub-account
/broker/subaccounts/{name}/withdraw      POST   withdraw from the sub-account
=======================================  =====  =============================================

Every call resolves the tenant from the logged-in account (``tenant_for_broker``) and the
sub-account by name inside it, as the REST API does: a name of another broker's sub-account is
"does not exist", never that sub-account. Transfers and withdrawals carry a client id made when
the form was drawn, so a form sent twice moves money once.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bourse.domain.errors import DomainError
from bourse.domain.money import format_units, to_units
from bourse.services import users as us
from bourse.services.brokers.registry import Broker
from bourse.services.bundle import Services
from bourse.services.subaccounts import SubAccount, Tenant
from bourse.services.wallet import format_id
from bourse.web import figures, messages
from bourse.web.broker import BrokerConsole, side_by_side
from bourse.web.console import (
    KEY_WHY,
    MONEY_PERMISSION,
    OFFERED_PERMISSIONS,
    Faucet,
    FaucetRefused,
    NotConfirmed,
    field,
    once_id,
    redirect,
)

#: sub-accounts listed on the page, and rows of each history on a sub-account's page
LISTED = 200
HISTORY_SHOWN = 20
FORM_FIELD_MAX = 512


@dataclass(frozen=True, slots=True)
class Scope:
    """Who is acting: the session, its broker and the broker's tenant."""

    session: us.Session
    broker: Broker
    tenant: Tenant


class SubAccountPages(BrokerConsole):
    """The sub-account pages (``BrokerConsole`` finds the broker, ``Console`` the session)."""

    async def _tenant(self, request: Request, path: str) -> Scope | Response:
        """The session, broker and tenant, or a response: log-in, or a page saying why this
        account has no sub-accounts here (not a broker, not independent, not approved)."""
        session, broker = await self._broker(request, path)
        if isinstance(broker, Response):
            return broker
        assert session is not None
        try:
            tenant = await run_in_threadpool(
                self.svc.subaccounts.tenant_for_broker, session.user.account_id
            )
        except DomainError:
            return self._page(
                "error.html",
                session,
                403,
                title="Sub-accounts",
                message="Only an approved independent broker has sub-accounts. "
                f"Your broker is {broker.type.value}, {broker.status.value}.",
            )
        return Scope(session, broker, tenant)

    # --- the list ----------------------------------------------------------------------------
    def _subs(self, tenant: Tenant) -> dict[str, Any]:
        return {"subs": self.svc.subaccounts.list(tenant, page=1, limit=LISTED)}

    def _count(self, tenant: Tenant) -> dict[str, Any]:
        return {"count": self.svc.subaccounts.count(tenant), "quota": tenant.quota}

    def _master(self, tenant: Tenant) -> dict[str, Any]:
        balances, total = figures.balances(self.svc, tenant.master)
        return {"master_balances": balances, "master_total": total}

    async def index(self, request: Request, **ctx: Any) -> Response:
        scope = await self._tenant(request, "/broker/subaccounts")
        if not isinstance(scope, Scope):
            return scope
        data = await side_by_side((self._subs, self._count, self._master), scope.tenant)
        return self._page(
            "broker_subaccounts.html",
            scope.session,
            int(ctx.pop("status", 200)),
            title="Sub-accounts",
            broker=scope.broker,
            valuation=figures.VALUATION_ASSET,
            done=request.query_params.get("done", "")[:16],
            **data,
            **ctx,
        )

    async def _post(self, request: Request, path: str) -> tuple[dict[str, Any], Tenant | Response]:
        """A form's fields and tenant, or the response that ends it (no tenant; log-in and the
        CSRF refusal as ``_posted``)."""
        _, form = await self._posted(request, path)
        scope = await self._tenant(request, path)
        return form, scope.tenant if isinstance(scope, Scope) else scope

    async def create(self, request: Request) -> Response:
        form, tenant = await self._post(request, "/broker/subaccounts")
        if not isinstance(tenant, Tenant):
            return tenant
        name, note = field(form, "name", 64), field(form, "note", 256)
        try:
            sub = await run_in_threadpool(self.svc.subaccounts.create, tenant, name, note)
        except DomainError as exc:
            return await self.index(
                request, status=400, error=messages.say(exc), sub_name=name, sub_note=note
            )
        return redirect(f"/broker/subaccounts/{quote(sub.name)}?done=created")

    async def set_status(self, request: Request) -> Response:
        form, tenant = await self._post(request, "/broker/subaccounts")
        if not isinstance(tenant, Tenant):
            return tenant
        name, frozen = field(form, "name", 64), field(form, "frozen", 1) == "1"
        try:
            await run_in_threadpool(self.svc.subaccounts.set_frozen, tenant, name, frozen)
        except DomainError as exc:
            return await self.index(request, status=400, error=messages.say(exc))
        return redirect(f"/broker/subaccounts?done={'frozen' if frozen else 'unfrozen'}")

    # --- one sub-account ---------------------------------------------------------------------
    # the sub-account page's independent reads: each its own worker thread, run at once
    def _balances(self, tenant: Tenant, sub: SubAccount) -> dict[str, Any]:
        balances, total = figures.balances(self.svc, sub.account_id)
        return {"balances": balances, "total": total}

    def _keys(self, tenant: Tenant, sub: SubAccount) -> dict[str, Any]:
        return {"sub_keys": self.svc.subaccounts.keys.list(tenant, sub.name)[1]}

    def _deposits(self, tenant: Tenant, sub: SubAccount) -> dict[str, Any]:
        rows = self.svc.wallet.deposit_history(sub.account_id, limit=HISTORY_SHOWN)
        return {
            "deposits": [
                {
                    "coin": v.deposit.coin,
                    "network": v.deposit.network,
                    "amount": format_units(v.deposit.amount, v.network.scale if v.network else 0),
                    "status": str(v.deposit.status),
                    "time": v.deposit.created,
                }
                for v in rows
            ]
        }

    def _withdrawals(self, tenant: Tenant, sub: SubAccount) -> dict[str, Any]:
        rows = self.svc.wallet.withdraw_history(sub.account_id, limit=HISTORY_SHOWN)
        return {
            "withdrawals": [
                {
                    "id": format_id(v.withdrawal.id),
                    "coin": v.withdrawal.asset,
                    "amount": format_units(v.withdrawal.amount, self._scale(v.withdrawal.asset)),
                    "fee": format_units(v.withdrawal.fee, self._scale(v.withdrawal.asset)),
                    "address": v.withdrawal.address,
                    "status": str(v.withdrawal.status),
                    "time": v.withdrawal.created,
                }
                for v in rows
            ]
        }

    def _transfers(self, tenant: Tenant, sub: SubAccount) -> dict[str, Any]:
        """Spot transfers between the master and this sub-account (a SPOT wallet's ledger
        account is the account itself): one read, not the two sides of ``history``."""
        pair = [tenant.master, sub.account_id]
        moved, _ = self.svc.wallet.transfers(
            from_accounts=pair, to_accounts=pair, size=HISTORY_SHOWN
        )
        return {
            "transfers": [
                {
                    "id": format_id(v.id),
                    "into": v.to_account == sub.account_id,
                    "asset": v.asset,
                    "amount": format_units(v.amount, self._scale(v.asset)),
                    "time": v.time,
                }
                for v in moved
            ]
        }

    def _networks(self, tenant: Tenant, sub: SubAccount) -> dict[str, Any]:
        coins = self.svc.wallet.currencies()
        networks = [(a.code, [n.id for n in nets]) for a, nets in coins]
        # the deposit form's select: each coin's networks by name, as /account/deposit shows
        named = [(a.code, [(n.id, n.name) for n in nets]) for a, nets in coins]
        return {"networks": networks, "named_networks": named,
                "assets": [code for code, _ in networks]}  # fmt: skip

    async def _detail_context(self, tenant: Tenant, name: str) -> dict[str, Any]:
        """Everything the sub-account page shows; the reads run side by side, so the page
        takes as long as the slowest one, not their sum."""
        sub = await run_in_threadpool(self.svc.subaccounts.get, tenant, name)
        parts = (self._balances, self._keys, self._deposits, self._withdrawals,
                 self._transfers, self._networks)  # fmt: skip
        return {"sub": sub, **await side_by_side(parts, tenant, sub)}

    async def detail(self, request: Request, **ctx: Any) -> Response:
        name = str(request.path_params["name"])[:64]
        path = f"/broker/subaccounts/{quote(name)}"
        scope = await self._tenant(request, path)
        if not isinstance(scope, Scope):
            return scope
        try:
            data = await self._detail_context(scope.tenant, name)
        except DomainError as exc:
            return self._page(
                "error.html", scope.session, 404, title="Sub-accounts", message=messages.say(exc)
            )
        return self._page(
            "broker_subaccount.html",
            scope.session,
            int(ctx.pop("status", 200)),
            title=f"Sub-account {data['sub'].name}",
            broker=scope.broker,
            valuation=figures.VALUATION_ASSET,
            permissions=OFFERED_PERMISSIONS,
            form_id=secrets.token_urlsafe(12),
            done=request.query_params.get("done", "")[:16],
            **data,
            **ctx,
        )

    async def _sub_action(self, request: Request, act: Any) -> Response:
        """Run ``act(tenant, sub, form)`` for the sub-account of the path: a string is where
        to go next (a redirect), a dict is shown on the sub-account's page; a refusal is shown
        there in words."""
        name = str(request.path_params["name"])[:64]
        path = f"/broker/subaccounts/{quote(name)}"
        form, tenant = await self._post(request, path)
        if not isinstance(tenant, Tenant):
            return tenant
        try:
            sub = await run_in_threadpool(self.svc.subaccounts.get, tenant, name)
            out = await run_in_threadpool(act, tenant, sub, form)
        except (DomainError, FaucetRefused) as exc:
            return await self.detail(request, status=400, error=messages.say(exc))
        if isinstance(out, str):
            return redirect(f"{path}?done={out}")
        return await self.detail(request, status=201, **out)

    def _create_key(self, tenant: Tenant, sub: SubAccount, form: dict[str, Any]) -> Any:
        perms = [str(p) for p in form.get("permissions", [])]
        if not set(perms) <= {p for p, _ in OFFERED_PERMISSIONS}:
            return {"error": "That permission cannot be given from this page."}
        out = self.svc.subaccounts.keys.create(
            tenant,
            sub.name,
            ",".join(perms),
            field(form, "ip", FORM_FIELD_MAX),
            field(form, "note", 128),
        )
        return {"created": {"apiKey": out["apiKey"], "secret": out["secretKey"]}}

    def _delete_key(self, tenant: Tenant, sub: SubAccount, form: dict[str, Any]) -> str:
        self.svc.subaccounts.keys.delete(tenant, sub.name, field(form, "api_key", 64))
        return "key-deleted"

    def _transfer(self, tenant: Tenant, sub: SubAccount, form: dict[str, Any]) -> str:
        asset = field(form, "asset", 16).upper()
        amount = to_units(field(form, "amount", 64), self.svc.wallet.asset(asset).scale)
        into = field(form, "direction", 4) != "out"
        src, dst = (None, sub.name) if into else (sub.name, None)
        self.svc.subaccounts.transfers.transfer(
            tenant, src, dst, "SPOT", "SPOT", asset, amount, "web-" + once_id(form, "form_id")
        )
        return "moved-in" if into else "moved-out"

    def _address(self, tenant: Tenant, sub: SubAccount, form: dict[str, Any]) -> Any:
        coin, network = field(form, "coin", 16).upper(), field(form, "network", 64) or None
        a = self.svc.wallet.deposit_address(sub.account_id, coin, network)
        return {"address": {"coin": a.coin, "network": a.network.id, "address": a.address,
                            "memo": a.memo or ""}}  # fmt: skip

    def _fund(self, tenant: Tenant, sub: SubAccount, form: dict[str, Any]) -> str:
        if self.faucet is None:
            raise FaucetRefused("Test funds exist only on a demo server.")
        asset, amount = field(form, "asset", 16).upper(), field(form, "amount", 40)
        self.faucet(sub.account_id, asset, amount, "web-sub-" + once_id(form, "form_id"))
        return "funded"

    def _withdrawal(
        self, tenant: Tenant, name: str, form: dict[str, Any]
    ) -> tuple[SubAccount, str, str | None, str, int]:
        """The withdraw form's sub-account, coin, network, address and amount (in units)."""
        sub = self.svc.subaccounts.get(tenant, name)
        coin = field(form, "coin", 16).upper()
        amount = to_units(field(form, "amount", 64), self.svc.wallet.asset(coin).scale)
        network = field(form, "network", 64) or None
        return sub, coin, network, field(form, "address", FORM_FIELD_MAX), amount

    async def add_key(self, request: Request) -> Response:
        """A key that can withdraw moves the sub-account's money off the platform: the broker
        proves it is them first, as for a withdrawal."""
        session, form, ok = await self._form(request)
        if session is not None and ok and MONEY_PERMISSION in form.get("permissions", []):
            refused = await self._confirm(request, session, form, KEY_WHY)
            if refused:
                page = await self.detail(request, status=refused.status, error=refused.message)
                return refused.headers(page)
        return await self._sub_action(request, self._create_key)

    async def remove_key(self, request: Request) -> Response:
        return await self._sub_action(request, self._delete_key)

    async def transfer(self, request: Request) -> Response:
        return await self._sub_action(request, self._transfer)

    async def address(self, request: Request) -> Response:
        return await self._sub_action(request, self._address)

    async def fund_sub(self, request: Request) -> Response:
        return await self._sub_action(request, self._fund)

    async def withdraw(self, request: Request) -> Response:
        """Money leaves the platform: the broker proves it is them (log-in password, and the
        2FA code when 2FA is on) after the checks that need no proof, as on its own withdraw
        page (``Console._withdraw_once``): a form sent again shows that its withdrawal was
        made, even with the 2FA code its first sending spent."""
        name = str(request.path_params["name"])[:64]
        path = f"/broker/subaccounts/{quote(name)}"
        session, form = await self._posted(request, path)
        scope = await self._tenant(request, path)
        if not isinstance(scope, Scope):
            return scope
        funds, client_id = self.svc.subaccounts.funds, "web-" + once_id(form, "form_id")
        # the master asks: its own freeze refuses a new withdrawal too
        asked: dict[str, Any] = {"client_id": client_id, "initiator": scope.tenant.master}
        try:
            args = await run_in_threadpool(self._withdrawal, scope.tenant, name, form)
            out = await self._withdraw_once(
                request, session, form, partial(funds.check_withdrawal, *args, **asked),
                partial(funds.withdraw, *args, **asked),
            )  # fmt: skip
        except DomainError as exc:
            return await self.detail(request, status=400, error=messages.say(exc))
        if isinstance(out, NotConfirmed):
            return out.headers(await self.detail(request, status=out.status, error=out.message))
        return redirect(f"{path}?done=withdrawn")


def routes(svc: Services, secure: bool, faucet: Faucet | None = None) -> list[BaseRoute]:
    """The sub-account pages' routes (mount at the app root)."""
    c = SubAccountPages(svc, secure, faucet)
    one = "/broker/subaccounts/{name}"
    return [
        Route("/broker/subaccounts", c.signed(c.index), methods=["GET"]),
        Route("/broker/subaccounts", c.signed(c.create), methods=["POST"]),
        Route("/broker/subaccounts/status", c.signed(c.set_status), methods=["POST"]),
        Route(one, c.signed(c.detail), methods=["GET"]),
        Route(f"{one}/keys", c.signed(c.add_key), methods=["POST"]),
        Route(f"{one}/keys/delete", c.signed(c.remove_key), methods=["POST"]),
        Route(f"{one}/transfer", c.signed(c.transfer), methods=["POST"]),
        Route(f"{one}/address", c.signed(c.address), methods=["POST"]),
        Route(f"{one}/faucet", c.signed(c.fund_sub), methods=["POST"]),
        Route(f"{one}/withdraw", c.signed(c.withdraw), methods=["POST"]),
    ]
