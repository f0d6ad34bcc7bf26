"""The demo exchange: listings, funded demo accounts, a ready API key, and where to find them.

``seed_demo(platform)`` is idempotent. On every call it makes sure that:

* the default assets and symbols (``bourse.sandbox.listings``) are listed, if none are;
* every demo account in ``DEMO_ACCOUNTS`` exists (found again by its account name, e.g.
  ``demo:user``) and has received its demo deposits (each a ``CreditDeposit`` whose ``tx_ref``
  names the account and asset, so a second run credits nothing);
* accounts with ``api_key=True`` own a full-spot-permission API key labelled with the account
  name. The secret is stored encrypted like every other key; ``demo_credentials`` decrypts it
  with the server key, which is what lets ``bourse demo-credentials`` print it again later.

``remember_url(platform, url)`` records the URL the server was started on (``bourse serve``
calls it) and ``demo_credentials`` reports it; it lives in the ``settings`` table.

``DEMO_ACCOUNTS`` is a table on purpose: later roles (an API broker, an independent broker)
are new rows, and ``demo_credentials`` lists every role that has a key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bourse.domain.accounts import DUST_DESK, AccountKind
from bourse.domain.money import to_units
from bourse.engine import commands as c
from bourse.sandbox.listings import ASSETS, SYMBOLS
from bourse.services.brokers import seed_api_broker
from bourse.services.subaccounts import seed_independent_broker
from bourse.store.queries import Queries
from bourse.store.settings import get_setting, put_setting

DEFAULT_URL = "http://127.0.0.1:8080"

#: every spot permission MEXC documents (contract permissions are meaningless here)
FULL_SPOT_PERMISSIONS = (
    "SPOT_ACCOUNT_READ",
    "SPOT_ACCOUNT_WRITE",
    "SPOT_DEAL_READ",
    "SPOT_DEAL_WRITE",
    "SPOT_WITHDRAW_READ",
    "SPOT_WITHDRAW_WRITE",
    "SPOT_TRANSFER_READ",
    "SPOT_TRANSFER_WRITE",
    "SPOT_DEPOSIT_READ",
    "SPOT_DEPOSIT_WRITE",
)


@dataclass(frozen=True, slots=True)
class DemoAccount:
    """One demo role: its account name, kind, demo deposits and whether it gets a key."""

    role: str
    name: str
    funds: tuple[tuple[str, str], ...]
    kind: AccountKind = AccountKind.USER
    api_key: bool = False
    #: (maker, taker) fee override in ppm, or None for the platform default
    fees: tuple[int, int] | None = None


DEMO_ACCOUNTS: tuple[DemoAccount, ...] = (
    DemoAccount(
        role="user",
        name="demo:user",
        funds=(("USDT", "100000"), ("BTC", "2"), ("ETH", "50"), ("MX", "100000")),
        api_key=True,
    ),
    DemoAccount(
        role="api_broker",
        name="demo:api-broker",
        funds=(("USDT", "1000"),),
        kind=AccountKind.BROKER_MASTER,
        api_key=True,
    ),
    DemoAccount(
        role="independent_broker",
        name="demo:independent-broker",
        funds=(("USDT", "100000"), ("BTC", "1")),
        kind=AccountKind.BROKER_MASTER,
        api_key=True,
    ),
    DemoAccount(
        role="market_maker",
        name="demo:market-maker",
        funds=(("USDT", "20000000"), ("BTC", "300"), ("ETH", "6000"), ("MX", "8000000")),
        fees=(0, 0),
    ),
)

#: the role whose account the demo market maker quotes from
MARKET_MAKER_ROLE = "market_maker"


@dataclass(slots=True)
class DemoSeed:
    """What ``seed_demo`` found or made: account ids by role, and what it changed."""

    accounts: dict[str, int] = field(default_factory=dict)
    listed: bool = False
    opened: list[str] = field(default_factory=list)
    credited: int = 0
    keys_created: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.listed or self.opened or self.credited or self.keys_created)


def _engine_of(platform: Any) -> Any:
    return getattr(platform, "engine", platform)


def find_account(engine: Any, name: str) -> int | None:
    """The id of the (lowest-numbered) account called ``name``, or None."""

    def look(e: Any) -> int | None:
        ids = [a.id for a in e.wallet.accounts.values() if a.name == name]
        return min(ids) if ids else None

    return engine.read(look)


def _stored_account(db: Any, name: str) -> int | None:
    """Like ``find_account`` but straight from the database (no engine needed)."""
    return Queries(db).account_named(name)


def demo_account_ids(platform: Any) -> dict[str, int]:
    """Account ids of the demo roles that exist, by role."""
    engine = _engine_of(platform)
    out = {}
    for spec in DEMO_ACCOUNTS:
        acc = find_account(engine, spec.name)
        if acc is not None:
            out[spec.role] = acc
    return out


#: MX the demo's dust desk starts with
DUST_DESK_MX = "1000000"


def is_empty(platform: Any) -> bool:
    """True when no demo account exists yet (the database was never seeded)."""
    return not demo_account_ids(platform)


def seed_demo(
    platform: Any,
    accounts: tuple[DemoAccount, ...] = DEMO_ACCOUNTS,
    *,
    progress: Any = None,
) -> DemoSeed:
    """Make sure the demo listings, accounts, deposits and keys exist (idempotent).

    ``platform`` is a ``bourse.services.bundle.Services``, or a bare engine (then no keys are made).
    ``progress``, if given, is called as ``progress(message)`` after each step.
    """
    engine = _engine_of(platform)
    apikeys = getattr(platform, "apikeys", None)
    out = DemoSeed()
    note = progress or (lambda _msg: None)

    listed = engine.read(lambda e: bool(e.wallet.assets) or bool(e.exchange.symbols))
    if not listed:
        for asset in ASSETS:
            engine.execute(c.AddAsset(asset))
        for sym in SYMBOLS:
            engine.execute(c.AddSymbol(sym))
        out.listed = True
        note("listed the demo assets and symbols")

    scales = engine.read(lambda e: {code: a.scale for code, a in e.wallet.assets.items()})
    if "MX" in scales:  # the dust desk pays MX for small balances (``capital/convert``)
        desk_mx = to_units(DUST_DESK_MX, scales["MX"])
        engine.execute(
            c.CreditDeposit(DUST_DESK, "MX", desk_mx, f"demo:dust-desk:MX:{DUST_DESK_MX}")
        )
    for spec in accounts:
        acc = find_account(engine, spec.name)
        if acc is None:
            acc = engine.execute(c.OpenAccount(spec.kind, name=spec.name)).id
            out.opened.append(spec.role)
            if spec.fees is not None:
                engine.execute(c.SetFees(acc, spec.fees[0], spec.fees[1]))
            note(f"opened {spec.name} (account {acc})")
        out.accounts[spec.role] = acc
        for code, amount in spec.funds:
            if code not in scales:
                continue
            units = to_units(amount, scales[code])
            tx_ref = f"demo:{acc}:{code}:{amount}"
            if engine.execute(c.CreditDeposit(acc, code, units, tx_ref)):
                out.credited += 1
                note(f"credited {amount} {code} to {spec.name}")
        if spec.api_key and apikeys is not None and _demo_key(platform, acc, spec.name) is None:
            apikeys.create_key(acc, list(FULL_SPOT_PERMISSIONS), label=spec.name, expires=None)
            out.keys_created.append(spec.role)
            note(f"created an API key for {spec.name}")
    if apikeys is not None and "api_broker" in out.accounts and "user" in out.accounts:
        _ensure_api_broker(platform, out.accounts["api_broker"], out.accounts["user"], note)
    if apikeys is not None and "independent_broker" in out.accounts:
        seed_independent_broker(platform.brokers.registry, out.accounts["independent_broker"])
    return out


#: label and permissions of the demo user's key that is bound to the demo API broker (a bound
#: key may not withdraw, so it is a second key beside the user's full one)
BROKER_KEY_LABEL = "demo:user:via-api-broker"
BROKER_KEY_PERMISSIONS = ("SPOT_ACCOUNT_READ", "SPOT_DEAL_READ", "SPOT_DEAL_WRITE")


def _ensure_api_broker(platform: Any, broker_account: int, user_account: int, note: Any) -> None:
    """Register the demo API broker (approved, 30 % rebate) and bind a demo user key to it."""
    key = _demo_key(platform, user_account, BROKER_KEY_LABEL)
    if key is None:
        platform.apikeys.create_key(
            user_account, list(BROKER_KEY_PERMISSIONS), label=BROKER_KEY_LABEL, expires=None
        )
        key = _demo_key(platform, user_account, BROKER_KEY_LABEL)
    assert key is not None
    current = platform.brokers.bindings.get(key[0])
    seed_api_broker(
        platform.brokers,
        platform.apikeys,
        platform.engine,
        key[0],
        account_id=broker_account,
        name="Demo API Broker",
    )
    if current is None:
        note("approved the demo API broker and bound a demo user key to it")


def _demo_key(platform: Any, account: int, label: str) -> tuple[str, str] | None:
    """(api_key, secret) of the newest usable key labelled ``label`` on ``account``."""
    for api_key in platform.apikeys.labelled(account, label):
        key = platform.apikeys.lookup(api_key)
        if key is not None and not key.revoked and key.expires is None:
            return key.api_key, key.secret
    return None


def demo_credentials(
    platform: Any, accounts: tuple[DemoAccount, ...] = DEMO_ACCOUNTS
) -> dict[str, Any]:
    """``{"url": ..., "accounts": {role: {"api_key": ..., "secret": ...}}}`` for this DB.

    ``platform`` needs ``db`` and ``apikeys``; with an ``engine`` accounts are looked up there,
    without one straight from the database (``bourse demo-credentials`` starts no engine).

    Only roles that have a usable key appear; ``url`` is the last URL remembered by
    ``remember_url`` (``bourse serve``), else ``DEFAULT_URL``.
    """
    keys: dict[str, dict[str, Any]] = {}
    engine = getattr(platform, "engine", None)
    for spec in accounts:
        if not spec.api_key:
            continue
        if engine is not None:
            acc = find_account(engine, spec.name)
        else:
            acc = _stored_account(platform.db, spec.name)
        if acc is None:
            continue
        key = _demo_key(platform, acc, spec.name)
        if key is not None:
            keys[spec.role] = {"api_key": key[0], "secret": key[1]}
    if "api_broker" in keys and "user" in keys:
        user_acc = (
            find_account(engine, "demo:user")
            if engine is not None
            else _stored_account(platform.db, "demo:user")
        )
        bound = _demo_key(platform, user_acc, BROKER_KEY_LABEL) if user_acc else None
        if bound is not None:  # the user's key the broker trades with (bound to the broker)
            keys["api_broker"]["bound_user_key"] = {"api_key": bound[0], "secret": bound[1]}
    return {"url": get_setting(platform.db, "demo.url") or DEFAULT_URL, "accounts": keys}


def remember_url(platform: Any, url: str) -> None:
    """Record the URL the server was started on, for ``demo_credentials``."""
    put_setting(platform.db, "demo.url", url)


__all__ = [
    "DEFAULT_URL",
    "DEMO_ACCOUNTS",
    "DemoAccount",
    "DemoSeed",
    "FULL_SPOT_PERMISSIONS",
    "MARKET_MAKER_ROLE",
    "demo_account_ids",
    "demo_credentials",
    "find_account",
    "is_empty",
    "remember_url",
    "seed_demo",
]
