"""What one API key may do to another key of its account, or of its sub-accounts (a master's
key managing their keys): the no-wider-than rule (pure).

A key's *scope* is what a request signed with it can reach: its permissions, its pairs (none:
every pair), its IP whitelist (none: any address), its lifetime (``expires``; ``None``: never)
and the broker it is bound to (a bound key is in the broker's hands). A key that signs a
key-management request acts only on keys **no wider than itself**:

* **permissions**: a subset of its own;
* **pairs**: if it has pairs, the other key has pairs too, each one of its own;
* **IPs**: if it has a whitelist, the other key has one too, and each entry (an address is a
  /32 or /128 network) lies inside one of its entries (``subnet_of``, same IP version). An
  entry covered only by the union of several entries is refused: name the pieces;
* **binding**: a key that is or was bound to a broker is in the broker's hands (unbinding
  does not take the secret back), so it acts for that broker: it deletes, binds, unbinds,
  renews and rotates only keys bound now to the same broker, and creates none (a new key is
  unbound: the broker would keep it after the user unbinds the key they gave);
* **lifetime**, where access is handed over (create, renew, rotate): the other key expires no
  later than the acting key, before the change and after it (a key that never expires is the
  widest). Renewing a key (the API refuses a key renewing itself) ends it by the signer's own
  expiry (``cap``), so no API call lengthens the latest expiry among an account's keys: two
  keys renewing each other take turns under a ceiling that does not move, and only the owner
  (web console, CLI) raises it. Deleting and binding hand nothing over, so they ignore it.

``check_creates``, ``check_renews`` and ``check_manages`` (delete, bind, unbind) say it. The
web console and the operator CLI act as the owner and are not bound by it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from bourse.domain.brokers import KeyOutOfScope


@dataclass(frozen=True, slots=True)
class KeyScope:
    """What a key reaches (see the module docstring); empty tuples mean "no limit"."""

    permissions: frozenset[str]
    ips: tuple[str, ...] = ()
    symbols: tuple[str, ...] = ()
    expires: int | None = None
    #: the key's broker: for the acting key the one it was ever bound to, for the key acted
    #: on the one it is bound to now (None: none)
    broker: int | None = None


def _network(entry: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(entry.strip(), strict=False)
    except ValueError:
        return None


def ips_within(inner: Iterable[str], outer: Iterable[str]) -> bool:
    """Whether the whitelist ``inner`` admits no address that ``outer`` refuses (empty: any)."""
    outer = tuple(outer)
    if not outer:
        return True
    outs = [n for n in (_network(e) for e in outer) if n is not None]
    ins = tuple(inner)
    return bool(ins) and all(_inside(_network(e), outs) for e in ins)


def _inside(
    net: ipaddress.IPv4Network | ipaddress.IPv6Network | None,
    outs: list[ipaddress.IPv4Network | ipaddress.IPv6Network],
) -> bool:
    if isinstance(net, ipaddress.IPv4Network):
        return any(isinstance(o, ipaddress.IPv4Network) and net.subnet_of(o) for o in outs)
    if isinstance(net, ipaddress.IPv6Network):
        return any(isinstance(o, ipaddress.IPv6Network) and net.subnet_of(o) for o in outs)
    return False


def symbols_within(inner: Iterable[str], outer: Iterable[str]) -> bool:
    """Whether the pairs ``inner`` are among ``outer`` (empty: every pair)."""
    outs = set(outer)
    if not outs:
        return True
    ins = set(inner)
    return bool(ins) and ins <= outs


def expires_by(expires: int | None, limit: int | None) -> bool:
    """Whether a key expiring at ``expires`` is gone by ``limit`` (``None``: never)."""
    return limit is None or (expires is not None and expires <= limit)


def cap(expires: int | None, limit: int | None) -> int | None:
    """``expires`` shortened to ``limit`` (``None`` is never, the latest of all)."""
    if limit is None:
        return expires
    return limit if expires is None else min(expires, limit)


def check_within(actor: KeyScope, other: KeyScope) -> None:
    """Raise ``KeyOutOfScope`` unless ``other``'s permissions, pairs and IPs are within
    ``actor``'s."""
    if not other.permissions <= actor.permissions:
        raise KeyOutOfScope("a key cannot act on a key with permissions it does not have")
    if not symbols_within(other.symbols, actor.symbols):
        raise KeyOutOfScope("a key limited to pairs cannot act on a key beyond its pairs")
    if not ips_within(other.ips, actor.ips):
        raise KeyOutOfScope("a key limited to IPs cannot act on a key beyond its IP whitelist")


def check_manages(actor: KeyScope, target: KeyScope) -> None:
    """May ``actor`` delete, bind or unbind ``target``? Raises ``KeyOutOfScope`` if not."""
    if actor.broker is not None and target.broker != actor.broker:
        raise KeyOutOfScope("a key bound to a broker can manage only keys bound to the same broker")
    check_within(actor, target)


def check_renews(actor: KeyScope, target: KeyScope) -> None:
    """May ``actor`` renew ``target`` or rotate its secret? ``check_manages``, and ``target``
    expires no later than ``actor`` (the new expiry is then ``cap``-ped by the caller)."""
    check_manages(actor, target)
    if not expires_by(target.expires, actor.expires):
        raise KeyOutOfScope("a key cannot renew a key that expires later than itself")


def check_creates(actor: KeyScope, new: KeyScope) -> None:
    """May ``actor`` create a key of scope ``new``? Raises ``KeyOutOfScope`` if not."""
    if actor.broker is not None:
        raise KeyOutOfScope("a key bound to a broker cannot create keys")
    check_within(actor, new)
    if not expires_by(new.expires, actor.expires):
        raise KeyOutOfScope("a key cannot create a key that expires later than itself")
