"""A wallet over the simulated chain, built in one call (``bourse.bootstrap`` and tests)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine as SAEngine

from bourse.engine import Engine
from bourse.sandbox.chain import ChainConfig, SimulatedChain, chain_secret
from bourse.services.wallet import WalletService, WalletSettings
from bourse.store.repositories.chain import ChainRepository
from bourse.store.repositories.wallet import WalletRepository


def build_wallet(
    engine: Engine,
    db: SAEngine,
    server_key: bytes,
    settings: WalletSettings | None = None,
    config: ChainConfig | None = None,
    **chain_options: Any,
) -> WalletService:
    """A ``WalletService`` over a new ``SimulatedChain`` (not started; ``service.chain.start()``
    runs its block clock). ``chain_options`` go to ``SimulatedChain`` (``block_interval``,
    ``failure_rate``, ``stuck_rate``, ``seed``, ...)."""
    chain = SimulatedChain(
        engine, ChainRepository(db), chain_secret(server_key), config, **chain_options
    )
    return WalletService(engine, WalletRepository(db), chain, settings)
