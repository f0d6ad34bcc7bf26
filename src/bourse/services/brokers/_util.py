"""Small helpers shared by the broker modules (clock, dialect-aware upsert/insert-ignore)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite

Clock = Callable[[], int]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def insert_ignore(conn: Connection, table: Table) -> Any:
    """``INSERT .. ON CONFLICT DO NOTHING`` for the connection's dialect."""
    mod = postgresql if conn.dialect.name == "postgresql" else sqlite
    return mod.insert(table).on_conflict_do_nothing()


def upsert(conn: Connection, table: Table, keys: list[str], values: dict[str, Any]) -> None:
    """Insert ``values`` or, on a conflict on ``keys``, update the other columns."""
    mod = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = mod.insert(table).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=keys, set_={k: v for k, v in values.items() if k not in keys}
    )
    conn.execute(stmt)
