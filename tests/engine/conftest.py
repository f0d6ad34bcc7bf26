"""Fixtures of the engine tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bourse.store.db import make_engine
from bourse.store.sql import SqlStore


@pytest.fixture
def store(migrated_url: str) -> Iterator[SqlStore]:
    """A ``SqlStore`` on the migrated test database (SQLite and PostgreSQL), closed after."""
    db = make_engine(migrated_url)
    s = SqlStore(db)
    try:
        yield s
    finally:
        s.close()
        db.dispose()
