"""``bourse engine --health-port``: ``/healthz`` answers on the active engine and the standby,
``/readyz`` is 200 on the active one only (what systemd's and compose's probes ask)."""

from __future__ import annotations

import httpx
import pytest

from tests.faults.serve import World
from tests.scale.topology import ACTIVE, STANDBY, Topology, logs

pytestmark = pytest.mark.slow

HEALTH = r"engine: health on (http://[0-9.:]+)"


def test_the_engines_probes(topology: Topology, world: World) -> None:
    active = topology.engine(args=("--health-port", "0"))
    standby = topology.engine(wait=STANDBY, args=("--health-port", "0"))
    urls = [p.wait_for(HEALTH, 10).group(1) for p in (active, standby)]
    with httpx.Client(timeout=10) as http:
        for url in urls:
            assert http.get(f"{url}/healthz").json() == {"status": "ok"}
        ready = http.get(f"{urls[0]}/readyz")
        assert ready.status_code == 200, (ready.text, logs(active))
        assert set(ready.json()["checks"]) == {"engine", "store", "bus"}
        waiting = http.get(f"{urls[1]}/readyz")
        assert waiting.status_code == 503, waiting.text
        assert "standby" in waiting.json()["checks"]["engine"]["detail"]
        active.stop()
        standby.wait_for(ACTIVE, 60)
        assert http.get(f"{urls[1]}/readyz").status_code == 200, logs(standby)
