"""A Bourse server on loopback (uvicorn in a thread) on SQLite and PostgreSQL, plus a signing
HTTP client for MEXC-style requests (``tests.support.platforms.Env``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.platforms import Env, open_env


@pytest.fixture
def env(migrated_url: str, tmp_path: Any) -> Iterator[Env]:
    """A served platform on SQLite and on PostgreSQL (rate limits off)."""
    yield from open_env(migrated_url, tmp_path)
