"""``db.*``: the database as a whole. ``db.backup`` writes a consistent snapshot of the running
platform's database to a file of the server's machine (``bourse.store.backup``), without
stopping anything. Restoring is no operation: it needs the server stopped (``bourse restore``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from bourse.operations.registry import OperationError, operation
from bourse.services.bundle import Services


@operation("db.backup", mutates=False)
def backup_db(svc: Services, *, path: str) -> dict[str, Any]:
    """Write a consistent backup of the database to ``path`` (absolute; 0600, atomically).
    A path that cannot take it is a 400; the database or its tools refusing, a 409."""
    if not os.path.isabs(path):
        raise OperationError(f"the backup path must be absolute, not {path!r}")
    # here, not at the top: the backup imports psycopg and Alembic, which no other operation
    # run by a command on a SQLite file needs
    from bourse.store.backup import BackupError, BackupPathError, backup

    try:
        manifest = backup(svc.config.database_url, Path(path))
    except BackupPathError as exc:
        raise OperationError(str(exc)) from exc
    except BackupError as exc:
        raise OperationError(str(exc), 409) from exc
    return {"path": path, **manifest.to_json()}
