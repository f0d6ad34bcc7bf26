"""schemathesis over every sub-account endpoint, signed with a broker's master key (and, for
the sub-account-only endpoints, a sub-account key): no 5xx, documented statuses and content
types, bodies that conform to the declared schemas. SQLite only (the other tests cover both
backends); half the generated cases name a real sub-account so the handlers run deep."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bourse.api.mexc import broker_subaccounts
from tests.support.mexc import CHECKS, MexcAuth, Signer, ok
from tests.support.platforms import IEnv, open_ienv

EXAMPLES = 20
SUB_ONLY = {
    "/api/v3/broker/capital/deposit/subAddress",
    "/api/v3/broker/capital/deposit/subHisrec",
    "/api/v3/broker/capital/withdraw/apply",
}
NAMES = [None, "fuzz00001", "fuzz00002", "*"]
OPERATIONS = [(ep.method, ep.path) for ep in broker_subaccounts.ENDPOINTS]


@pytest.fixture(scope="module")
def fuzz_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[IEnv, Signer, Signer]]:
    tmp = tmp_path_factory.mktemp("subfuzz")
    gen = open_ienv(f"sqlite:///{tmp / 'fuzz.db'}", tmp)
    env = next(gen)
    try:
        _, _, master = env.broker("Fuzz", USDT="100000")
        _, sub = env.sub(master, "fuzz00001")
        env.sub(master, "fuzz00002")
        ok(
            master.post(
                "/api/v3/broker/sub-account/universalTransfer",
                toAccount="fuzz00001",
                fromAccountType="SPOT",
                toAccountType="SPOT",
                asset="USDT",
                amount="1000",
            )
        )
        yield env, master, sub
    finally:
        gen.close()


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_fuzz(method: str, path: str, fuzz_env: tuple[IEnv, Signer, Signer]) -> None:
    env, master, sub = fuzz_env
    schema = schemathesis.openapi.from_url(env.url + "/openapi.json")
    auth = MexcAuth(sub if path in SUB_ONLY else master)
    operation = schema[path][method.lower()]

    @settings(
        max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(case=operation.as_strategy(), name=st.sampled_from(NAMES))
    def run(case: Any, name: str | None) -> None:
        for part in (case.query, case.body):
            if name is not None and isinstance(part, dict):
                for field in ("subAccount", "fromAccount", "toAccount"):
                    if field in part:
                        part[field] = name
        r = case.call(base_url=env.url, auth=auth)
        assert r.status_code < 500, r.text
        case.validate_response(r, checks=CHECKS)

    run()
