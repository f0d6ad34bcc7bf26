"""Checks the console's page tests share: server-side render time, and forms refused without
the session's CSRF token."""

from __future__ import annotations

import re
import statistics
import threading
from typing import Any

import httpx

#: the console's budget for building one page on the demo, in milliseconds
RENDER_BUDGET_MS = 100.0
#: no token, an empty one, and a well-formed one that is not the session's
FORGED_TOKENS = (None, "", "0" * 43)


def median_render_ms(http: httpx.Client, paths: list[str], runs: int = 7) -> dict[str, float]:
    """Each page's median ``Server-Timing: render;dur=`` over ``runs`` GETs (each must be 200)."""
    report = {}
    for path in paths:
        durs = []
        for _ in range(runs):
            r = http.get(path)
            assert r.status_code == 200, path
            m = re.fullmatch(r"render;dur=([0-9.]+)", r.headers["server-timing"])
            assert m, r.headers["server-timing"]
            durs.append(float(m.group(1)))
        report[path] = statistics.median(durs)
    print("median server render ms:", report)
    return report


def assert_within_budget(http: httpx.Client, paths: list[str]) -> None:
    report = median_render_ms(http, paths)
    assert not {p: d for p, d in report.items() if d >= RENDER_BUDGET_MS}, report


def assert_refused_without_csrf(
    http: httpx.Client, forged: list[tuple[str, dict[str, Any]]]
) -> None:
    """Every ``(path, fields)`` POSTed without the session's token is a 403 that says nothing
    changed (the caller then checks that nothing did)."""
    for path, data in forged:
        for token in FORGED_TOKENS:
            body = dict(data) if token is None else {**data, "csrf_token": token}
            r = http.post(path, data=body)
            assert r.status_code == 403 and "Nothing was changed" in r.text, (path, token)


def post_at_once(http: httpx.Client, path: str, form: dict[str, str], n: int = 4) -> list[int]:
    """POST ``form`` to ``path`` from ``n`` connections of ``http``'s session released at the
    same moment (a barrier); the statuses."""
    clients = [httpx.Client(base_url=http.base_url, cookies=http.cookies, timeout=30)
               for _ in range(n)]  # fmt: skip
    barrier = threading.Barrier(n)
    results: list[int] = []

    def send(c: httpx.Client) -> None:
        barrier.wait(timeout=10)
        results.append(c.post(path, data=form).status_code)

    threads = [threading.Thread(target=send, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    for c in clients:
        c.close()
    assert len(results) == n, "a request did not finish"
    return results
