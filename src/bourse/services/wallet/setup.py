"""Build the chain and the wallet service of a platform in one call."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine as SAEngine

from bourse.sandbox.chain import Chain, ChainConfig, chain_secret
from bourse.services.wallet.service import WalletService, WalletSettings


def build_wallet(
    engine: Any,
    db: SAEngine,
    server_key: bytes,
    settings: WalletSettings | None = None,
    config: ChainConfig | None = None,
    **chain_options: Any,
) -> WalletService:
    """A ``WalletService`` over a new ``Chain`` (not started; ``service.chain.start()`` runs its
    block clock). ``chain_options`` go to ``Chain`` (``block_interval``, ``failure_rate``,
    ``stuck_rate``, ``seed``, ...)."""
    chain = Chain(engine, db, chain_secret(server_key), config, **chain_options)
    return WalletService(engine, db, chain, settings)
