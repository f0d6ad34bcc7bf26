"""An OAuth broker's app in the console: register it, its client id, secret rotation (the new
secret shown once), redirect URIs and scopes.

==============================  =====  ======================================================
path                            verbs  what
==============================  =====  ======================================================
/broker/app                     GET    the broker's OAuth clients and what each may do
/broker/app/register            POST   register an app (client id and secret, shown once) (*)
/broker/app/rotate              POST   a new secret (once); the old one lasts the grace (*)
/broker/app/redirect-uris       POST   add a redirect URI (exact string) (*)
/broker/app/redirect-uris/del   POST   remove one
/broker/app/scopes              POST   the scopes the client may ask for
==============================  =====  ======================================================

Every rule is ``bourse.oauth.management.ClientManager``'s, the one the Broker API's
``/api/v3/broker/oauth/...`` uses; the broker is the logged-in account's, so another broker's
client id is "not found".

(*) A stolen session must not be enough to take the app over: these ask the console's step-up
(``Console._confirm``: the log-in password, and a current 2FA code when 2FA is on, throttled as
log-in), once the form is known to be acceptable (``ClientManager.check_...``), so a typo does
not spend a code. A redirect URI receives the authorization codes of every user who agrees
(the code theft of RFC 9700 section 4.1), a new app is one more such URI under the broker's
name, and a new secret hands over the client. Removing a redirect URI and narrowing or
widening scopes (within what the operator approved) need the session and its CSRF token only:
they send nothing anywhere new; the worst they do is stop the app until the owner puts it back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bourse.domain.brokers import BrokerStateError, BrokerType
from bourse.domain.errors import DomainError
from bourse.oauth import scopes as sc
from bourse.oauth.management import MAX_CLIENTS_PER_BROKER, ClientManager
from bourse.services.brokers.registry import Broker
from bourse.services.bundle import Services
from bourse.web import messages
from bourse.web.broker import BrokerConsole
from bourse.web.console import Faucet, field, redirect

#: why the app forms that ask for the step-up do (said when they refuse; see ``refusal``)
APP_WHY = (
    "a new app, a new client secret and a new redirect URI ask for {them}, as whoever holds an "
    "app's secret or one of its redirect URIs can act as the app"
)
NOT_OAUTH = "Only an OAuth broker has an app. Your broker is {kind}."
NOT_APPROVED = "Your broker is {status}: its app can change once an operator approves it."
FIELD_MAX = 512

#: ``act(manager, broker id, form)``: a string is where to go next, a dict is shown once
Action = Callable[[ClientManager, int, dict[str, Any]], Any]


class BrokerAppPages(BrokerConsole):
    """The OAuth app pages (``BrokerConsole`` finds the broker, ``Console`` the session)."""

    def __init__(self, svc: Services, secure: bool, faucet: Faucet | None = None) -> None:
        super().__init__(svc, secure, faucet)
        self.manager = ClientManager.of(svc)

    def _context(self, broker: Broker) -> dict[str, Any]:
        approved = sc.parse(broker.oauth_scopes)
        return {
            "clients": self.manager.clients(broker.id),
            "approved": [sc.SCOPES[w] for w in approved if w in sc.SCOPES],
            "max_clients": MAX_CLIENTS_PER_BROKER,
            "grace_h": self.manager.grace_ms // 3_600_000,
        }

    async def app(self, request: Request, **ctx: Any) -> Response:
        session, broker = await self._broker(request, "/broker/app")
        if not isinstance(broker, Broker):
            return broker
        if broker.type is not BrokerType.OAUTH:
            return self._page(
                "error.html", session, 403, title="OAuth app",
                message=NOT_OAUTH.format(kind=broker.type.value),
            )  # fmt: skip
        data = await run_in_threadpool(self._context, broker)
        return self._page(
            "broker_app.html",
            session,
            int(ctx.pop("status", 200)),
            title="OAuth app",
            broker=broker,
            done=request.query_params.get("done", "")[:16],
            **data,
            **ctx,
        )

    async def _act(
        self, request: Request, act: Action, check: Action | None = None, form_id: str = ""
    ) -> Response:
        """Run ``act`` on the logged-in broker. With ``check`` (what ``act`` refuses, refused
        without changing anything) the form asks for the step-up between the two. A refused
        form ``form_id`` is shown again as it was sent (``kept``)."""
        session, form = await self._posted(request, "/broker/app")
        broker = await run_in_threadpool(self._broker_of, session)
        if broker is None or broker.type is not BrokerType.OAUTH:
            return await self.app(request)  # the page that says why
        kept = {"form": form_id, "client_id": field(form, "client_id", FIELD_MAX),
                "name": field(form, "name", FIELD_MAX), "grace": field(form, "grace", 4),
                "redirect_uri": field(form, "redirect_uri", FIELD_MAX),
                "scopes": [str(w) for w in form.get("scopes", [])]}  # fmt: skip
        try:
            if check is not None:
                await run_in_threadpool(check, self.manager, broker.id, form)
                refused = await self._confirm(request, session, form, APP_WHY)
                if refused:
                    page = await self.app(request, status=refused.status,
                                          error=refused.message, kept=kept)  # fmt: skip
                    return refused.headers(page)
            out = await run_in_threadpool(act, self.manager, broker.id, form)
        except BrokerStateError:
            error = NOT_APPROVED.format(status=broker.status.value)
            return await self.app(request, status=400, error=error, kept=kept)
        except DomainError as exc:
            return await self.app(request, status=400, error=messages.say(exc), kept=kept)
        if isinstance(out, str):
            return redirect(f"/broker/app?done={out}")
        return await self.app(request, status=201, **out)

    @staticmethod
    def _registration(form: dict[str, Any]) -> dict[str, Any]:
        return {
            "name": field(form, "name", FIELD_MAX),
            "redirect_uris": [field(form, "redirect_uri", FIELD_MAX)],
            "scopes": " ".join(str(w) for w in form.get("scopes", [])) or None,
        }

    @classmethod
    def _check_register(cls, m: ClientManager, broker_id: int, form: dict[str, Any]) -> None:
        m.check_register(broker_id, **cls._registration(form))

    @classmethod
    def _register(cls, m: ClientManager, broker_id: int, form: dict[str, Any]) -> Any:
        reg = m.register(broker_id, **cls._registration(form))
        return {"secret": {"client_id": reg.client.client_id, "value": reg.client_secret,
                           "new": True}}  # fmt: skip

    @staticmethod
    def _grace(form: dict[str, Any]) -> int | None:
        return None if field(form, "grace", FIELD_MAX) != "0" else 0

    @classmethod
    def _check_rotate(cls, m: ClientManager, broker_id: int, form: dict[str, Any]) -> None:
        m.check_rotate(broker_id, field(form, "client_id", FIELD_MAX), cls._grace(form))

    @classmethod
    def _rotate(cls, m: ClientManager, broker_id: int, form: dict[str, Any]) -> Any:
        cid = field(form, "client_id", FIELD_MAX)
        rot = m.rotate_secret(broker_id, cid, grace_ms=cls._grace(form))
        return {"secret": {"client_id": rot.client_id, "value": rot.client_secret,
                           "new": False, "old_until": rot.previous_secret_expires}}  # fmt: skip

    @staticmethod
    def _check_uri(m: ClientManager, broker_id: int, form: dict[str, Any]) -> None:
        m.check_redirect_uri(
            broker_id, field(form, "client_id", FIELD_MAX), field(form, "redirect_uri", FIELD_MAX)
        )

    @staticmethod
    def _add_uri(m: ClientManager, broker_id: int, form: dict[str, Any]) -> str:
        m.add_redirect_uri(
            broker_id, field(form, "client_id", FIELD_MAX), field(form, "redirect_uri", FIELD_MAX)
        )
        return "uri-added"

    @staticmethod
    def _remove_uri(m: ClientManager, broker_id: int, form: dict[str, Any]) -> str:
        m.remove_redirect_uri(
            broker_id, field(form, "client_id", FIELD_MAX), field(form, "redirect_uri", FIELD_MAX)
        )
        return "uri-removed"

    @staticmethod
    def _scopes(m: ClientManager, broker_id: int, form: dict[str, Any]) -> str:
        words = " ".join(str(w) for w in form.get("scopes", []))
        m.set_scopes(broker_id, field(form, "client_id", FIELD_MAX), words)
        return "scopes"

    async def register(self, request: Request) -> Response:
        return await self._act(request, self._register, self._check_register, "register")

    async def rotate(self, request: Request) -> Response:
        return await self._act(request, self._rotate, self._check_rotate, "rotate")

    async def add_uri(self, request: Request) -> Response:
        return await self._act(request, self._add_uri, self._check_uri, "add-uri")

    async def remove_uri(self, request: Request) -> Response:
        return await self._act(request, self._remove_uri)

    async def set_scopes(self, request: Request) -> Response:
        return await self._act(request, self._scopes)


def routes(svc: Services, secure: bool, faucet: Faucet | None = None) -> list[BaseRoute]:
    """The OAuth app pages' routes (mount at the app root)."""
    c = BrokerAppPages(svc, secure, faucet)
    return [
        Route("/broker/app", c.signed(c.app), methods=["GET"]),
        Route("/broker/app/register", c.signed(c.register), methods=["POST"]),
        Route("/broker/app/rotate", c.signed(c.rotate), methods=["POST"]),
        Route("/broker/app/redirect-uris", c.signed(c.add_uri), methods=["POST"]),
        Route("/broker/app/redirect-uris/del", c.signed(c.remove_uri), methods=["POST"]),
        Route("/broker/app/scopes", c.signed(c.set_scopes), methods=["POST"]),
    ]
