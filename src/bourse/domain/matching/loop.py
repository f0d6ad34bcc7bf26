"""The match loop: a taker trades against the opposite side of the book while prices cross.

One code path for both sides, as in exchange-core: book keys are ``sign x price`` with the best
level last, so "the best level is within the taker's limit" is ``keys[-1] >= sign x limit``
whichever side the taker is on, and each fill is settled as buyer and seller (``settlement``
states the rules), the one side-dependent line saying which of taker and maker is the buyer.
Makers fill in price-time order; a filled maker leaves the book, an emptied level is dropped.
Self-trade prevention (``stp``) may stop the taker or cancel its own resting orders on the way.
A MARKET buy by quote amount (``qty`` 0) is sized per level by what its remaining lock buys.

This is the hot path, written flat on purpose: per-match values live in locals and each fill
is posted inline (a function call per fill measurably slows the engine).
"""

from __future__ import annotations

from typing import Any, Final

from bourse.domain.accounts import FEE_REVENUE
from bourse.domain.fees import RATE_DENOM
from bourse.domain.ledger import LedgerCorrupted
from bourse.domain.matching.settlement import Part, buckets, part, pay_fee_in_mx, revenue
from bourse.domain.matching.state import ExchangeState
from bourse.domain.matching.stp import prevent
from bourse.domain.mx import MX
from bourse.domain.orderbook import BookSide, OrderBook
from bourse.domain.orders import BUY, Order, OrderStatus, StpMode, Trade
from bourse.domain.symbols import Symbol

_FILLED: Final = OrderStatus.FILLED
_PART_FILLED: Final = OrderStatus.PARTIALLY_FILLED
_STP_NONE: Final = StpMode.NONE
#: Trade(...) without the namedtuple's Python-level __new__
_new_tuple: Final = tuple.__new__


