"""Fixtures of the broker tests: a real engine over a migrated SQLite/PostgreSQL database."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bourse.domain.fees import FeeSchedule
from bourse.engine import Engine
from bourse.engine import commands as c
from bourse.sandbox.listings import ASSETS, SYMBOLS
from bourse.services.brokers import Brokers
from bourse.store.sql import SqlStore
from tests.support.brokers import MAKER_PPM, TAKER_PPM, Clock, World


@pytest.fixture
def world(db_engine: Any) -> Iterator[World]:
    clock = Clock()
    store = SqlStore(db_engine)
    engine = Engine(store, fees=FeeSchedule(maker=MAKER_PPM, taker=TAKER_PPM), clock=clock)
    engine.apply_batch_now([c.AddAsset(a) for a in ASSETS] + [c.AddSymbol(s) for s in SYMBOLS])
    w = World(db_engine, engine, Brokers.create(db_engine, engine, clock=clock), clock, [])
    w.users = [w.open() for _ in range(4)]
    try:
        yield w
    finally:
        w.brokers.close()
        store.close()
