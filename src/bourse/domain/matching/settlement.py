"""Settling fills: every trade is posted to the ledger, fees included, the moment it happens.

One code path for both sides. A fill has a buyer and a seller, whichever of them is the taker:

1. the quote moves from the buyer's locked to the seller's available;
2. a limit buyer filled below its limit gets the difference unlocked at once, so a resting buy
   always has exactly ``remaining x price`` locked (a seller never fills below its limit);
3. the base moves from the seller's locked to the buyer's available;
4. the buyer pays its fee out of the base it received, the seller out of the quote, both into
   the fee revenue account (``domain.fees``: rounded up, at the taker's or the maker's rate);
   an account that pays fees in MX (``mxDeduct``) pays the fee's value in MX at a discount
   instead (``pay_fee_in_mx``), when the prices are known and settled and it holds enough MX.

Postings are made in that order, under the trade's id. The match loop (``loop``) posts them
inline: it is the hot path, and a call per fill costs more than the fill's arithmetic. This
module holds the rest: ``part`` looks an account's buckets and fee rate up once per match,
``revenue`` the fee revenue bucket of an asset.
"""

from __future__ import annotations

from collections import ChainMap

from bourse.domain.accounts import FEE_REVENUE
from bourse.domain.fees import RATE_DENOM, FeeSchedule
from bourse.domain.ledger import AVAILABLE, Ledger
from bourse.domain.matching.state import ExchangeState
from bourse.domain.mx import MX, mx_fee, mx_rate, pairs
from bourse.domain.reference_price import prices
from bourse.domain.symbols import Symbol

#: an account's base and quote [available, locked] buckets and its fee rate in this match
Part = tuple[list[int], list[int], int]
#: an account's base and quote [available, locked] buckets
Buckets = tuple[list[int], list[int]]


def buckets(ledger: Ledger, account: int, base: str, quote: str) -> Buckets:
    """The account's base and quote buckets (created if missing, marked touched), cached in
    ``ledger.pairs`` until the next drain: the match loop asks for them on every fill."""
    pairs = ledger.pairs.get((base, quote))
    if pairs is None:
        pairs = ledger.pairs[(base, quote)] = {}
    found = pairs.get(account)
    if found is not None:
        return found
    balances, touched = ledger.balances, ledger.touched
    base_key, quote_key = (account, base), (account, quote)
    base_bucket = balances.get(base_key) or balances.setdefault(base_key, [0, 0])
    quote_bucket = balances.get(quote_key) or balances.setdefault(quote_key, [0, 0])
    touched.add(base_key)
    touched.add(quote_key)
    found = pairs[account] = (base_bucket, quote_bucket)
    return found


def part(
    ledger: Ledger, fees: FeeSchedule, account: int, base: str, quote: str, taker: bool
) -> Part:
    """The account's base and quote buckets (``buckets``) and its taker or maker fee rate
    (``FeeSchedule.rates``, inlined)."""
    base_bucket, quote_bucket = buckets(ledger, account, base, quote)
    rates = fees.overrides.get(account)
    if taker:
        return base_bucket, quote_bucket, rates[1] if rates else fees.taker
    return base_bucket, quote_bucket, rates[0] if rates else fees.maker


def revenue(ledger: Ledger, asset: str) -> list[int]:
    """The fee revenue bucket of ``asset`` (created if missing, marked touched)."""
    key = (FEE_REVENUE, asset)
    bal = ledger.balances.get(key)
    if bal is None:
        bal = ledger.balances[key] = [0, 0]
    ledger.touched.add(key)
    return bal


def pay_fee_in_mx(
    state: ExchangeState,
    account: int,
    asset: str,
    fee_value: int,
    sym: Symbol,
    price: int,
    trade_id: int,
    now: int,
) -> int:
    """Charge ``account`` the MX fee for a fee worth ``fee_value / RATE_DENOM`` ledger units of
    ``asset`` (the symbol's quote: ``notional x rate``, whichever side pays), with the symbol
    priced at this fill's ``price``.

    Each price is the end of the band between the last price and the reference price
    (``domain.reference_price``) that makes the fee larger: ``asset`` at the higher, MX at the
    lower, so a price pushed with the account's own trades cannot shrink the fee. Returns the
    MX paid, or 0 when the account must pay the usual fee: a price is missing, a price strays
    from its reference (``Prices.unsettled``), or the account's available MX does not cover
    the whole fee (never a part in MX).
    """
    last = ChainMap({sym.name: price}, state.last_prices)
    bands = prices(state.references, last, now, pairs(asset))
    if bands.unsettled:
        return 0
    rate = mx_rate(asset, state.symbols, bands.high, bands.low)
    if rate is None:
        return 0
    amount = mx_fee((fee_value, RATE_DENOM), rate)
    ledger = state.ledger
    key = (account, MX)
    bucket = ledger.balances.get(key)
    if amount <= 0 or bucket is None or bucket[AVAILABLE] < amount:
        return 0
    bucket[AVAILABLE] -= amount
    revenue(ledger, MX)[AVAILABLE] += amount
    ledger.touched.add(key)
    ledger.journal.append((account, AVAILABLE, FEE_REVENUE, AVAILABLE, MX, amount, "fee", trade_id))
    return amount
