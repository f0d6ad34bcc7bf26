"""The broker console: apply, see the application's status and rebate rate, the rebates
(per-trade records, daily totals with a chart, settlements) and the keys users bound.

=========================  =====  ===================================================
path                       verbs  what
=========================  =====  ===================================================
/broker                    GET    status and rate; the application form before applying
/broker/apply              POST   apply (API, INDEPENDENT or OAUTH); starts PENDING
/broker/rebates            GET    per-trade rebates (``?page=``), daily totals, settlements
/broker/keys               GET    keys bound to this broker (``?all=1``: released ones too)
/broker/keys/release       POST   let a bound key go (the user's key keeps working)
=========================  =====  ===================================================

The broker is always the one whose main account is the logged-in user's account
(``Registry.by_account``), and every read and write is scoped by its id, exactly as the REST
API's ``my_broker`` does: another broker's rebates, keys or sub-accounts cannot be named. An
account that is not a broker gets the application form (403 on the other pages), never an
error. The chart is ``static/rebates.js`` over the vendored lightweight-charts; without
JavaScript the daily totals table says the same.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bourse.domain.brokers import BrokerType
from bourse.domain.errors import DomainError
from bourse.domain.ids import whole_id
from bourse.domain.money import format_units
from bourse.domain.orders import BUY
from bourse.engine.clock import now_ms
from bourse.services import users as us
from bourse.services.brokers import rebates as rb
from bourse.services.brokers.registry import Broker
from bourse.services.bundle import Services
from bourse.web import messages
from bourse.web.console import Console, Faucet, redirect

#: per-trade rebate rows on one page, days the daily totals and the chart cover
RECORDS_PER_PAGE = 20
CHART_DAYS = 90
NOT_A_BROKER = "Your account is not a broker. Apply below; an operator reviews applications."
TYPES = (
    (BrokerType.API.value, "API broker: users bind their API keys to you; you earn a share of "
     "the fees their orders pay"),
    (BrokerType.INDEPENDENT.value, "Independent broker: you open sub-accounts for your own users "
     "and run their deposits, transfers and withdrawals"),
    (BrokerType.OAUTH.value, "OAuth broker: your app asks users for access in one click, "
     "without handing over API keys"),
)  # fmt: skip


def rate_percent(ppm: int) -> str:
    """A rate in ppm as a percentage of the fee, exactly ("30", "12.5")."""
    return format(Decimal(ppm).scaleb(-4).normalize(), "f")


@dataclass(frozen=True, slots=True)
class DayTotal:
    day: str  # "2026-12-03"
    asset: str
    amount: str


def day_totals(rows: list[dict[str, Any]], scale: Any) -> list[DayTotal]:
    """``rebates.daily`` rows (per day, user and asset) summed per day and asset, newest
    first; ``scale(asset)`` gives the asset's decimals."""
    sums: dict[tuple[str, str], int] = {}
    for r in rows:
        key = (r["day"], r["asset"])
        sums[key] = sums.get(key, 0) + int(r["amount"])
    return [
        DayTotal(f"{d[:4]}-{d[4:6]}-{d[6:]}", a, format_units(v, scale(a)))
        for (d, a), v in sorted(sums.items(), key=lambda kv: (kv[0][0], kv[0][1]), reverse=True)
    ]


def chart_series(days: list[DayTotal]) -> list[tuple[str, str]]:
    """One ``(asset, JSON [[day, amount], ...] oldest first)`` per asset, for the chart."""
    by_asset: dict[str, list[list[str]]] = {}
    for d in reversed(days):
        by_asset.setdefault(d.asset, []).append([d.day, d.amount])
    return [(a, json.dumps(points)) for a, points in sorted(by_asset.items())]


async def side_by_side(
    parts: Iterable[Callable[..., dict[str, Any]]], *args: Any
) -> dict[str, Any]:
    """Run a page's independent blocking reads each in its own worker thread, all at once
    (the page then takes the slowest one's time, not their sum); their dicts merged."""
    found = await asyncio.gather(*(run_in_threadpool(part, *args) for part in parts))
    out: dict[str, Any] = {}
    for part in found:
        out.update(part)
    return out


