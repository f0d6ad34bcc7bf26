"""Helpers of the wallet tests: a world of engine, chain and wallet service on one database."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Engine as SAEngine
from sqlalchemy import func, select

from bourse.domain.accounts import AccountKind
from bourse.domain.ledger import AVAILABLE
from bourse.domain.money import to_units
from bourse.engine import Engine
from bourse.engine import commands as c
from bourse.sandbox.chain import DEFAULT_NETWORKS, ChainConfig, SimulatedChain
from bourse.sandbox.listings import ASSETS, SYMBOLS
from bourse.services.wallet import WalletService, WalletSettings
from bourse.store import tables as t
from bourse.store.db import make_engine
from bourse.store.repositories.chain import ChainRepository
from bourse.store.repositories.wallet import WalletRepository
from bourse.store.sql import SqlStore

SECRET = b"wallet-tests-secret"


@dataclass
class WalletWorld:
    db: SAEngine
    engine: Engine
    chain: SimulatedChain
    wallet: WalletService
    alice: int
    bob: int

    def units(self, coin: str, text: str) -> int:
        return to_units(text, self.wallet.asset(coin).scale)

    def available(self, account: int, coin: str) -> int:
        return self.engine.read(lambda e: e.exchange.ledger.available(account, coin))

    def locked(self, account: int, coin: str) -> int:
        return self.engine.read(lambda e: e.exchange.ledger.locked(account, coin))

    def fund(self, account: int, coin: str, text: str, network: str | None = None) -> None:
        """Deposit through the chain and mine until it is credited."""
        a = self.wallet.deposit_address(account, coin, network)
        dep = self.chain.send_deposit(a.address, a.memo, coin, a.network.id, self.units(coin, text))
        self.chain.advance(dep.required)
        got = self.chain.deposit(dep.network, dep.txid, dep.vout)
        assert got is not None and got.credited

    def restart(self, config: ChainConfig | None = None) -> None:
        """A new engine and chain on the same database (what a process restart sees), the
        chain's networks configured by ``config`` (default: the demo's)."""
        running = self.engine._thread is not None
        self.engine.stop()
        self.engine.store.close()  # the old process is gone: its writer lock with it
        self.engine = Engine(SqlStore(self.db))
        if running:
            self.engine.start()
        self.chain = SimulatedChain(self.engine, ChainRepository(self.db), SECRET, config, seed=7)
        self.wallet = WalletService(
            self.engine, WalletRepository(self.db), self.chain, self.wallet.settings
        )


def with_network(coin: str, network: str, **changes: Any) -> ChainConfig:
    """The demo's networks with ``coin`` on ``network`` changed as ``changes`` (fields of
    ``NetworkSpec``) say."""
    specs = {
        code: tuple(replace(n, **changes) if (code, n.id) == (coin, network) else n
                    for n in nets)
        for code, nets in DEFAULT_NETWORKS.items()
    }  # fmt: skip
    return ChainConfig(specs)


def with_fee(coin: str, network: str, fee: str) -> ChainConfig:
    """The demo's networks with ``coin`` on ``network`` charging ``fee`` to withdraw."""
    return with_network(coin, network, withdraw_fee=fee)


def with_default_network(coin: str, network: str) -> ChainConfig:
    """The demo's networks with ``network`` first among ``coin``'s: the one a request that
    names none gets."""
    nets = DEFAULT_NETWORKS[coin]
    first = tuple(n for n in nets if n.id == network)
    assert first, f"{coin} has no network {network}"
    return ChainConfig(
        {**DEFAULT_NETWORKS, coin: first + tuple(n for n in nets if n.id != network)}
    )


def assert_books_balance(world: WalletWorld) -> None:
    """The in-memory ledger balances, and the stored postings reproduce the stored balances."""
    world.engine.read(lambda e: e.exchange.ledger.check())
    p, b = t.postings.c, t.balances.c
    net: dict[tuple[int, int, str], int] = {}
    with world.db.begin() as conn:
        for acc, bucket, asset, total in conn.execute(
            select(p.to_account, p.to_bucket, p.asset, func.sum(p.amount)).group_by(
                p.to_account, p.to_bucket, p.asset
            )
        ):
            net[(acc, bucket, asset)] = net.get((acc, bucket, asset), 0) + int(total)
        for acc, bucket, asset, total in conn.execute(
            select(p.from_account, p.from_bucket, p.asset, func.sum(p.amount)).group_by(
                p.from_account, p.from_bucket, p.asset
            )
        ):
            net[(acc, bucket, asset)] = net.get((acc, bucket, asset), 0) - int(total)
        stored = {
            (r[0], r[1]): (int(r[2]), int(r[3]))
            for r in conn.execute(select(b.account_id, b.asset, b.available, b.locked))
        }
    per_asset: dict[str, int] = {}
    for (acc, bucket, asset), amount in net.items():
        per_asset[asset] = per_asset.get(asset, 0) + amount
        avail, locked = stored.get((acc, asset), (0, 0))
        assert amount == (avail if bucket == AVAILABLE else locked), (acc, bucket, asset)
    assert all(v == 0 for v in per_asset.values()), per_asset
    for (acc, asset), (avail, locked) in stored.items():
        assert net.get((acc, 0, asset), 0) == avail
        assert net.get((acc, 1, asset), 0) == locked


def _world(url: str, started: bool, **chain_kw: object) -> Iterator[WalletWorld]:
    db = make_engine(url)
    engine = Engine(SqlStore(db))
    engine.apply_batch_now([c.AddAsset(a) for a in ASSETS] + [c.AddSymbol(s) for s in SYMBOLS])
    alice, bob = engine.apply_batch_now(
        [c.OpenAccount(AccountKind.USER, name="alice"), c.OpenAccount(AccountKind.USER, name="bob")]
    )
    if started:
        engine.start()
    chain = SimulatedChain(engine, ChainRepository(db), SECRET, seed=7, **chain_kw)  # type: ignore[arg-type]
    wallet = WalletService(
        engine,
        WalletRepository(db),
        chain,
        WalletSettings(review_above={"BTC": "1", "USDT": "100000"}),
    )
    world = WalletWorld(db, engine, chain, wallet, alice.id, bob.id)
    try:
        yield world
    finally:
        world.chain.stop()
        world.engine.stop()
        world.engine.store.close()
        db.dispose()
