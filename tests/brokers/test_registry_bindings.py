"""Registry (apply / review / rates) and key bindings, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading

import pytest
from cryptography.fernet import Fernet

from bourse.domain.accounts import FEE_REVENUE
from bourse.domain.brokers import (
    AttributionStatus,
    BrokerExists,
    BrokerStateError,
    BrokerStatus,
    KeyAlreadyBound,
    KeyNotBound,
    NotKeyOwner,
)
from bourse.domain.errors import AccountNotFound, InvalidParameter
from bourse.services.apikeys import ApiKeys
from tests.support.brokers import DAY, World


def approved(world: World, name: str = "b", **kw) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    acc = world.open()
    reg = world.brokers.registry
    b = reg.apply(acc, "API", name, **kw)
    reg.approve(b.id)
    return b.id, acc


def test_apply_and_review(world: World) -> None:
    reg = world.brokers.registry
    acc = world.open()
    b = reg.apply(acc, "api", "Acme bots", code="acme")
    assert (b.status, b.type.value, b.rebate_account_id) == (BrokerStatus.PENDING, "API", acc)
    with pytest.raises(BrokerExists):
        reg.apply(acc, "API", "again")
    with pytest.raises(BrokerExists):
        reg.apply(world.open(), "API", "other", code="acme")
    with pytest.raises(AccountNotFound):
        reg.apply(999_999, "API", "ghost")
    with pytest.raises(InvalidParameter):
        reg.apply(FEE_REVENUE, "API", "system")
    with pytest.raises(InvalidParameter):
        reg.apply(world.open(), "OAUTH", "no callback")
    with pytest.raises(InvalidParameter):
        reg.apply(world.open(), "API", "x", code="123")  # a code cannot look like an id
    assert reg.by_source("acme") is not None and reg.by_source(str(b.id)).id == b.id
    assert reg.approve(b.id).status is BrokerStatus.APPROVED
    assert reg.rate_at(b.id) == reg.default_rate_ppm
    with pytest.raises(BrokerStateError):
        reg.reject(b.id)
    assert reg.suspend(b.id, "abuse").reason == "abuse"
    assert reg.rate_at(b.id) == 0
    assert reg.approve(b.id).status is BrokerStatus.APPROVED
    assert reg.rate_at(b.id) == reg.default_rate_ppm  # reinstated at the previous rate
    other = reg.apply(world.open(), "INDEPENDENT", "Indie", rebate_account_id=world.users[0])
    assert other.rebate_account_id == world.users[0]
    assert reg.reject(other.id, "no").status is BrokerStatus.REJECTED
    with pytest.raises(BrokerStateError):
        reg.approve(other.id)
    assert [x.id for x in reg.list(BrokerStatus.APPROVED)] == [b.id]


def test_rate_history(world: World) -> None:
    reg = world.brokers.registry
    bid, _ = approved(world)
    t0 = world.clock.now
    reg.set_rate(bid, 400_000)
    reg.set_rate(bid, 500_000, effective_from=t0 + DAY)
    with pytest.raises(InvalidParameter):
        reg.set_rate(bid, 100_000, effective_from=t0 - 1)  # never back-dated
    with pytest.raises(InvalidParameter):
        reg.set_rate(bid, 1_000_001)
    assert reg.rate_at(bid, t0) == 400_000
    assert reg.rate_at(bid, t0 + DAY - 1) == 400_000
    assert reg.rate_at(bid, t0 + DAY) == 500_000
    # suspension zeroes the rate and cancels the scheduled change; reinstatement restores
    world.clock.advance(1000)
    reg.suspend(bid)
    assert reg.rate_at(bid, t0 + 2 * DAY) == 0
    with pytest.raises(BrokerStateError):
        reg.set_rate(bid, 1)
    world.clock.advance(1000)
    reg.approve(bid)
    assert reg.rate_at(bid) == 400_000
    assert reg.rate_at(bid, t0 + 2 * DAY) == 400_000
    assert [h.rate_ppm for h in reg.rate_history(bid)][0] == reg.default_rate_ppm


@pytest.fixture
def keys(world: World) -> ApiKeys:
    return ApiKeys(world.db, Fernet.generate_key())


def test_bind_once(world: World, keys: ApiKeys) -> None:
    bindings = world.brokers.bindings
    b1, b1_acc = approved(world, "one")
    b2, _ = approved(world, "two")
    user = world.users[0]
    key, _ = keys.create_key(user, ["SPOT_DEAL_WRITE"])
    bindings.bind(key, b1, user)
    assert bindings.bound_broker(key) == b1
    with pytest.raises(KeyAlreadyBound):  # second bind refused, same broker
        bindings.bind(key, b1, user)
    with pytest.raises(KeyAlreadyBound):  # ... and another broker
        bindings.bind(key, b2, user)
    assert bindings.bound_broker(key) == b1
    # unbind is explicit and recorded; the key can still never be bound again
    with pytest.raises(NotKeyOwner):
        bindings.unbind(key, account_id=world.users[1])
    with pytest.raises(KeyNotBound):
        bindings.unbind(key, account_id=world.open(), by="broker")
    closed = bindings.unbind(key, account_id=user)
    assert closed.unbound_at == world.clock.now and closed.unbound_by == "user"
    assert bindings.bound_broker(key) is None
    with pytest.raises(KeyNotBound):
        bindings.unbind(key, account_id=user)
    with pytest.raises(KeyAlreadyBound):
        bindings.bind(key, b2, user)
    assert bindings.list_for_broker(b1) == []
    (hist,) = bindings.list_for_broker(b1, include_unbound=True)
    assert hist["unbindBy"] == "user" and hist["apiKey"] == key
    # the broker may let a key go
    key2, _ = keys.create_key(user)
    bindings.bind(key2, b1, user)
    bindings.unbind(key2, account_id=b1_acc, by="broker")
    assert bindings.bound_broker(key2) is None


def test_bind_race_binds_exactly_once(world: World, keys: ApiKeys) -> None:
    b1, _ = approved(world, "one")
    b2, _ = approved(world, "two")
    user = world.users[0]
    key, _ = keys.create_key(user)
    results: list[object] = []
    barrier = threading.Barrier(2)

    def go(bid: int) -> None:
        barrier.wait()
        try:
            results.append(world.brokers.bindings.bind(key, bid, user).broker_id)
        except KeyAlreadyBound as exc:
            results.append(exc)

    threads = [threading.Thread(target=go, args=(b,)) for b in (b1, b2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    assert sum(isinstance(r, int) for r in results) == 1
    assert sum(isinstance(r, KeyAlreadyBound) for r in results) == 1


def test_an_unbind_stops_attribution_at_once_even_against_a_racing_lookup(
    world: World, keys: ApiKeys
) -> None:
    """Lookups in flight while a key is unbound (they read the binding before the unbind, and
    store what they read after it) cannot put the old binding back in the cache: the next
    order after the unbind, from the event loop's cache or the database, earns nobody."""
    bindings, attributor = world.brokers.bindings, world.brokers.attributor
    bid, _ = approved(world)
    user = world.users[0]
    key, _ = keys.create_key(user, ["SPOT_DEAL_WRITE"])
    bindings.bind(key, bid, user)
    assert attributor.for_key(key, None).broker_id == bid
    assert attributor.cached_for_key(key, None).broker_id == bid  # type: ignore[union-attr]
    read = threading.Barrier(5)  # four lookups have read the bound row, and the unbind runs
    unbound = threading.Event()
    real_get = bindings.get

    def slow_get(api_key: str):  # type: ignore[no-untyped-def]
        row = real_get(api_key)
        read.wait(10)
        unbound.wait(10)  # store what was read only once the unbind is done
        return row

    bindings._cache.clear()  # cold: every lookup goes to the database
    bindings.get = slow_get  # type: ignore[method-assign]
    seen: list[int | None] = []
    lookups = [
        threading.Thread(target=lambda: seen.append(bindings.bound_broker(key))) for _ in range(4)
    ]
    for th in lookups:
        th.start()
    read.wait(10)
    bindings.get = real_get  # type: ignore[method-assign]
    bindings.unbind(key, account_id=user)
    unbound.set()
    for th in lookups:
        th.join(10)
    assert seen == [bid] * 4  # they did read the binding before the unbind
    assert bindings.bound_broker(key) is None
    assert attributor.for_key(key, None).broker_id is None
    cached = attributor.cached_for_key(key, None)
    assert cached is not None and cached.broker_id is None
    # a deleted key's binding closes with it: no order attributed after, from any cache
    key2, _ = keys.create_key(user, ["SPOT_DEAL_WRITE"])
    bindings.bind(key2, bid, user)
    assert attributor.cached_for_key(key2, None) is None  # not looked up yet: the database
    assert attributor.for_key(key2, None).broker_id == bid
    assert attributor.cached_for_key(key2, None).broker_id == bid  # type: ignore[union-attr]
    assert keys.delete_key(key2, user)
    bindings.on_key_deleted(key2)
    assert keys.lookup(key2) is None or keys.lookup(key2).revoked  # type: ignore[union-attr]
    assert attributor.cached_for_key(key2, None) is None  # forgotten at once
    assert attributor.for_key(key2, None).broker_id is None


