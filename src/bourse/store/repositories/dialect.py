"""Dialect-aware statements the repositories share: insert-or-ignore and upsert on SQLite and
PostgreSQL (both speak ``ON CONFLICT``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def dialect_insert(conn: Connection, table: Table) -> Any:
    """The connection's dialect's ``INSERT`` (it has ``on_conflict_do_update/nothing``)."""
    mod = postgresql if conn.dialect.name == "postgresql" else sqlite
    return mod.insert(table)


def insert_ignore(conn: Connection, table: Table) -> Any:
    """``INSERT .. ON CONFLICT DO NOTHING`` for the connection's dialect."""
    return dialect_insert(conn, table).on_conflict_do_nothing()


def upsert(conn: Connection, table: Table, keys: list[str], values: dict[str, Any]) -> None:
    """Insert ``values`` or, on a conflict on ``keys``, update the other columns."""
    mod = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = mod.insert(table).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=keys, set_={k: v for k, v in values.items() if k not in keys}
    )
    conn.execute(stmt)
