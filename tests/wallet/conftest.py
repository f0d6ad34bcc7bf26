"""Wallet fixtures: an engine on a real migrated database (SQLite and PostgreSQL, through the
shared ``migrated_url`` fixture), the simulated chain and the wallet service over it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.wallet import WalletWorld, _world


@pytest.fixture
def world(migrated_url: str) -> Iterator[WalletWorld]:
    """Engine not started: commands apply on the calling thread."""
    yield from _world(migrated_url, started=False)


@pytest.fixture
def live_world(migrated_url: str) -> Iterator[WalletWorld]:
    """Engine thread started: commands from many threads are batched (group commit)."""
    yield from _world(migrated_url, started=True)
