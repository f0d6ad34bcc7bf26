"""/openapi.json describes every endpoint; schemathesis fuzzes all of them against a live server.

Signed operations are called twice over: once with a valid signature (a ``requests`` auth hook
signs the final URL exactly as a MEXC client does, so the handlers themselves are fuzzed) and
once unsigned (the auth-failure paths). Checks: no 5xx, documented status codes, content types,
headers, and response bodies that conform to the declared schemas. That runs on SQLite; on
PostgreSQL every operation is fuzzed signed with fewer examples (``PG_EXAMPLES``), so the
PostgreSQL paths of the handlers meet the same generated inputs within the time budget.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bourse.api.mexc.routes import ENDPOINTS
from tests.support.databases import create_pg_database, drop_pg_database, pg_template
from tests.support.mexc import CHECKS, MexcAuth, Signer
from tests.support.platforms import Env, open_env

#: examples per operation (``BOURSE_FUZZ_EXAMPLES`` raises it for a deeper run)
MAX_EXAMPLES = int(os.environ.get("BOURSE_FUZZ_EXAMPLES", "30"))
#: examples per operation on PostgreSQL
PG_EXAMPLES = int(os.environ.get("BOURSE_FUZZ_EXAMPLES_PG", "5"))
SYMBOL_CHOICES = [None, None, None, "BTCUSDT", "ETHUSDT", "MXUSDT"]
SIGNED = {(ep.method, ep.path) for ep in ENDPOINTS if ep.signed}


def _serve(url: str, tmp: Any) -> Iterator[tuple[Env, Signer]]:
    gen = open_env(url, tmp)
    env = next(gen)
    acc = env.open_account(USDT="1000000", BTC="100", ETH="1000", MX="100000")
    other = env.open_account(USDT="1000000", BTC="100")
    trader = env.signer(
        acc,
        ["SPOT_DEAL_READ", "SPOT_DEAL_WRITE", "SPOT_ACCOUNT_READ", "SPOT_WITHDRAW_READ"],
    )
    # some market so books, trades, klines and tickers are not empty
    maker = env.signer(other)
    maker.post(
        "/api/v3/order", symbol="BTCUSDT", side="SELL", type="LIMIT", quantity="1", price="30000"
    )
    maker.post(
        "/api/v3/order", symbol="BTCUSDT", side="BUY", type="LIMIT", quantity="1", price="29000"
    )
    trader.post(
        "/api/v3/order", symbol="BTCUSDT", side="BUY", type="LIMIT", quantity="0.1", price="30000"
    )
    try:
        yield env, trader
    finally:
        gen.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Env, Signer]]:
    tmp = tmp_path_factory.mktemp("openapi")
    yield from _serve(f"sqlite:///{tmp / 'openapi.db'}", tmp)


@pytest.fixture(scope="module")
def live_pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Env, Signer]]:
    url = create_pg_database(template=pg_template())
    try:
        yield from _serve(url, tmp_path_factory.mktemp("openapi-pg"))
    finally:
        drop_pg_database(url)


@pytest.fixture(scope="module")
def api_schema(live: tuple[Env, Signer]) -> Any:
    env, _ = live
    return schemathesis.openapi.from_url(env.url + "/openapi.json")


OPERATIONS = [(ep.method, ep.path) for ep in ENDPOINTS]
IDS = [f"{m} {p}" for m, p in OPERATIONS]


def test_openapi_lists_every_endpoint(live: tuple[Env, Signer]) -> None:
    env, _ = live
    doc = env.http.get("/openapi.json").json()
    served = {(ep.method.lower(), ep.path) for ep in ENDPOINTS}
    documented = {(m, p) for p, ops in doc["paths"].items() for m in ops}
    assert served == documented


def fuzz(operation: Any, call: Any, max_examples: int) -> None:
    @settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(), symbol=st.sampled_from(SYMBOL_CHOICES))
    def run(case: Any, symbol: str | None) -> None:
        # half the time use a listed symbol, so the handlers run past the symbol lookup
        if symbol is not None and isinstance(case.query, dict) and "symbol" in case.query:
            case.query["symbol"] = symbol
        call(case)

    run()


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=IDS)
def test_signed_and_public(
    method: str, path: str, api_schema: Any, live: tuple[Env, Signer]
) -> None:
    env, trader = live
    auth = MexcAuth(trader) if (method, path) in SIGNED else None
    codes: list[int] = []

    def call(case: Any) -> None:
        r = case.call(base_url=env.url, auth=auth)
        if r.status_code != 200:
            codes.append(r.json()["code"])
        case.validate_response(r, checks=CHECKS)

    fuzz(api_schema[path][method], call, MAX_EXAMPLES)
    # the signing hook works: no request failed authentication
    assert not {700002, 700003, 10072, 400} & set(codes), codes


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=IDS)
def test_unsigned(method: str, path: str, api_schema: Any, live: tuple[Env, Signer]) -> None:
    env, _ = live
    fuzz(
        api_schema[path][method],
        lambda case: case.call_and_validate(base_url=env.url, checks=CHECKS),
        10,
    )


def test_signed_on_postgresql(live_pg: tuple[Env, Signer]) -> None:
    env, trader = live_pg
    schema = schemathesis.openapi.from_url(env.url + "/openapi.json")
    auth = MexcAuth(trader)
    codes: list[int] = []
    for method, path in OPERATIONS:
        signed = auth if (method, path) in SIGNED else None

        def call(case: Any, signed: Any = signed) -> None:
            r = case.call(base_url=env.url, auth=signed)
            if r.status_code != 200:
                codes.append(r.json()["code"])
            case.validate_response(r, checks=CHECKS)

        fuzz(schema[path][method], call, PG_EXAMPLES)
    assert not {700002, 700003, 10072, 400} & set(codes), codes
