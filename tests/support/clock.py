"""Moving a running engine's clock (``Engine.clock``) in tests that cannot inject one."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from bourse.domain.reference_price import AVERAGING_MS
from bourse.engine import Engine


@contextmanager
def backdated(engine: Engine, ms: int = AVERAGING_MS) -> Iterator[None]:
    """Run the block with ``engine``'s clock ``ms`` behind. A test's market seeded in it traded
    that long ago, so its pairs' references have the history to count
    (``domain.reference_price.settled``), as on a market that has been trading for a while."""
    clock = engine.clock
    engine.clock = lambda: clock() - ms
    try:
        yield
    finally:
        engine.clock = clock


@contextmanager
def moved_on(engine: Engine, ms: int = AVERAGING_MS) -> Iterator[None]:
    """Run the block with ``engine``'s clock ``ms`` ahead (what ``backdated`` does, the other
    way): as if that long had passed since what the test did before it."""
    with backdated(engine, -ms):
        yield
