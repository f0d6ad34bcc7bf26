"""Runtime files: which ``bourse`` processes run for a database on this host.

Every long-running process writes one file in its home (``bourse.operations.home``),
``run/<digest>/<pid>.json``, the digest naming its database: ``{"pid", "role", "url",
"database", "state", "parent"}``. Roles: ``serve`` (the whole exchange; also ``bourse serve
--workers``'s supervisor), ``gateway`` and ``follower`` (``bourse gateway``, ``bourse serve
--role follower``: HTTP on another process's engine), ``engine`` (``bourse engine``; ``state``
``active`` or ``standby``; ``url`` its health endpoints with ``--health-port``, else empty).
``parent`` is the pid that started it (a supervisor's children stop with it). A file appears
when the process serves and goes when it stops; one whose process is gone (``kill -9``) is
ignored and removed by the next reader. A server of the previous version wrote one file per
database, ``run/<digest>.json`` (role ``serve``): it is still read, so ``bourse stop`` finds a
server started before an upgrade.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bourse.operations.dburl import identity
from bourse.operations.home import private_dir

RUN_DIR = "run"
#: the roles whose URL runs operations (``POST /admin/v1/...``), the first preferred
OPERATORS = ("serve", "gateway")


def database_digest(database_url: str) -> str:
    """A file-name-safe name of a database (its URL without the password, a SQLite file by its
    absolute path, hashed)."""
    return hashlib.sha256(identity(database_url).encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class RunningServer:
    """What the runtime file of a running process says (``url`` empty: none)."""

    pid: int
    url: str
    database: str
    path: Path
    role: str = "serve"
    state: str = ""
    parent: int = 0

    def alive(self) -> bool:
        """Whether the process still runs (a zombie, exited but not yet reaped, does not)."""
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # another user's process: it exists
            return True
        try:
            stat = Path(f"/proc/{self.pid}/stat").read_text()
        except OSError:  # no /proc (macOS): trust kill
            return True
        return stat.rsplit(")", 1)[-1].split()[0] != "Z"

    def label(self) -> str:
        """``the gateway at URL (pid N)``, ``the engine (active, pid N)``: for one-line messages."""
        name = "server" if self.role == "serve" else self.role
        at = f" at {self.url}" if self.url and self.role != "engine" else ""
        state = f"{self.state}, " if self.state else ""
        return f"the {name}{at} ({state}pid {self.pid})"

    def to_json(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "pid": self.pid,
            "url": self.url or None,
            "state": self.state or None,
            "parent": self.parent or None,
        }


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` (0600) atomically: readers see the old or the new file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def announce(home: Path, database_url: str, url: str, role: str = "serve", state: str = "") -> Path:
    """Write (or rewrite: an engine becoming active) this process's runtime file."""
    folder = private_dir(private_dir(private_dir(home) / RUN_DIR) / database_digest(database_url))
    path = folder / f"{os.getpid()}.json"
    data = {
        "pid": os.getpid(),
        "role": role,
        "url": url,
        "database": database_url,
        "state": state,
        "parent": os.getppid(),
    }
    _write_private(path, json.dumps(data))
    return path


def withdraw(path: Path) -> None:
    """Remove a runtime file written by ``announce`` (when this process wrote it)."""
    found = _load(path)
    if found is not None and found.pid == os.getpid():
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _load(path: Path) -> RunningServer | None:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
        return RunningServer(
            int(data["pid"]),
            str(data.get("url") or ""),
            str(data["database"]),
            path,
            str(data.get("role") or "serve"),
            str(data.get("state") or ""),
            int(data.get("parent") or 0),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _live(paths: list[Path]) -> list[RunningServer]:
    """The processes of ``paths`` that still run; the files of the others are removed."""
    out = []
    for path in paths:
        found = _load(path)
        if found is not None and found.alive():
            out.append(found)
        elif found is not None:
            with contextlib.suppress(OSError):
                path.unlink()
    return out


def processes(home: Path, database_url: str) -> list[RunningServer]:
    """Every live process announced in ``home`` for ``database_url``, in pid order."""
    digest = database_digest(database_url)
    legacy = home / RUN_DIR / f"{digest}.json"
    folder = home / RUN_DIR / digest
    paths = [legacy] if legacy.is_file() else []
    paths += sorted(folder.glob("*.json")) if folder.is_dir() else []
    return sorted(_live(paths), key=lambda p: p.pid)


def running_server(home: Path, database_url: str) -> RunningServer | None:
    """The process that runs operations for ``database_url`` (``POST /admin/v1/...`` at its
    URL): a ``serve``, else a gateway; None when neither runs."""
    able = [p for p in processes(home, database_url) if p.role in OPERATORS and p.url]
    able.sort(key=lambda p: OPERATORS.index(p.role))
    return able[0] if able else None


def any_process(home: Path, database_url: str) -> RunningServer | None:
    """The process that runs operations for ``database_url``, else any live one (an engine):
    what a command that needs the database to itself must see stopped first."""
    return running_server(home, database_url) or next(iter(processes(home, database_url)), None)


def running_servers(home: Path) -> list[RunningServer]:
    """Every live process announced in ``home``, whatever its database."""
    run = home / RUN_DIR
    if not run.is_dir():
        return []
    return _live(sorted(run.glob("*.json")) + sorted(run.glob("*/*.json")))
