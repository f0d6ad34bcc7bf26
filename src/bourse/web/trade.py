"""The trade page of one pair: a price chart (``static/chart.js`` draws the public klines with
the vendored lightweight-charts), the order book and recent trades, an order form (limit or
market), the user's open orders with a cancel button, and the user's order and trade history.

=============================  =====  ====================================================
path                           verbs  what
=============================  =====  ====================================================
/trade/{symbol}                GET    the page (anyone sees the book; the form, open orders,
                                      order and trade history need log-in); ``?placed=<id>``
                                      says what became of the session's own order ``id``
/trade/{symbol}/book           GET    the book and recent trades alone (htmx polls it
                                      while the page's stream is not live)
/trade/{symbol}/mine           GET    the user's open orders, order and trade history alone
                                      (both typed in the address bar: a redirect to the page)
/trade/{symbol}/stream-key     POST   a listenKey for the user's own streams (JSON, errors too)
/trade/{symbol}/order          POST   place an order (the engine's ``PlaceOrder``)
/trade/{symbol}/cancel         POST   cancel one of the user's open orders
=============================  =====  ====================================================

In a browser with JavaScript the book, recent trades and the chart's last candle are live:
``static/livebook.js`` subscribes to the public depth, deals and kline streams at ``/ws``
(same origin; ``static/pushdata.js`` decodes the protobuf frames) and keeps the book by MEXC's
snapshot-and-diff procedure (docs/streams.md); htmx polling of ``/book`` is the fallback while
the socket is down. Without JavaScript the page is the server's snapshot with a refresh link.
A logged-in user's page also opens the private order and fill streams with a listenKey from
``/stream-key`` (one per session, reused and extended while valid, so page loads never use up
the account's 60 keys; it ends with the session, and its streams with it: log-out, a
revocation, the session's expiry) and fetches ``/mine`` when one of its orders changes.

Orders go to the engine the API sends them to, checked by the same domain rules (price band,
precision, minimums); a web order has no API key and so earns no broker a rebate.
"""

from __future__ import annotations

import re
import secrets
import threading
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bourse.domain.errors import AccountFrozen, DomainError, UnknownSymbol
from bourse.domain.ids import whole_id
from bourse.domain.money import format_units, to_units
from bourse.domain.orders import BUY, SELL, Order, OrderRequest, OrderStatus, OrderType
from bourse.domain.price_band import check_price_band
from bourse.domain.symbols import Symbol
from bourse.engine import commands as c
from bourse.engine.clock import now_ms
from bourse.services import users as us
from bourse.services.bundle import Services
from bourse.services.listenkeys import ListenKeyError
from bourse.web import figures, messages, pages
from bourse.web.console import CSRF_REFUSED, Console, Faucet, redirect
from bourse.web.fragments import hosted_by, trade_page

#: levels of each side of the book shown, recent trades, and rows of the user's history
BOOK_LEVELS = 10
TRADES_SHOWN = 20
HISTORY_SHOWN = 20
#: the order form's one-time id (``secrets.token_urlsafe(12)``)
_REQUEST_ID = re.compile(r"[A-Za-z0-9_-]{8,32}")


@dataclass(frozen=True, slots=True)
class Level:
    price: str
    qty: str


@dataclass(frozen=True, slots=True)
class TradeRow:
    price: str
    qty: str
    side: str  # the taker's: "buy" or "sell"
    time: int


@dataclass(frozen=True, slots=True)
class OpenOrder:
    id: int
    side: str
    type: str
    price: str
    qty: str
    filled: str


@dataclass(frozen=True, slots=True)
class PastOrder:
    id: int
    side: str
    type: str
    price: str
    qty: str
    filled: str
    status: str
    time: int


@dataclass(frozen=True, slots=True)
class Fill:
    order_id: int
    side: str
    price: str
    qty: str
    fee: str
    time: int