def test_bind_rules(world: World, keys: ApiKeys) -> None:
    bindings, reg = world.brokers.bindings, world.brokers.registry
    bid, b_acc = approved(world)
    user, other = world.users[0], world.users[1]
    key, _ = keys.create_key(user)
    with pytest.raises(NotKeyOwner):
        bindings.bind(key, bid, other)  # not your key
    own, _ = keys.create_key(b_acc)
    with pytest.raises(InvalidParameter):
        bindings.bind(own, bid, b_acc)  # no self-rebates
    wd, _ = keys.create_key(user, ["SPOT_DEAL_WRITE", "SPOT_WITHDRAW_WRITE"])
    with pytest.raises(InvalidParameter):
        bindings.bind(wd, bid, user)  # withdraw-capable keys cannot be bound
    pending = reg.apply(world.open(), "API", "pending")
    with pytest.raises(BrokerStateError):
        bindings.bind(key, pending.id, user)
    keys.delete_key(key, user)
    with pytest.raises(NotKeyOwner):
        bindings.bind(key, bid, user)  # revoked
    live, _ = keys.create_key(user)
    bindings.bind(live, bid, user)
    keys.delete_key(live, user)
    bindings.on_key_deleted(live)
    (row,) = bindings.list_for_broker(bid, include_unbound=True)
    assert row["unbindBy"] == "key_deleted" and row["revoked"] is True


