"""The scale-out tests' world: a private PostgreSQL database with users, and a topology on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.serve import World, prepare
from tests.scale.topology import Topology
from tests.support.databases import create_pg_database, drop_pg_database, pg_template
from tests.support.nats import unique_name


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    url = create_pg_database("bourse_scale", template=pg_template())
    try:
        yield prepare(url, tmp_path, users=4, families=0)
    finally:
        drop_pg_database(url)


@pytest.fixture
def topology(world: World) -> Iterator[Topology]:
    top = Topology(world, unique_name())
    try:
        yield top
    finally:
        top.close()
