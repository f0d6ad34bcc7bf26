"""OAuth scopes, the MEXC permissions they grant, and how each is described to the user.

=========  ==========================================  ==========================================
scope      MEXC permissions                            who may ask for it
=========  ==========================================  ==========================================
read       SPOT_ACCOUNT_READ, SPOT_DEAL_READ           every client (the default scope)
trade      SPOT_DEAL_WRITE                             every client registered with it
transfer   SPOT_TRANSFER_READ, SPOT_TRANSFER_WRITE     only clients approved for transfers
=========  ==========================================  ==========================================

There is no withdraw scope: no OAuth token can ever move funds off the platform
(RFC 9700 §2.3, least privilege). Unknown scopes are refused, never ignored.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Scope:
    name: str
    permissions: tuple[str, ...]
    #: what the consent page says, in plain words
    description: str


READ = Scope(
    "read",
    ("SPOT_ACCOUNT_READ", "SPOT_DEAL_READ"),
    "See your balances, your orders and your trade history.",
)
TRADE = Scope(
    "trade",
    ("SPOT_DEAL_WRITE",),
    "Place and cancel spot orders for you. It cannot withdraw your funds.",
)
TRANSFER = Scope(
    "transfer",
    ("SPOT_TRANSFER_READ", "SPOT_TRANSFER_WRITE"),
    "Move funds between your own accounts on this exchange. It cannot withdraw them.",
)

SCOPES: dict[str, Scope] = {s.name: s for s in (READ, TRADE, TRANSFER)}

#: the scope a client gets when its authorization request names none
DEFAULT_SCOPE = "read"

#: words that will never be a scope, whatever a client is registered with
FORBIDDEN = frozenset({"withdraw", "withdrawal", "SPOT_WITHDRAW_WRITE", "SPOT_WITHDRAW_READ"})

#: the order scopes are written in (stable ``scope`` strings in responses)
_ORDER = {name: i for i, name in enumerate(SCOPES)}


class ScopeError(ValueError):
    """A scope is unknown, forbidden, or not allowed for this client."""


def parse(scope: str | None) -> list[str]:
    """Split a space-separated scope string (RFC 6749 §3.3), dropping duplicates, in order."""
    out: list[str] = []
    for word in (scope or "").split():
        if word not in out:
            out.append(word)
    return sorted(out, key=lambda w: _ORDER.get(w, len(_ORDER)))


def join(scopes: list[str] | tuple[str, ...] | set[str] | frozenset[str]) -> str:
    return " ".join(sorted(set(scopes), key=lambda w: _ORDER.get(w, len(_ORDER))))


def client_may_request(registered: str, allow_transfer: bool) -> set[str]:
    """The scopes a client registered with ``registered`` may ever ask for."""
    allowed = {s for s in parse(registered) if s in SCOPES}
    if not allow_transfer:
        allowed.discard("transfer")
    return allowed


def validate(requested: str | None, allowed: set[str]) -> str:
    """The scope string to grant for ``requested``, or ``ScopeError``.

    Empty means ``DEFAULT_SCOPE`` (when the client may have it).
    """
    words = parse(requested) or [DEFAULT_SCOPE]
    for word in words:
        if word in FORBIDDEN:
            raise ScopeError(f"the scope {word!r} is never granted")
        if word not in SCOPES:
            raise ScopeError(f"unknown scope {word!r}")
        if word not in allowed:
            raise ScopeError(f"this client may not ask for the scope {word!r}")
    return join(words)


def permissions(scope: str | list[str] | tuple[str, ...]) -> frozenset[str]:
    """The MEXC permission names a granted scope string (or list) carries."""
    words = parse(scope) if isinstance(scope, str) else list(scope)
    perms: set[str] = set()
    for word in words:
        s = SCOPES.get(word)
        if s is not None:
            perms.update(s.permissions)
    return frozenset(perms)


def describe(scope: str) -> list[Scope]:
    """The ``Scope`` records of a scope string, for the consent and apps pages."""
    return [SCOPES[w] for w in parse(scope) if w in SCOPES]
