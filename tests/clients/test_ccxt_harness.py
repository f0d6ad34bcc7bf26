"""ccxt's own exchange tests (``ccxt.test.exchange.sync``, shipped in ccxt 4.5.90) against a server.

ccxt checks every exchange with these functions: its harness (``ccxt/test/tests_sync.py``,
``testMainClass``) calls ``test_<method>(exchange, skipped_properties, *args)`` for each method
in ``run_public_tests``/``run_private_tests`` that ``exchange.has``, with the arguments listed
there, and fails the exchange on any exception but ``NotSupported``. The harness itself parses
``sys.argv`` and refuses to run from site-packages, so this module calls the same functions the
same way, one pytest test per method, with the same arguments and no skipped properties (ccxt's
``skip-tests.json``, not shipped in the package, is not applied: the strictest reading).

Left out of the harness's spot lists, because they cannot pass against MEXC either:
``fetchTransfers`` (ccxt's mexc requires a ``fromAccountType`` parameter the harness does not
pass: ``ArgumentsRequired``) and ``fetchLeverageTiers`` (futures only). ``fetchMarkets``' own test
function asserts a dict where every ccxt ``fetch_markets`` returns a list; the harness never
calls it (``loadMarkets`` covers the markets). ``fetchTime``, ``fetchBidsAsks``, the deposit
address methods, ``cancelAllOrders`` and ``fetchCanceledOrders`` have no test function (the
harness skips them as UNIMPLEMENTED_TEST): they are called directly at the end.

The exchange is ccxt's ``mexc`` with its URLs pointed at the server and, as a spot-only venue,
``has['swap'] = has['future'] = False`` (ccxt's harness then runs only the spot tests); nothing
else is changed. ``createOrder`` is what the harness runs with ``--fundedTests``: it places an
unfillable and a fillable order and cancels what rests (``fetchOrder``, ``cancelOrder``). Its
Python version cannot run (see ``XFAIL``), so ``test_create_order_scenarios`` runs the same
scenarios with ccxt's own checks.

Tests whose failure is ccxt's own (they fail against MEXC too) are strict xfails naming the
cause, so a ccxt upgrade that fixes them shows up as XPASS.
"""

from __future__ import annotations

import importlib
import re
import time
from decimal import ROUND_CEILING, Decimal
from typing import Any

import ccxt
import pytest
from ccxt.test.exchange.base import test_shared_methods as shared
from ccxt.test.exchange.base.test_order import test_order as check_order
from ccxt.test.exchange.sync import test_create_order as tco

from ._harness import seed_market

BTC = "BTC/USDT"
#: ``get_exchange_code``'s first pick that the exchange lists
CODE = "BTC"

#: (method, args): the harness's spot lists (public, then private) for the methods mexc has and
#: ccxt ships a test function for, plus ``fetchL2OrderBook`` and ``fetchTradingFee`` (ccxt ships
#: their test functions; the harness reaches them through other lists)
PUBLIC: list[tuple[str, list[Any]]] = [
    ("afterConstruct", []),
    ("features", []),
    ("loadMarkets", []),
    ("fetchCurrencies", []),
    ("fetchTicker", [BTC]),
    ("fetchTickers", [BTC]),
    ("fetchOHLCV", [BTC]),
    ("fetchTrades", [BTC]),
    ("fetchOrderBook", [BTC]),
    ("fetchL2OrderBook", [BTC]),
    ("fetchStatus", []),
]
PRIVATE: list[tuple[str, list[Any]]] = [
    ("fetchBalance", []),
    ("fetchAccounts", []),
    ("fetchTransactionFees", []),
    ("fetchTradingFee", [BTC]),
    ("fetchOrders", [BTC]),
    ("fetchOpenOrders", [BTC]),
    ("fetchClosedOrders", [BTC]),
    ("fetchMyTrades", [BTC]),
    ("fetchDeposits", [CODE]),
    ("fetchWithdrawals", [CODE]),
    ("createOrder", [BTC]),
]
#: test functions that fail on ccxt's side (against MEXC as well): method -> exact cause
XFAIL: dict[str, str] = {
    "fetchAccounts": "ccxt 4.5.90 bug, not Bourse: mexc.fetch_accounts builds one account per "
    "GET /api/v3/account balance with type=safe_string(balance, 'type'), a key MEXC's balances "
    "do not have, and test_account requires a type (fails against MEXC too)",
    "fetchClosedOrders": "ccxt 4.5.90 bug, not Bourse: mexc.fetch_orders_by_state compares the "
    "(type, params) tuple of handle_market_type_and_params to 'spot', so spot fetchClosedOrders "
    "returns GET /api/v3/allOrders unfiltered, the open order included (MEXC the same); "
    "test_fetch_closed_orders_when_none_is_open covers it without open orders",
    "createOrder": "ccxt 4.5.90 bug, not Bourse: the Python test_create_order concatenates float "
    "balances and amounts into str debug messages and its tco_debug reads exchange['id'] "
    "(TypeError before any order is sent); "
    "test_create_order_scenarios runs its two scenarios with ccxt's own helpers and checks",
}