class BrokerConsole(Console):
    """The broker's pages (``Console`` gives sessions, forms, CSRF and the page frame)."""

    def _scale(self, asset: str) -> int:
        a = self.svc.engine.wallet.assets.get(asset)
        return a.scale if a is not None else 8

    def _broker_of(self, session: us.Session) -> Broker | None:
        return self.svc.brokers.registry.by_account(session.user.account_id)

    async def _broker(
        self, request: Request, path: str
    ) -> tuple[us.Session | None, Broker | Response]:
        """``(session, broker)``; instead of the broker a response when there is none to show:
        log-in for a visitor, the application form (403) for an account that is not a broker."""
        session = await self._session(request)
        if session is None:
            return None, redirect(f"/login?next={path}")
        broker = await run_in_threadpool(self._broker_of, session)
        if broker is None:
            return session, await self.status_page(request, status=403, error=NOT_A_BROKER)
        return session, broker

    # --- status and application ----------------------------------------------------------------
    def _status_context(self, broker: Broker | None) -> dict[str, Any]:
        if broker is None:
            return {"types": TYPES}
        registry = self.svc.brokers.registry
        return {
            "rate": rate_percent(registry.rate_at(broker.id)),
            "history": [
                (rate_percent(h.rate_ppm), h.effective_from, h.note)
                for h in registry.rate_history(broker.id)
            ],
        }

    async def status_page(self, request: Request, **ctx: Any) -> Response:
        session = await self._session(request)
        if session is None:
            return redirect("/login?next=/broker")
        broker = await run_in_threadpool(self._broker_of, session)
        data = await run_in_threadpool(self._status_context, broker)
        return self._page(
            "broker.html",
            session,
            int(ctx.pop("status", 200)),
            title="Broker",
            broker=broker,
            applied=request.query_params.get("applied", "") == "1",
            **data,
            **ctx,
        )

    async def apply(self, request: Request) -> Response:
        session, form = await self._posted(request, "/broker")

        def field(name: str, size: int) -> str:
            return str((form.get(name) or [""])[0]).strip()[:size]

        kept = {"name": field("name", 128), "code": field("code", 64),
                "callback_url": field("callback_url", 512), "note": field("note", 2000),
                "broker_type": field("broker_type", 16)}  # fmt: skip
        if kept["broker_type"] not in {t for t, _ in TYPES}:
            return await self.status_page(
                request, status=400, error="Choose what kind of broker you are.", form=kept
            )
        try:
            await run_in_threadpool(
                lambda: self.svc.brokers.registry.apply(
                    session.user.account_id, kept["broker_type"], kept["name"],
                    code=kept["code"] or None, callback_url=kept["callback_url"],
                    note=kept["note"],
                )
            )  # fmt: skip
        except DomainError as exc:
            return await self.status_page(request, status=400, error=messages.say(exc), form=kept)
        return redirect("/broker?applied=1")

    # --- rebates -------------------------------------------------------------------------------
    def _records(self, broker: Broker, page: int) -> dict[str, Any]:
        total, rows = rb.records(self.svc.db, broker.id, page=page, page_size=RECORDS_PER_PAGE)
        records = [
            {
                **r,
                "fee_text": format_units(r["fee"], self._scale(r["asset"])),
                "rebate_text": format_units(r["rebate"], self._scale(r["asset"])),
                "rate_text": rate_percent(r["rate_ppm"]),
                "side_text": "buy" if r["side"] == BUY else "sell",
            }
            for r in rows
        ]
        pages = max(1, -(-total // RECORDS_PER_PAGE))
        return {"records": records, "page": page, "pages": pages, "total": total}

    def _daily(self, broker: Broker, page: int) -> dict[str, Any]:
        since = now_ms() - CHART_DAYS * 86_400_000
        _, daily = rb.daily(self.svc.db, broker.id, start=since, page=1, page_size=10_000)
        days = day_totals(daily, self._scale)
        return {"days": days, "series": chart_series(days)}

    def _sums(self, broker: Broker, page: int) -> dict[str, Any]:
        sums = [
            {**t, "amount_text": format_units(t["amount"], self._scale(t["asset"]))}
            for t in rb.totals(self.svc.db, broker.id)
        ]
        return {"sums": sums}

    def _settlements(self, broker: Broker, page: int) -> dict[str, Any]:
        settlements = [
            {
                "key": s.key,
                "asset": s.asset,
                "amount": format_units(int(s.amount), self._scale(s.asset)),
                "count": int(s.count),
                "status": s.status,
                "error": s.error,
                "created": int(s.created),
            }
            for s in self.svc.brokers.settlement.settlements(broker.id, 50)
        ]
        return {"settlements": settlements}

    async def rebates(self, request: Request) -> Response:
        session, broker = await self._broker(request, "/broker/rebates")
        if not isinstance(broker, Broker):
            return broker
        text = request.query_params.get("page", "1")
        page = whole_id(text, 6) or 1
        parts = (self._records, self._daily, self._sums, self._settlements)
        data = await side_by_side(parts, broker, page)
        return self._page(
            "broker_rebates.html", session, title="Rebates", broker=broker,
            chart_days=CHART_DAYS, **data,
        )  # fmt: skip

    # --- bound keys ----------------------------------------------------------------------------
    async def bound_keys(self, request: Request, **ctx: Any) -> Response:
        session, broker = await self._broker(request, "/broker/keys")
        if not isinstance(broker, Broker):
            return broker
        every = request.query_params.get("all") == "1"
        rows = await run_in_threadpool(self.svc.brokers.bindings.list_for_broker, broker.id, every)
        return self._page(
            "broker_keys.html",
            session,
            int(ctx.pop("status", 200)),
            title="Bound keys",
            broker=broker,
            keys=rows,
            every=every,
            done=request.query_params.get("done", "")[:16],
            **ctx,
        )

    async def release_key(self, request: Request) -> Response:
        session, form = await self._posted(request, "/broker/keys")
        broker = await run_in_threadpool(self._broker_of, session)
        if broker is None:
            return await self.status_page(request, status=403, error=NOT_A_BROKER)
        api_key = str((form.get("api_key") or [""])[0]).strip()[:64]
        try:
            await run_in_threadpool(
                lambda: self.svc.brokers.bindings.unbind(
                    api_key, account_id=broker.account_id, by="broker"
                )
            )
        except DomainError:
            return await self.bound_keys(
                request, status=400, error="That key is not bound to your broker."
            )
        return redirect("/broker/keys?done=released")


def routes(svc: Services, secure: bool, faucet: Faucet | None = None) -> list[BaseRoute]:
    """The broker console's routes (mount at the app root)."""
    c = BrokerConsole(svc, secure, faucet)
    return [
        Route("/broker", c.signed(c.status_page), methods=["GET"]),
        Route("/broker/apply", c.signed(c.apply), methods=["POST"]),
        Route("/broker/rebates", c.signed(c.rebates), methods=["GET"]),
        Route("/broker/keys", c.signed(c.bound_keys), methods=["GET"]),
        Route("/broker/keys/release", c.signed(c.release_key), methods=["POST"]),
    ]
