"""The no-wider-than rule of API keys (``bourse.domain.keyscope``): pairs, IP whitelists (CIDR
containment, checked against the address test the request path uses), lifetime and binding."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bourse.domain.brokers import KeyOutOfScope
from bourse.domain.keyscope import (
    KeyScope,
    cap,
    check_creates,
    check_manages,
    check_renews,
    ips_within,
    symbols_within,
)
from bourse.services.apikeys import ApiKey

R, W = "SPOT_DEAL_READ", "SPOT_DEAL_WRITE"


def _admits(whitelist: tuple[str, ...], ip: str) -> bool:
    """What the request path decides for ``ip`` (``ApiKey.ip_allowed``)."""
    key = ApiKey("k", 1, "", "", frozenset(), whitelist, (), 0, None, False)
    return key.ip_allowed(ip)


def test_ip_containment() -> None:
    assert ips_within(["10.0.0.1"], [])  # no whitelist: any address
    assert not ips_within([], ["10.0.0.1"])  # any address is wider than a whitelist
    assert ips_within(["10.0.0.1"], ["10.0.0.0/24"])
    assert ips_within(["10.0.0.128/25", "10.0.0.7/32"], ["10.0.0.0/24"])
    assert ips_within(["10.0.0.5/24"], ["10.0.0.0/24"])  # host bits ignored, as ip_allowed does
    assert not ips_within(["10.0.0.0/23"], ["10.0.0.0/24"])
    assert not ips_within(["10.0.1.1"], ["10.0.0.0/24"])
    # one entry must hold it: the union of two halves does not
    assert not ips_within(["10.0.0.0/24"], ["10.0.0.0/25", "10.0.0.128/25"])
    assert not ips_within(["::1"], ["127.0.0.1"])  # versions never contain each other
    assert not ips_within(["::ffff:127.0.0.1"], ["127.0.0.0/8"])
    assert ips_within(["2001:db8::1"], ["2001:db8::/32"])
    assert not ips_within(["not-an-ip"], ["10.0.0.0/8"])


def test_pairs_containment() -> None:
    assert symbols_within([], []) and symbols_within(["BTCUSDT"], [])
    assert not symbols_within([], ["BTCUSDT"])  # every pair is wider than one
    assert symbols_within(["BTCUSDT"], ["BTCUSDT", "ETHUSDT"])
    assert not symbols_within(["BTCUSDT", "SOLUSDT"], ["BTCUSDT", "ETHUSDT"])


_v4 = st.builds(
    lambda a, n: str(ipaddress.ip_network(f"{ipaddress.IPv4Address(a)}/{n}", strict=False)),
    st.integers(0, 2**32 - 1),
    st.integers(8, 32),
)


@given(
    inner=st.lists(_v4, min_size=1, max_size=3),
    outer=st.lists(_v4, min_size=1, max_size=3),
    probes=st.lists(st.integers(0, 2**32 - 1), max_size=20),
)
def test_contained_whitelists_admit_no_address_the_outer_refuses(
    inner: list[str], outer: list[str], probes: list[int]
) -> None:
    if not ips_within(inner, outer):
        return
    nets = [ipaddress.ip_network(e) for e in inner]
    # the edges of each inner network, and random addresses inside them
    addrs = [str(n[0]) for n in nets] + [str(n[-1]) for n in nets]
    addrs += [str(n[p % n.num_addresses]) for n in nets for p in probes]
    assert all(_admits(tuple(outer), a) for a in addrs)


def test_cap_and_lifetime() -> None:
    assert cap(None, None) is None and cap(5, None) == 5
    assert cap(None, 7) == 7 and cap(9, 7) == 7 and cap(5, 7) == 5
    actor = KeyScope(frozenset({R, W}), expires=100)
    check_renews(actor, KeyScope(frozenset({R}), expires=100))
    with pytest.raises(KeyOutOfScope):
        check_renews(actor, KeyScope(frozenset({R}), expires=101))
    with pytest.raises(KeyOutOfScope):
        check_renews(actor, KeyScope(frozenset({R}), expires=None))  # never is the latest
    check_manages(actor, KeyScope(frozenset({R}), expires=None))  # deleting hands nothing over
    with pytest.raises(KeyOutOfScope):
        check_creates(actor, KeyScope(frozenset({R}), expires=None))


def test_a_bound_key_acts_for_its_broker_only() -> None:
    held = KeyScope(frozenset({R, W}), broker=7)
    check_manages(held, KeyScope(frozenset({W}), broker=7))
    for other in (None, 8):
        with pytest.raises(KeyOutOfScope, match="same broker"):
            check_manages(held, KeyScope(frozenset({W}), broker=other))
    with pytest.raises(KeyOutOfScope, match="cannot create"):
        check_creates(held, KeyScope(frozenset({W})))
    # the owner's unbound key manages bound keys (within its scope)
    check_renews(KeyScope(frozenset({R, W})), KeyScope(frozenset({W}), broker=7))
