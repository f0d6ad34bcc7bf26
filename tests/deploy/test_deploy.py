"""deploy/: the Grafana dashboard is valid JSON and the Prometheus files valid YAML, and every
``bourse_*`` metric they name is one that ``/metrics`` serves: the families a real scrape shows
(with NATS configured, after a ledger audit) are exactly those ``metrics.FAMILIES`` declares, and
the dashboard and alerts name nothing else."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from bourse.api.observability import metrics
from bourse.app import create_app
from bourse.bootstrap import open_platform
from bourse.config import AuthLimits, Config, RateLimits
from bourse.services.apikeys import generate_server_key
from tests.support.nats import unique_name
from tests.support.server import ServerThread

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
NAME = re.compile(r"\bbourse_[a-z_]+\b")
TOKEN = "deploy-test-token-0123456789"


def _exprs(node: Any) -> Iterator[str]:
    """Every ``expr`` string anywhere in a parsed JSON or YAML document."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k in ("expr", "query") and isinstance(v, str):
                yield v
            else:
                yield from _exprs(v)
    elif isinstance(node, list):
        for v in node:
            yield from _exprs(v)


def test_deploy_files_parse_and_name_only_served_metrics() -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "bourse.json").read_text())
    alerts = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    assert config["scrape_configs"][0]["metrics_path"] == "/metrics"
    assert config["rule_files"] == ["alerts.yml"]
    rules = [r for g in alerts["groups"] for r in g["rules"]]
    assert len(rules) >= 10 and all({"alert", "expr", "labels"} <= set(r) for r in rules)
    assert len({r["alert"] for r in rules}) == len(rules)
    assert dashboard["panels"] and all(p["targets"] for p in dashboard["panels"])
    served = metrics.sample_names()
    named: set[str] = set()
    for expr in [*_exprs(dashboard), *_exprs(alerts)]:
        named |= set(NAME.findall(expr))
    assert named, "no bourse_ metric named"
    assert named <= served, named - served
    # every family appears on the dashboard
    families = {n for n in named for f in metrics.FAMILIES if n.startswith(f)}
    shown = {f for f in metrics.FAMILIES if any(n.startswith(f) for n in families)}
    assert shown >= set(metrics.FAMILIES) - {"bourse_bus_published", "bourse_follower_runs"}


@pytest.fixture
def scraped(tmp_path: Path) -> Iterator[dict[str, str]]:
    """family -> type of a real scrape: SQLite, NATS configured, one ledger audit done."""
    platform = open_platform(
        Config(
            database_url=f"sqlite:///{tmp_path}/m.db",
            secret_key=generate_server_key(),
            key_dir=str(tmp_path),
            rate_limits=RateLimits.off(),
            auth_limits=AuthLimits.off(),
            bus_url="nats://127.0.0.1:4222",
            bus_name=unique_name(),
        )
    )
    try:
        with ServerThread(create_app(platform, operator_token=TOKEN)) as srv:
            headers = {"Authorization": f"Bearer {TOKEN}"}
            deadline = time.monotonic() + 30
            while True:
                text = httpx.get(f"{srv.url}/metrics", headers=headers, timeout=15).text
                if "bourse_ledger_check_ok" in text or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            ready = httpx.get(f"{srv.url}/readyz", timeout=15).json()
            assert ready["checks"]["bus"] == {"ok": True, "detail": "connected"}, ready
            yield {f.name: f.type for f in text_string_to_metric_families(text)}
    finally:
        platform.close()


def test_a_scrape_serves_the_declared_families(scraped: dict[str, str]) -> None:
    ours = {name: kind for name, kind in scraped.items() if name.startswith("bourse_")}
    # a follower's lag and the time since the writer was heard appear only in a process that
    # follows another one's engine (tests/scale/test_gateway_readiness.py,
    # tests/scale/test_follower_readiness.py)
    elsewhere = {"bourse_bus_follower_lag_batches", "bourse_engine_heard_seconds"}
    expected = {k: v for k, v in metrics.FAMILIES.items() if k not in elsewhere}
    assert ours == expected
