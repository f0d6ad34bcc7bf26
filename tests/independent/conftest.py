"""Independent brokers over real HTTP: a platform on SQLite and PostgreSQL served by uvicorn on
loopback with the sub-account endpoints mounted, plus helpers to make approved independent
brokers and their sub-accounts (``tests.support.platforms.IEnv``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.platforms import IEnv, open_ienv


@pytest.fixture
def ienv(migrated_url: str, tmp_path: Any) -> Iterator[IEnv]:
    yield from open_ienv(migrated_url, tmp_path)
