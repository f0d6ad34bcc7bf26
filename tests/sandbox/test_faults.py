"""The fault table (bounded, matched by pattern, cleared) and the market maker's path rule."""

from __future__ import annotations

import threading

import pytest

from bourse.sandbox.faults import MAX_FAULTS, Fault, MemoryFaults
from bourse.sandbox.mid_price import along


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_faults_match_their_pattern_and_expire() -> None:
    clock = Clock()
    table = MemoryFaults(clock)
    table.add(Fault(table.next_id(), "/api/v3/ticker/*", "throttle", clock.now + 10))
    table.add(Fault(table.next_id(), "/api/v3/order", "latency", clock.now + 20, latency_ms=5))
    assert [f.kind for f in table.active("/api/v3/ticker/24hr")] == ["throttle"]
    assert [f.kind for f in table.active("/api/v3/order")] == ["latency"]
    assert table.active("/api/v3/orders") == [] and table.active("/ws") == []
    clock.now += 10  # the throttle's time is up
    assert table.active("/api/v3/ticker/price") == []
    assert [f.id for f in table.list()] == [2]
    assert table.list()[0].as_json(clock.now)["expires_in_s"] == 10


def test_clear_by_id_by_pattern_or_all() -> None:
    clock = Clock()
    table = MemoryFaults(clock)
    ids = [
        table.add(Fault(table.next_id(), p, "maintenance", clock.now + 60)).id
        for p in ("/a", "/b", "/b", "/c")
    ]
    assert table.clear(fault_id=ids[0]) == 1
    assert table.clear(fault_id=ids[0]) == 0
    assert table.clear(pattern="/b") == 2
    assert [f.pattern for f in table.list()] == ["/c"]
    assert table.clear() == 1 and table.list() == []


def test_the_table_is_bounded_under_concurrency() -> None:
    clock = Clock()
    table = MemoryFaults(clock)
    refused: list[str] = []
    start = threading.Barrier(8)

    def add_many() -> None:
        start.wait(timeout=10)
        for _ in range(30):
            try:
                table.add(Fault(table.next_id(), "/x", "latency", clock.now + 60, latency_ms=1))
            except ValueError as exc:
                refused.append(str(exc))

    threads = [threading.Thread(target=add_many) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(table.list()) == MAX_FAULTS and len(refused) == 8 * 30 - MAX_FAULTS
    assert len({f.id for f in table.list()}) == MAX_FAULTS  # ids never repeat


@pytest.mark.parametrize(
    ("ms", "price"),
    [(0, 100), (500, 150), (1000, 200), (1500, 200), (2000, 200), (3000, 100), (9999, 100)],
)
def test_a_path_is_linear_between_waypoints_and_flat_after(ms: int, price: int) -> None:
    path = [(0, 100), (1000, 200), (2000, 200), (3000, 100)]
    assert along(path, ms) == price
