"""A key deleted (or a binding changed) by one process stops being served from another
process's cache at once, not after its TTL: the drop crosses NATS (``bus.cache_events``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from functools import partial

import pytest
from sqlalchemy import Engine

from bourse.bus.cache_events import CacheEvents
from bourse.domain.accounts import AccountKind
from bourse.domain.brokers import AttributionStatus
from bourse.engine import Engine as ExchangeEngine
from bourse.engine import commands as c
from bourse.engine.clock import now_ms
from bourse.services.apikeys import ApiKeys, generate_server_key
from bourse.services.brokers.attribution import Attributor
from bourse.services.brokers.bindings import Bindings
from bourse.services.brokers.registry import Registry
from bourse.services.signed_reads import SignedReads
from bourse.store.sql import SqlStore
from tests.support.nats import NATS_URL, unique_name


@pytest.fixture
def pair(db_engine: Engine) -> Iterator[tuple[ApiKeys, ApiKeys, list[CacheEvents]]]:
    name, server_key = unique_name(), generate_server_key()
    sides, events = [], []
    for _ in range(2):
        keys = ApiKeys(db_engine, server_key.encode())
        ev = CacheEvents(NATS_URL, name).on("apikey", lambda k, x=keys: x.forget(k, announce=False))
        keys.on_forget = lambda k, ev=ev: ev.publish("apikey", k)
        sides.append(keys)
        events.append(ev.start())
    try:
        yield sides[0], sides[1], events
    finally:
        for ev in events:
            ev.close()


def test_a_deleted_key_stops_working_in_the_other_process_at_once(
    pair: tuple[ApiKeys, ApiKeys, list[CacheEvents]],
) -> None:
    here, there, events = pair
    keys = [here.create_key(100 + i, ["SPOT_DEAL_READ"])[0] for i in range(20)]
    for key in keys:  # cached in the other process
        found = there.lookup(key)
        assert found is not None and not found.revoked
    started = time.monotonic()
    for key in keys:
        assert here.delete_key(key)
    # well within the 2 s the cache keeps an entry: every drop arrived
    while events[1].received < len(keys):
        assert time.monotonic() - started < 1.0, events[1].received
        time.sleep(0.005)
    assert all(there.lookup(key).revoked for key in keys)  # type: ignore[union-attr]
    assert events[0].received == 0  # a process ignores its own drops


def test_a_suspended_broker_stops_earning_in_the_other_process_at_once(
    db_engine: Engine,
) -> None:
    """The attribution path reads brokers from a cache (every order asks): a suspension in one
    process reaches the other's cache over NATS, well within the cache's TTL."""
    name = unique_name()
    sides, events = [], []
    for _ in range(2):
        registry = Registry(db_engine)
        ev = CacheEvents(NATS_URL, name).on("broker", registry.forget)
        registry.on_forget = partial(ev.publish, "broker")
        sides.append(Attributor(db_engine, registry, Bindings(db_engine, registry)))
        events.append(ev.start())
    try:
        here, there = sides
        store = SqlStore(db_engine)
        try:
            (account,) = ExchangeEngine(store).apply_batch_now([c.OpenAccount(AccountKind.USER)])
        finally:
            store.close()
        broker = here.registry.apply(account.id, "API", "cache events")
        here.registry.approve(broker.id)
        source = str(broker.id)
        while events[1].received < 2:  # the application and the approval
            time.sleep(0.005)
        assert there.resolve(None, source).status is AttributionStatus.SOURCE  # cached there
        started = time.monotonic()
        here.registry.suspend(broker.id)
        while there.resolve(None, source).status is AttributionStatus.SOURCE:
            assert time.monotonic() - started < 0.5, "the other process still attributes"
            time.sleep(0.005)
        assert there.resolve(None, source).status is AttributionStatus.SOURCE_NOT_APPROVED
        assert events[0].received == 0
    finally:
        for ev in events:
            ev.close()


def test_a_read_signature_seen_by_one_gateway_is_refused_by_the_others() -> None:
    """The signature of a read over the time window alone, remembered by the gateway that
    served the read, reaches the other gateways' memory over NATS (``bourse.api.mexc.replay``
    refuses a write carrying it), each key once, from two processes adding at once."""
    name = unique_name()
    sides, events = [], []
    for _ in range(2):
        reads = SignedReads()
        ev = CacheEvents(NATS_URL, name).on("read", reads.add_shared)
        reads.on_add = partial(ev.publish, "read")
        sides.append(reads)
        events.append(ev.start())
    try:
        now = now_ms()
        keys = [[f"{side}{i:063x}" for i in range(50)] for side in range(2)]
        barrier = threading.Barrier(2, timeout=30)

        def add(side: int) -> None:
            barrier.wait()
            for key in keys[side]:
                sides[side].add(key, now + 60_000, now)

        threads = [threading.Thread(target=add, args=(side,)) for side in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        started = time.monotonic()
        while events[0].received < 50 or events[1].received < 50:
            assert time.monotonic() - started < 2.0, (events[0].received, events[1].received)
            time.sleep(0.005)
        for reads in sides:
            assert all(reads.seen(k, now) for k in keys[0] + keys[1])
            assert len(reads) == 100
    finally:
        for ev in events:
            ev.close()
