"""schemathesis follows the OpenAPI links (``api/mexc/openapi_links.py``) through sequences of
calls on a live server, on SQLite and PostgreSQL: place an order then query, cancel or list it;
create a key then renew, bind or delete it; withdraw then cancel; open a listen key then keep
it alive or close it; make a sub-account then fund it and give it a key, ... Every answer must
be a documented status with the declared schema, and none a 5xx.

Bounded: ``STATEFUL_EXAMPLES`` sequences of at most ``STATEFUL_STEPS`` calls
(``BOURSE_FUZZ_EXAMPLES`` raises the first for a deeper run).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
import schemathesis.specs.openapi.stateful as sm
from hypothesis import HealthCheck, settings
from hypothesis.errors import FlakyStrategyDefinition

from bourse.api.mexc.openapi_links import LINKS
from bourse.api.mexc.routes import ENDPOINTS
from bourse.sandbox.demo import FULL_SPOT_PERMISSIONS
from tests.support.mexc import CHECKS, MexcAuth, Signer
from tests.support.platforms import Env, open_env

STATEFUL_EXAMPLES = int(os.environ.get("BOURSE_FUZZ_EXAMPLES", "40"))
STATEFUL_STEPS = 6
#: calls the test must have made, in at most RUNS runs of the state machine (see below)
TARGET_CALLS = 200
#: linked operations (an id from an earlier answer) that must have answered 200
TARGET_FOLLOWED = 3
RUNS = 6
SIGNED = {(ep.method, ep.path) for ep in ENDPOINTS if ep.signed}
#: a generated BUY order is made valid, so the links from its answer have ids to follow
VALID_ORDER = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.001",
               "price": "20000"}  # fmt: skip


def _any_post_is_a_root(operation: Any, node: Any, produced_anywhere: set[str]) -> bool:
    """schemathesis starts sequences only where it expects success, and takes client ids
    (``newClientOrderId``, ``clientTranId``, ``withdrawOrderId``) for references to resources
    nobody creates, so it would never start at POST /order or a withdrawal: start at any POST
    (and any GET without path parameters, as it does)."""
    return bool(operation.method == "post" or not operation.path_parameters)


@pytest.fixture
def live(migrated_url: str, tmp_path: Any) -> Iterator[tuple[Env, Signer]]:
    for env in open_env(migrated_url, tmp_path):
        acc = env.open_account(USDT="1000000", BTC="100", ETH="1000", MX="100000")
        other = env.open_account(USDT="1000000", BTC="100")
        maker = env.signer(other)
        for side, price in (("SELL", "30000"), ("BUY", "29000")):
            maker.post("/api/v3/order", symbol="BTCUSDT", side=side, type="LIMIT",
                       quantity="1", price=price)  # fmt: skip
        trader = env.signer(acc, list(FULL_SPOT_PERMISSIONS), ip_whitelist=["127.0.0.1"])
        yield env, trader


def test_the_links_name_served_operations() -> None:
    served = {(ep.method, ep.path) for ep in ENDPOINTS}
    for source, links in LINKS.items():
        assert source in served, source
        for method, path, params in links:
            assert (method, path) in served, (method, path)
            declared = {p.name for ep in ENDPOINTS if (ep.method, ep.path) == (method, path)
                        for p in ep.params}  # fmt: skip
            assert set(params) <= declared, (method, path, set(params) - declared)


def test_stateful_sequences_follow_the_links_without_a_5xx(
    live: tuple[Env, Signer], monkeypatch: pytest.MonkeyPatch
) -> None:
    env, trader = live
    monkeypatch.setattr(sm, "is_likely_root_transition", _any_post_is_a_root)
    schema = schemathesis.openapi.from_url(env.url + "/openapi.json")
    auth = MexcAuth(trader)
    seen: dict[str, int] = {}
    failures: list[str] = []

    class Machine(schema.as_state_machine()):  # type: ignore[misc]
        def call(self, case: Any, **kwargs: Any) -> Any:
            query = case.query if isinstance(case.query, dict) else {}
            # decided by the generated case itself, so hypothesis replays the same calls
            if (case.method.upper(), case.path) == ("POST", "/api/v3/order") and (
                query.get("side") == "BUY"
            ):
                query.pop("quoteOrderQty", None)
                query.update(VALID_ORDER)
            signed = (case.method.upper(), case.path) in SIGNED
            try:
                return case.call(base_url=env.url, auth=auth if signed else None, **kwargs)
            except Exception as exc:  # recorded too: hypothesis may end the run as flaky
                failures.append(f"{case.method.upper()} {case.path}: {exc!r}"[:600])
                raise

        def validate_response(self, response: Any, case: Any, *args: Any, **kwargs: Any) -> None:
            key = f"{case.method.upper()} {case.path} {response.status_code}"
            seen[key] = seen.get(key, 0) + 1
            # recorded, not raised: the server's state moves on, so hypothesis could not
            # replay (shrink) a failing sequence anyway
            try:
                case.validate_response(response, checks=CHECKS)
            except Exception as exc:  # noqa: BLE001 - every check failure is reported below
                failures.append(f"{key}: {str(exc)[:600]}")

    t0 = time.monotonic()
    # Which rules are enabled depends on the server's answers (a link is followed only once an
    # earlier call produced its id), and the server keeps its state from one sequence to the
    # next, so a prefix of choices hypothesis recorded can later draw differently (an order id
    # cancelled meanwhile, a replayed signature within the same millisecond) and hypothesis
    # then ends the run as flaky. That is hypothesis's bookkeeping, not the server: every call
    # made up to then is checked below, and runs are repeated (on the state the last one left,
    # so they take other paths) until TARGET_CALLS calls were made and TARGET_FOLLOWED linked
    # operations answered 200, at most RUNS times. The derandomized sequences still depend on
    # what ran before in the process (a CI run whose worker ran other tests first followed 2
    # links in its 4 runs, where a run alone follows them in one).
    targets = {f"{m} {p} 200" for links in LINKS.values() for m, p, _ in links}
    for _ in range(RUNS):
        with contextlib.suppress(FlakyStrategyDefinition):
            Machine.run(
                settings=settings(
                    max_examples=STATEFUL_EXAMPLES,
                    stateful_step_count=STATEFUL_STEPS,
                    deadline=None,
                    database=None,
                    derandomize=True,  # the same sequences every run: a CI failure reproduces
                    suppress_health_check=list(HealthCheck),
                )
            )
        if sum(seen.values()) >= TARGET_CALLS and len(targets & set(seen)) >= TARGET_FOLLOWED:
            break
    calls = sum(seen.values())
    assert calls >= TARGET_CALLS, (calls, sorted(seen))
    assert not failures, "\n".join(sorted(set(failures))[:20])
    followed = targets & set(seen)
    # the links were followed: operations that take an id from an earlier answer succeeded
    # (which ones depends on the sequences hypothesis picks, so only their number is checked)
    assert len(followed) >= TARGET_FOLLOWED, sorted(seen)
    print(f"{calls} calls in {time.monotonic() - t0:.1f} s; "
          f"{len(followed)} linked operations answered 200")  # fmt: skip