class TradePages(Console):
    def __init__(self, svc: Services, secure: bool, faucet: Faucet | None = None) -> None:
        super().__init__(svc, secure, faucet)
        self.listen_keys = svc.listen_keys
        #: held while a session's key is looked up or made (one per session in this process)
        self._stream_lock = threading.Lock()

    def _symbol(self, name: str) -> Symbol:
        sym = self.svc.engine.read(lambda e: e.exchange.symbols.get(name.upper()))
        if sym is None:
            raise UnknownSymbol(name)
        return sym

    def _book(self, sym: Symbol) -> dict[str, Any]:
        ps, qs = sym.price_scale, sym.qty_scale

        def snap(e: Any) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
            book = e.exchange.books[sym.name]
            return book.bids.depth(BOOK_LEVELS), book.asks.depth(BOOK_LEVELS)

        bids, asks = self.svc.engine.read(snap)
        trades = self.svc.marketdata.recent_trades(sym.name, TRADES_SHOWN)
        trades.reverse()  # newest first
        return {
            "symbol": sym,
            "bids": [Level(format_units(p, ps), format_units(q, qs)) for p, q in bids],
            "asks": [Level(format_units(p, ps), format_units(q, qs)) for p, q in reversed(asks)],
            "trades": [
                TradeRow(
                    format_units(p, ps), format_units(q, qs), "buy" if side == BUY else "sell", t
                )
                for _, p, q, _, side, t in trades
            ],  # fmt: skip
        }

    def _open_orders(self, sym: Symbol, account: int) -> list[OpenOrder]:
        def mine(e: Any) -> list[Any]:
            mine = e.exchange.open_of(account)
            return sorted((o for o in mine if o.symbol == sym.name), key=lambda o: o.id)

        return [
            OpenOrder(
                o.id,
                "Buy" if o.side == BUY else "Sell",
                str(o.type).title(),
                format_units(o.price, sym.price_scale),
                format_units(o.qty, sym.qty_scale),
                format_units(o.filled_qty, sym.qty_scale),
            )
            for o in self.svc.engine.read(mine)
        ]

    def _history(self, sym: Symbol, account: int) -> tuple[list[PastOrder], list[Fill]]:
        """The account's newest orders and fills in ``sym``, newest first (the queries behind
        ``allOrders`` and ``myTrades``)."""
        ps, qs = sym.price_scale, sym.qty_scale
        orders = self.svc.queries.orders(account, sym.name, limit=HISTORY_SHOWN)
        past = [
            PastOrder(o.id, "Buy" if o.side == BUY else "Sell", str(o.type).title(),
                      format_units(o.price, ps) if o.price else "market",
                      format_units(o.qty, qs), format_units(o.filled_qty, qs),
                      str(o.status).replace("_", " ").lower(), o.created)
            for o in reversed(orders)
        ]  # fmt: skip
        scales = self.svc.engine.read(lambda e: {a: x.scale for a, x in e.wallet.assets.items()})
        fills = []
        for r in reversed(self.svc.queries.my_trades(account, sym.name, limit=HISTORY_SHOWN)):
            buyer = r.buyer_account == account
            fee_asset = (r.buyer_fee_asset or sym.base.code) if buyer else (
                r.seller_fee_asset or sym.quote.code)  # fmt: skip
            fee = r.buyer_fee if buyer else r.seller_fee
            fills.append(
                Fill(int(r.buyer_order if buyer else r.seller_order), "Buy" if buyer else "Sell",
                     format_units(r.price, ps), format_units(r.qty, qs),
                     f"{format_units(fee, scales[fee_asset])} {fee_asset}", int(r.time))
            )  # fmt: skip
        return past, fills

    def _mine(self, sym: Symbol, account: int | None) -> dict[str, Any]:
        past, fills = self._history(sym, account) if account is not None else ([], [])
        orders = self._open_orders(sym, account) if account is not None else []
        return {"symbol": sym, "orders": orders, "history": past, "fills": fills}

    def _placed(self, sym: Symbol, account: int, text: str) -> str:
        """What became of order ``text`` (the order form's redirect names it), in a sentence;
        ``""`` for anything but an order of ``account`` on ``sym`` (another account's id says
        nothing, not even that it exists)."""
        order_id = whole_id(text)
        order = self.svc.queries.order(account, sym.name, order_id) if order_id else None
        return placed_notice(sym, order) if order is not None else ""

    def _context(self, sym: Symbol, account: int | None) -> dict[str, Any]:
        row = next(m for m in figures.markets(self.svc, now_ms()) if m.symbol == sym.name)
        return {**self._book(sym), **self._mine(sym, account), "market": row}

    async def page(self, request: Request, **ctx: Any) -> Response:
        session = await self._session(request)
        try:
            sym = await run_in_threadpool(self._symbol, request.path_params["symbol"])
        except UnknownSymbol as exc:
            return self._page("error.html", session, 404, title="No such pair",
                              message=messages.say(exc), code="")  # fmt: skip
        account = session.user.account_id if session else None
        data = await run_in_threadpool(self._context, sym, account)
        placed = request.query_params.get("placed", "")[:32]
        if account is not None and placed and "error" not in ctx:
            data["placed"] = await run_in_threadpool(self._placed, sym, account, placed)
        status = int(ctx.pop("status", 200))
        return self._page("trade.html", session, status, title=sym.name, poll=True,
                          form=ctx.pop("form", {}), request_id=secrets.token_urlsafe(12),
                          **data, **ctx)  # fmt: skip

    async def book(self, request: Request) -> Response:
        try:
            sym = await run_in_threadpool(self._symbol, request.path_params["symbol"])
        except UnknownSymbol as exc:
            return pages.render("error.html", 404, title="No such pair",
                                message=messages.say(exc), code="")  # fmt: skip
        data = await run_in_threadpool(self._book, sym)
        return pages.render("_book.html", scripts=True, poll=True, **data)

    async def mine(self, request: Request) -> Response:
        session = await self._session(request)
        if session is None:
            return pages.render("error.html", 401, title="Log in", message="", code="")
        try:
            sym = await run_in_threadpool(self._symbol, request.path_params["symbol"])
        except UnknownSymbol:
            return pages.render("error.html", 404, title="No such pair", message="", code="")
        data = await run_in_threadpool(self._mine, sym, session.user.account_id)
        return pages.render("_mine.html", scripts=True, csrf=session.csrf, **data)

    def _stream_key(self, session: us.Session) -> str:
        """The session's trade-page listenKey (``ListenKeys.session_key``)."""
        with self._stream_lock:
            return self.listen_keys.session_key(session.user.account_id, session.id_hash, now_ms())

    async def stream_key(self, request: Request) -> Response:
        session, _, ok = await self._form(request)
        if session is None or not ok:
            status, msg = (401, "Log in first.") if session is None else (403, CSRF_REFUSED)
            return pages.secure_headers(JSONResponse({"code": status, "msg": msg}, status))
        try:
            key = await run_in_threadpool(self._stream_key, session)
        except ListenKeyError as exc:
            return pages.secure_headers(JSONResponse({"code": -1126, "msg": str(exc)}, 429))
        except AccountFrozen as exc:  # no new listenKey, nor a longer life for one (30018)
            return pages.secure_headers(
                JSONResponse({"code": 30018, "msg": messages.say(exc)}, 400)
            )
        return pages.secure_headers(JSONResponse({"listenKey": key}))

    def _request(self, sym: Symbol, account: int, form: dict[str, Any]) -> OrderRequest:
        def field(name: str) -> str:
            return str((form.get(name) or [""])[0]).strip()[:40]

        side = BUY if field("side") == "BUY" else SELL
        if field("side") not in ("BUY", "SELL"):
            raise DomainError("Choose buy or sell.")
        otype = OrderType.MARKET if field("type") == "MARKET" else OrderType.LIMIT
        if not field("quantity"):
            raise DomainError("Enter the quantity to trade.")
        qty = to_units(field("quantity"), sym.qty_scale, field="quantity")
        price = 0
        if otype is OrderType.LIMIT:
            if not field("price"):
                raise DomainError("Enter the price of a limit order.")
            price = to_units(field("price"), sym.price_scale, field="price")
            check_price_band(side, price, self.svc.marketdata.last_price(sym.name))
        # the form's one-time id as the client order id: the engine's idempotency makes a
        # double-click or a resent form place the order once
        rid = field("request_id")
        client_id = f"web-{rid}" if _REQUEST_ID.fullmatch(rid) else ""
        return OrderRequest(account=account, symbol=sym.name, side=side, type=otype, qty=qty,
                            price=price, client_id=client_id)  # fmt: skip

    async def order(self, request: Request) -> Response:
        name = str(request.path_params["symbol"]).upper()
        session, form = await self._posted(request, f"/trade/{name}")
        try:
            sym = await run_in_threadpool(self._symbol, name)
            req = self._request(sym, session.user.account_id, form)
            placed = await self.svc.engine.run(c.PlaceOrder(req))
        except DomainError as exc:
            kept = {k: str(v[0]) for k, v in form.items() if k != "csrf_token" and v}
            return await self.page(request, status=400, error=messages.say(exc), form=kept)
        return redirect(f"/trade/{sym.name}?placed={placed.id}")

    async def cancel(self, request: Request) -> Response:
        name = str(request.path_params["symbol"]).upper()
        session, form = await self._posted(request, f"/trade/{name}")
        text = str((form.get("order_id") or [""])[0])
        try:
            sym = await run_in_threadpool(self._symbol, name)
            order_id = whole_id(text)
            if order_id is None:
                raise DomainError("Choose an order to cancel.")
            await self.svc.engine.run(
                c.CancelOrder(session.user.account_id, sym.name, order_id, None)
            )
        except DomainError as exc:
            return await self.page(request, status=400, error=messages.say(exc))
        return redirect(f"/trade/{sym.name}?cancelled={text}")