def snake(method: str) -> str:
    """The harness's ``convert_to_snake_case``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", method).lower().replace("o_h_l_c_v", "ohlcv")


def ccxt_test(method: str) -> Any:
    module = importlib.import_module(f"ccxt.test.exchange.sync.test_{snake(method)}")
    return getattr(module, f"test_{snake(method)}")


def spot_only(exchange: Any) -> Any:
    exchange.has["swap"] = False
    exchange.has["future"] = False
    exchange.options["defaultType"] = "spot"
    return exchange


@pytest.fixture
def exchange(live_server):  # type: ignore[no-untyped-def]
    cp = seed_market(live_server)
    ex = spot_only(live_server.mexc("user"))
    ex.load_markets()
    # the user's own history: a fill, and an order left open
    ex.create_order(BTC, "limit", "buy", 0.01, 60600)
    ex.create_order(BTC, "limit", "buy", 0.01, 50000)
    cp.create_order(BTC, "limit", "sell", 0.3, 61000)  # liquidity for createOrder's fill
    return ex


def test_ccxt_ships_its_exchange_tests() -> None:
    assert ccxt.__version__ == "4.5.90"
    for method, _ in PUBLIC + PRIVATE:
        assert callable(ccxt_test(method)), method


def _marks(method: str) -> list[Any]:
    if method in XFAIL:
        return [pytest.mark.xfail(strict=True, reason=XFAIL[method])]
    return []


@pytest.mark.parametrize(
    ("method", "args"),
    [pytest.param(m, a, id=m, marks=_marks(m)) for m, a in PUBLIC + PRIVATE],
)
def test_ccxt_exchange_test(exchange, method: str, args: list[Any]) -> None:  # type: ignore[no-untyped-def]
    assert method in ("afterConstruct", "features", "loadMarkets") or exchange.has[method], method
    ccxt_test(method)(exchange, {}, *args)


def test_fetch_time(exchange) -> None:  # type: ignore[no-untyped-def]
    """The harness lists fetchTime, but ccxt ships no test function for it: checked here."""
    assert abs(exchange.fetch_time() - int(time.time() * 1000)) < 5_000


def test_fetch_closed_orders_when_none_is_open(exchange) -> None:  # type: ignore[no-untyped-def]
    """ccxt's fetchClosedOrders test on an account whose orders are all closed or canceled."""
    exchange.cancel_all_orders(BTC)
    assert exchange.fetch_open_orders(BTC) == []
    ccxt_test("fetchClosedOrders")(exchange, {}, BTC)


def create_order_safe(
    exchange: Any, symbol: str, kind: str, side: str, amount: Any, price: Any
) -> Any:
    """``tco_create_order_safe`` without its debug line."""
    order = exchange.create_order(symbol, kind, side, amount, price, {})
    try:
        check_order(exchange, {}, "createOrder", order, symbol, int(time.time() * 1000))
    except Exception:
        if kind != "market":
            try_cancel(exchange, symbol, order)
        raise
    return order


def try_cancel(exchange: Any, symbol: str, order: Any) -> None:
    """``tco_try_cancel_order`` with ``exchange.fetch_order`` and ``exchange.cancel_order``."""
    if exchange.fetch_order(order["id"], symbol)["status"] in ("open", "pending", None):
        exchange.cancel_order(order["id"], symbol)


def minimum_amount(exchange: Any, market: Any, price: float) -> float:
    """``tco_get_minimum_amount_for_limit_price``, whose final ROUND_UP the Python
    ``decimal_to_precision`` refuses (it asserts TRUNCATE or ROUND): rounded up here instead."""
    amount = tco.tco_mininum_amount(exchange, market)
    cost = tco.tco_mininum_cost(exchange, market)
    if amount * price < cost:
        amount = cost / price
    step = Decimal(str(market["precision"]["amount"]))
    raw = (Decimal(str(amount)) + step) * Decimal("1.1")
    return float((raw / step).to_integral_value(rounding=ROUND_CEILING) * step)


