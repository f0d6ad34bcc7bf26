"""User-data frames (``spot@private.*``): one frame per changed order, per fill on either side
and per moved balance of a committed batch, every schema field filled from the engine's changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from bourse.api.ws import channels as ch
from bourse.api.ws.frames import serialize, symbol_id, wrapper
from bourse.bus import BalanceUpdate, Committed
from bourse.domain.money import Asset, format_units
from bourse.domain.orders import BUY, OPEN_STATUSES, Order, OrderStatus, OrderType, Trade
from bourse.domain.symbols import Symbol

ORDER_TYPES = {
    OrderType.LIMIT: 1,
    OrderType.LIMIT_MAKER: 2,
    OrderType.IMMEDIATE_OR_CANCEL: 3,
    OrderType.FILL_OR_KILL: 4,
    OrderType.MARKET: 5,
}
STATUSES = {
    OrderStatus.NEW: 1,
    OrderStatus.FILLED: 2,
    OrderStatus.PARTIALLY_FILLED: 3,
    OrderStatus.CANCELED: 4,
    OrderStatus.PARTIALLY_CANCELED: 5,
}
#: ledger posting kinds -> MEXC's account-change types (mexc-api.md 2.4)
CHANGE_TYPES = {
    "order_lock": "ENTRUST_PLACE",
    "order_unlock": "ENTRUST_UNFROZEN",
    "trade": "ENTRUST",
    "fee": "TRADE_FEE",
    "deposit": "DEPOSIT",
    "withdraw_hold": "WITHDRAW",
    "withdraw": "WITHDRAW",
    "withdraw_fee": "WITHDRAW_FEE",
    "withdraw_void": "WITHDRAW",
    "transfer": "TRANSFER",
    "rebate": "SUGAR",
}

Frame = tuple[int, str, bytes]  # (account, channel kind, serialized wrapper)


def _order(o: Order, sym: Symbol, maker: bool, last_qty: int, now: int) -> bytes:
    msg = wrapper("spot@" + ch.ORDERS, o.symbol, now)
    b = msg.privateOrders
    ps, qs, qscale = sym.price_scale, sym.qty_scale, sym.quote.scale
    amount = sym.notional(o.price, o.qty) if o.price else o.quote_qty
    avg = o.filled_quote // (o.filled_qty * sym.notional_mult) if o.filled_qty else 0
    b.id = str(o.id)
    b.clientId = o.client_id
    b.price = format_units(o.price, ps)
    b.quantity = format_units(o.qty, qs)
    b.amount = format_units(amount, qscale)
    b.avgPrice = format_units(avg, ps)
    b.orderType = ORDER_TYPES[o.type]
    b.tradeType = 1 if o.side == BUY else 2
    b.isMaker = maker
    b.remainAmount = format_units(sym.notional(o.price, o.remaining) if o.price else 0, qscale)
    b.remainQuantity = format_units(o.remaining, qs)
    b.lastDealQuantity = format_units(last_qty, qs)
    b.cumulativeQuantity = format_units(o.filled_qty, qs)
    b.cumulativeAmount = format_units(o.filled_quote, qscale)
    b.status = STATUSES[o.status]
    b.createTime = o.created
    b.market = sym.quote.code
    b.state = STATUSES[o.status]
    b.symbolId = symbol_id(sym.name)
    b.marketId = symbol_id(sym.name)
    b.marketCurrencyId = sym.quote.code
    b.currencyId = sym.base.code
    return serialize(msg)


def _deal(
    t: Trade, o: Order | None, sym: Symbol, buyer: bool, now: int, assets: dict[str, Asset]
) -> bytes:
    msg = wrapper("spot@" + ch.MY_DEALS, t.symbol, now)
    b = msg.privateDeals
    b.price = format_units(t.price, sym.price_scale)
    b.quantity = format_units(t.qty, sym.qty_scale)
    b.amount = format_units(t.quote_qty, sym.quote.scale)
    b.tradeType = 1 if buyer else 2
    b.isMaker = (t.taker_side != BUY) if buyer else (t.taker_side == BUY)
    b.isSelfTrade = t.buyer_account == t.seller_account
    b.tradeId = str(t.id)
    b.clientOrderId = o.client_id if o is not None else ""
    b.orderId = str(t.buyer_order if buyer else t.seller_order)
    fee_code = t.fee_asset(buyer, sym.base.code, sym.quote.code)
    fee_asset = sym.base if fee_code == sym.base.code else sym.quote
    if fee_code != fee_asset.code:  # paid in MX
        fee_asset = assets[fee_code]
    b.feeAmount = format_units(t.buyer_fee if buyer else t.seller_fee, fee_asset.scale)
    b.feeCurrency = fee_asset.code
    b.time = t.time
    return serialize(msg)


def _account(u: BalanceUpdate, asset: Asset, now: int) -> bytes:
    msg = wrapper("spot@" + ch.ACCOUNT, None, now)
    b = msg.privateAccount
    s = asset.scale
    b.vcoinName = asset.code
    b.coinId = asset.code
    b.balanceAmount = format_units(u.available, s)
    b.balanceAmountChange = format_units(u.available_change, s)
    b.frozenAmount = format_units(u.locked, s)
    b.frozenAmountChange = format_units(u.locked_change, s)
    b.type = CHANGE_TYPES.get(u.kind, u.kind.upper())
    b.time = now
    return serialize(msg)


def frames(
    event: Committed,
    wanted: Callable[[int, str], bool],
    symbols: dict[str, Symbol],
    assets: dict[str, Asset],
) -> Iterator[Frame]:
    """Every user-data frame of ``event`` for which ``wanted(account, kind)`` is true."""
    changes, now = event.changes, event.time
    orders = {o.id: o for o in changes.orders}
    makers: set[int] = set()
    filled: dict[int, int] = {}
    for t in changes.trades:
        makers.add(t.seller_order if t.taker_side == BUY else t.buyer_order)
        filled[t.buyer_order] = filled.get(t.buyer_order, 0) + t.qty
        filled[t.seller_order] = filled.get(t.seller_order, 0) + t.qty
    for o in changes.orders:
        if wanted(o.account, ch.ORDERS):
            sym = symbols[o.symbol]
            maker = o.id in makers or (bool(o.price) and o.status in OPEN_STATUSES)
            yield o.account, ch.ORDERS, _order(o, sym, maker, filled.get(o.id, 0), now)
    for t in changes.trades:
        for account, buyer in ((t.buyer_account, True), (t.seller_account, False)):
            if wanted(account, ch.MY_DEALS):
                order = orders.get(t.buyer_order if buyer else t.seller_order)
                yield account, ch.MY_DEALS, _deal(t, order, symbols[t.symbol], buyer, now, assets)
    for u in event.balances:
        if wanted(u.account, ch.ACCOUNT) and u.asset in assets:
            yield u.account, ch.ACCOUNT, _account(u, assets[u.asset], now)
