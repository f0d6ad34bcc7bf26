"""Small operator settings kept as text in the ``settings`` table."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.engine import Engine

from bourse.store import tables as t
from bourse.store.transaction import write


def put_setting(db: Engine, key: str, value: str) -> None:
    with write(db) as conn:
        updated = conn.execute(
            t.settings.update().where(t.settings.c.key == key).values(value=value)
        ).rowcount
        if not updated:
            conn.execute(t.settings.insert().values(key=key, value=value))


def get_setting(db: Engine, key: str) -> str | None:
    with db.connect() as conn:
        return conn.execute(select(t.settings.c.value).where(t.settings.c.key == key)).scalar()