def placed_notice(sym: Symbol, o: Order) -> str:
    """``Order 2881 placed: filled, bought 0.01 BTC at 60010.00 USDT`` and the like: what a
    trader wants to know right after the form (a filled order is in no open-order table)."""
    base, quote = sym.base.code, sym.quote.code
    qty, filled = format_units(o.qty, sym.qty_scale), format_units(o.filled_qty, sym.qty_scale)
    verb = "bought" if o.side == BUY else "sold"
    avg = ""
    if o.filled_qty:
        price = o.filled_quote // (o.filled_qty * sym.notional_mult)
        avg = f" at {format_units(price, sym.price_scale)} {quote}" + (
            " on average" if o.type is OrderType.MARKET else "")  # fmt: skip
    head = f"Order {o.id} placed"
    if o.status == OrderStatus.FILLED:
        return f"{head}: filled, {verb} {filled} {base}{avg}."
    if o.status == OrderStatus.NEW:
        side = "buy" if o.side == BUY else "sell"
        limit = format_units(o.price, sym.price_scale)
        return f"{head}: open in the book, {side} {qty} {base} at {limit} {quote}."
    if o.status == OrderStatus.PARTIALLY_FILLED:
        return f"{head}: partly filled, {verb} {filled} of {qty} {base}{avg}; the rest is open."
    # cancelled at once: a market order the book could not fill, self-trade prevention
    done = f"{verb} {filled} of {qty} {base}{avg}" if o.filled_qty else f"nothing {verb}"
    return f"{head}: cancelled, {done}."


def routes(svc: Services, secure: bool, faucet: Faucet | None = None) -> list[BaseRoute]:
    """The trade pages' routes."""
    t = TradePages(svc, secure, faucet)
    in_page = hosted_by(trade_page)  # typed in the address bar: the trade page
    return [
        Route("/trade/{symbol}", t.public(t.page), methods=["GET"]),
        Route("/trade/{symbol}/book", t.public(in_page(t.book)), methods=["GET"]),
        Route("/trade/{symbol}/mine", t.signed(in_page(t.mine)), methods=["GET"]),
        Route("/trade/{symbol}/stream-key", t.signed(t.stream_key, json=True), methods=["POST"]),
        Route("/trade/{symbol}/order", t.signed(t.order), methods=["POST"]),
        Route("/trade/{symbol}/cancel", t.signed(t.cancel), methods=["POST"]),
    ]
