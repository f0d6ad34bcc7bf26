"""A SQLite file database keeps its connections: many threads at once, then again, open no new
connection (each new one would run the PRAGMAs of ``store.db`` again)."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import event, text

from bourse.store.db import make_engine

THREADS = 40  # as many as AnyIO's worker threads


def test_concurrent_threads_reuse_pooled_connections(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/pool.db")
    connects: list[int] = []
    event.listen(engine, "connect", lambda *_: connects.append(1))

    def burst() -> None:
        barrier = threading.Barrier(THREADS)
        errors: list[BaseException] = []

        def use() -> None:
            try:
                with engine.connect() as conn:
                    barrier.wait(20)  # all hold a connection at the same time
                    conn.execute(text("SELECT 1"))
            except BaseException as exc:  # noqa: BLE001 (reported below)
                errors.append(exc)

        threads = [threading.Thread(target=use) for _ in range(THREADS)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(30)
        assert not errors and not any(th.is_alive() for th in threads)

    try:
        burst()
        assert len(connects) == THREADS
        burst()
        burst()
        assert len(connects) == THREADS  # no connection closed and reopened
        with engine.connect() as conn:  # and each still has the PRAGMAs of the first connect
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
    finally:
        engine.dispose()