def test_broker_sees_only_its_keys_never_secrets(world: World, keys: ApiKeys) -> None:
    b1, _ = approved(world, "one")
    b2, _ = approved(world, "two")
    k1, s1 = keys.create_key(world.users[0], symbols=["BTCUSDT"])
    k2, s2 = keys.create_key(world.users[1])
    world.brokers.bindings.bind(k1, b1, world.users[0])
    world.brokers.bindings.bind(k2, b2, world.users[1])
    l1 = world.brokers.bindings.list_for_broker(b1)
    l2 = world.brokers.bindings.list_for_broker(b2)
    assert [r["apiKey"] for r in l1] == [k1] and [r["apiKey"] for r in l2] == [k2]
    assert l1[0]["symbols"] == "BTCUSDT" and l1[0]["uid"] == str(world.users[0])
    for row in l1 + l2:
        assert s1 not in repr(row) and s2 not in repr(row)
        assert not any("secret" in k.lower() for k in row)


def test_attribution_resolution(world: World, keys: ApiKeys) -> None:
    att, reg = world.brokers.attributor, world.brokers.registry
    b1, _ = approved(world, "one", code="onebot")
    b2, _ = approved(world, "two")
    user = world.users[0]
    bound, _ = keys.create_key(user)
    free, _ = keys.create_key(user)
    world.brokers.bindings.bind(bound, b1, user)
    assert att.for_key(bound, str(b2)).broker_id == b1  # the binding wins over source
    assert att.for_key(free, str(b2)).broker_id == b2
    assert att.for_key(free, "onebot").broker_id == b1
    a = att.for_key(free, "CCXT")
    assert (a.broker_id, a.status) == (None, AttributionStatus.UNKNOWN_SOURCE)
    assert att.for_key(free, None).status is AttributionStatus.NONE
    assert att.for_key(None, str(b2)).broker_id == b2  # OAuth: no key, source header
    reg.suspend(b2)
    a = att.for_key(free, str(b2))
    assert (a.broker_id, a.status) == (None, AttributionStatus.SOURCE_NOT_APPROVED)
    reg.suspend(b1)
    a = att.for_key(bound, "CCXT")
    assert (a.broker_id, a.status) == (None, AttributionStatus.BOUND_NOT_APPROVED)
    assert att.record(42, user, a, bound) is True
    assert att.record(42, user, a, bound) is True  # idempotent per order
    assert att.record(43, user, att.for_key(free, ""), free) is False