def match(
    state: ExchangeState, taker: Order, sym: Symbol, book: OrderBook, opp: BookSide, now: int
) -> int:
    """Trade ``taker`` against ``opp`` while prices cross; the price of the last fill (0: none)."""
    ledger, fees = state.ledger, state.fees
    journal, trades = ledger.journal, state.trades
    changed = state.changed_orders
    fee_account = FEE_REVENUE
    book_orders, open_orders, open_count = book.orders, state.open_orders, state.open_count
    name, nm, bm = sym.name, sym.notional_mult, sym.base_mult
    base_code, quote_code = sym.base.code, sym.quote.code
    t_acc, t_side, limit = taker.account, taker.side, taker.price  # limit 0: MARKET
    buy = t_side == BUY
    by_budget = not taker.qty
    stp_on = taker.stp is not _STP_NONE
    peers = state.stp_peers.get(t_acc) if stp_on else None  # its STP group, if any
    keys, levels, level_qty, sign = opp.keys, opp.levels, opp.level_qty, opp.sign
    limit_key = sign * limit
    tid = state.next_trade_id
    t_part: Part | None = None  # the taker's buckets and rate, looked up on its first fill
    # each maker's buckets (``settlement.buckets``, kept until the ledger is drained) and rate
    pairs = ledger.pairs.get((base_code, quote_code))
    if pairs is None:
        pairs = ledger.pairs[(base_code, quote_code)] = {}
    overrides, maker_rate = fees.overrides, fees.maker
    fee_base = fee_quote = None  # fee revenue buckets, looked up on the first fee
    mx_accounts = state.mx_deduct  # accounts paying fees in MX (usually none)
    last = 0
    stopped = False
    while keys and not stopped:
        if limit and keys[-1] < limit_key:
            break
        price = sign * keys[-1]
        want = taker.locked // (price * nm) if by_budget else taker.remaining
        if not want:
            break
        level = levels[price]
        lq = level_qty[price]
        while level and want:
            maker = level[0]
            m_acc = maker.account
            if stp_on and (m_acc == t_acc or (peers is not None and m_acc in peers)):
                stopped, removed = prevent(state, book, sym, taker, level, now)
                lq -= removed
                if stopped:
                    break
                continue
            m_rem = maker.remaining
            q = m_rem if m_rem < want else want
            notional = price * (q * nm)  # q x nm is small: a one-word product when compiled
            base = q * bm
            # --- settle the fill: as buyer and seller (``settlement``)
            if t_part is None:
                t_part = part(ledger, fees, t_acc, base_code, quote_code, True)
            m_bq = pairs.get(m_acc)
            if m_bq is None:
                m_bq = buckets(ledger, m_acc, base_code, quote_code)
            m_rates = overrides.get(m_acc)
            m_rate = m_rates[0] if m_rates else maker_rate
            if buy:
                buyer = taker
                seller = maker
                b_acc = t_acc
                s_acc = m_acc
                b_base, b_quote, b_rate = t_part
                s_base, s_quote = m_bq
                s_rate = m_rate
            else:
                buyer = maker
                seller = taker
                b_acc = m_acc
                s_acc = t_acc
                b_base, b_quote = m_bq
                s_base, s_quote, s_rate = t_part
                b_rate = m_rate
            # Python ints boxed once for the journal and the trade (compiled, an ``int`` local
            # is a machine word, boxed again at each use); ``x[i] = x[i] - y`` likewise
            tid_o: Any = tid
            notional_o: Any = notional
            b_quote[1] = b_quote[1] - notional  # 1: LOCKED, 0: AVAILABLE
            s_quote[0] = s_quote[0] + notional
            journal.append((b_acc, 1, s_acc, 0, quote_code, notional_o, "trade", tid_o))
            buyer.locked -= notional
            if price < limit:  # a limit buyer taker got a better price (a seller never does)
                refund = (limit - price) * q * nm
                b_quote[1] = b_quote[1] - refund
                b_quote[0] = b_quote[0] + refund
                journal.append((b_acc, 1, b_acc, 0, quote_code, refund, "order_refund", tid_o))
                buyer.locked -= refund
            s_base[1] = s_base[1] - base
            b_base[0] = b_base[0] + base
            journal.append((s_acc, 1, b_acc, 0, base_code, base, "trade", tid_o))
            seller.locked -= base
            if s_base[1] < 0 or b_quote[1] < 0:
                raise LedgerCorrupted(f"locked funds overdrawn in trade {tid}")
            # fees.fee_for, inlined (rounded up): a call per fee measurably slows the loop
            buyer_fee = -(-(base * b_rate) // RATE_DENOM)
            b_fee_asset = s_fee_asset = ""
            if buyer_fee and mx_accounts and b_acc in mx_accounts:
                paid = pay_fee_in_mx(
                    state, b_acc, quote_code, notional * b_rate, sym, price, tid, now
                )
                if paid:
                    buyer_fee, b_fee_asset = paid, MX
            if buyer_fee and not b_fee_asset:
                if fee_base is None:
                    fee_base = revenue(ledger, base_code)
                b_base[0] = b_base[0] - buyer_fee
                fee_base[0] = fee_base[0] + buyer_fee
                journal.append((b_acc, 0, fee_account, 0, base_code, buyer_fee, "fee", tid_o))
            seller_fee = -(-(notional * s_rate) // RATE_DENOM)
            if seller_fee and mx_accounts and s_acc in mx_accounts:
                paid = pay_fee_in_mx(
                    state, s_acc, quote_code, notional * s_rate, sym, price, tid, now
                )
                if paid:
                    seller_fee, s_fee_asset = paid, MX
            if seller_fee and not s_fee_asset:
                if fee_quote is None:
                    fee_quote = revenue(ledger, quote_code)
                s_quote[0] = s_quote[0] - seller_fee
                fee_quote[0] = fee_quote[0] + seller_fee
                journal.append((s_acc, 0, fee_account, 0, quote_code, seller_fee, "fee", tid_o))
            trades.append(
                _new_tuple(Trade, (tid_o, name, price, q, notional_o, buyer.id, seller.id, b_acc,
                                   s_acc, t_side, buyer_fee, seller_fee, buyer.broker_id,
                                   seller.broker_id, now, b_fee_asset, s_fee_asset))
            )  # fmt: skip
            tid += 1
            last = price
            # --- the orders
            lq -= q
            want -= q
            maker.filled_qty += q
            maker.filled_quote += notional
            maker.updated = now
            changed[maker.id] = maker
            if m_rem == q:
                maker.remaining = 0
                maker.status = _FILLED
                level.popleft()
                del book_orders[maker.id]
                del open_orders[maker.id]
                open_count[m_acc] -= 1
            else:
                maker.remaining = m_rem - q
                maker.status = _PART_FILLED
            taker.filled_qty += q
            taker.filled_quote += notional
            if not by_budget:
                taker.remaining -= q
        if level:
            level_qty[price] = lq
            break
        del levels[price]  # BookSide.drop_level of the best level, inlined
        del level_qty[price]
        keys.pop()
    state.next_trade_id = tid
    if taker.filled_qty:
        taker.updated = now
        if not stopped:
            taker.status = _FILLED if not by_budget and taker.remaining == 0 else _PART_FILLED
    return last