def test_create_order_scenarios(exchange) -> None:  # type: ignore[no-untyped-def]
    """``test_create_order``'s scenarios 1 (unfillable limit buy, then cancel) and 2 (fillable
    limit buy, then a market sell of the filled amount) with ccxt's own checks (``test_order``,
    ``assert_order_state``, ``assert_in_array``, ``tco_assert_filled_order``).

    Its Python helpers that cannot run in Python are replaced by what they do for mexc:
    ``tco_debug`` reads ``exchange['id']`` and its callers concatenate floats into strings;
    ``test_shared_methods.fetch_order`` calls ``exchange['fetchOrder']`` (a ccxt exchange is not
    subscriptable), so orders are fetched with ``exchange.fetch_order`` and cancelled with
    ``exchange.cancel_order``."""
    market = exchange.market(BTC)
    mult = 1.045  # test_create_order's limit_price_safety_multiplier_from_median
    balance = exchange.fetch_balance()
    assert balance[market["quote"]]["free"] is not None
    best_bid, best_ask = shared.fetch_best_bid_ask(exchange, "createOrder", BTC)

    # scenario 1
    price = best_bid / mult
    amount = minimum_amount(exchange, market, price)
    created = create_order_safe(exchange, BTC, "limit", "buy", amount, price)
    fetched = exchange.fetch_order(created["id"], BTC)
    check_order(exchange, {}, "createOrder", fetched, BTC, exchange.milliseconds())
    shared.assert_order_state(exchange, {}, "createdOrder", created, "open", False)
    shared.assert_order_state(exchange, {}, "fetchedOrder", fetched, "open", True)
    shared.assert_in_array(exchange, {}, "createdOrder", created, "side", [None, "buy"])
    shared.assert_in_array(exchange, {}, "fetchedOrder", fetched, "side", [None, "buy"])
    exchange.cancel_order(created["id"], BTC)
    assert exchange.fetch_order(created["id"], BTC)["status"] == "canceled"

    # scenario 2
    log_prefix = shared.log_template(exchange, "createOrder", [BTC])
    entry_price = best_ask * mult
    entry_amount = minimum_amount(exchange, market, entry_price)
    entry = create_order_safe(exchange, BTC, "limit", "buy", entry_amount, entry_price)
    try_cancel(exchange, BTC, entry)
    entry_fetched = exchange.fetch_order(entry["id"], BTC)
    tco.tco_assert_filled_order(
        exchange, market, log_prefix, {}, entry, entry_fetched, "buy", entry_amount
    )
    to_close = exchange.parse_to_numeric(exchange.safe_string(entry_fetched, "filled"))
    exit_ = create_order_safe(exchange, BTC, "market", "sell", to_close, None)
    exit_fetched = exchange.fetch_order(exit_["id"], BTC)
    tco.tco_assert_filled_order(
        exchange, market, log_prefix, {}, exit_, exit_fetched, "sell", to_close
    )


def test_methods_without_a_ccxt_test_function(exchange) -> None:  # type: ignore[no-untyped-def]
    """The harness lists these spot methods (mexc has them), but ccxt ships no test function:
    the harness skips them as UNIMPLEMENTED_TEST. Called here with its arguments."""
    bids_asks = exchange.fetch_bids_asks()  # the harness's arguments: none
    assert (bids_asks[BTC]["bid"], bids_asks[BTC]["ask"]) == (60400, 60600)
    network = next(iter(exchange.currencies[CODE]["networks"]))
    created = exchange.create_deposit_address(CODE, {"network": network})
    assert created["currency"] == CODE and created["address"]
    fetched = exchange.fetch_deposit_address(CODE, {"network": network})
    assert (fetched["currency"], fetched["address"]) == (CODE, created["address"])
    by_network = exchange.fetch_deposit_addresses_by_network(CODE)
    assert by_network and all(a["address"] for a in by_network.values())
    canceled = exchange.cancel_all_orders(BTC)
    assert [o["price"] for o in canceled] == [50000]
    # the same ccxt bug as fetchClosedOrders: every order of allOrders comes back, unfiltered
    states = {o["id"]: o["status"] for o in exchange.fetch_canceled_orders(BTC)}
    assert states[canceled[0]["id"]] == "canceled"
