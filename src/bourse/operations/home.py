"""``$BOURSE_HOME``: where a server keeps its operator credential and says that it runs.

The home is ``BOURSE_HOME`` when set; else the directory of the SQLite database (scripts/run
keeps it in ``.bourse/``); else (PostgreSQL) the nearest ``.bourse/`` directory from the working
directory upwards, or ``~/.bourse``. It holds, private to the user (directory 0700, files 0600):

* ``operator.token``: the operator API's credential, created on the server's first start;
  every ``POST /admin/v1/...`` must carry it (``Authorization: Bearer ...``);
* ``run/<digest>.json``: one per running server (``{"pid", "url", "database"}``), the digest
  naming its database, written when it listens and removed when it stops. The ``bourse``
  command reads it to talk to that server instead of opening the database itself.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bourse.operations.dburl import data_dir, identity

HOME_DIR = ".bourse"
TOKEN_FILE = "operator.token"
RUN_DIR = "run"
TOKEN_PREFIX = "bop_"
#: the path of the operator API (``bourse.operations.http``) under a running server's URL
PREFIX = "/admin/v1"


def find_home(start: Path | None = None) -> Path | None:
    """``BOURSE_HOME``, else the nearest ``.bourse/`` from ``start`` (default: cwd) upwards."""
    env = os.environ.get("BOURSE_HOME")
    if env:
        return Path(env)
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        if (d / HOME_DIR).is_dir():
            return d / HOME_DIR
    return None


def home_for(database_url: str) -> Path:
    """The home of the server of ``database_url`` (see the module docstring)."""
    env = os.environ.get("BOURSE_HOME")
    if env:
        return Path(env)
    folder = data_dir(database_url)
    if folder is not None:
        return folder
    # PostgreSQL: where the server key of such a database lives too (bourse.services.apikeys)
    return find_home() or Path.home() / HOME_DIR


def _private_dir(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


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


def ensure_token(home: Path) -> str:
    """The operator credential of ``home``, created (0600) when there is none yet."""
    path = _private_dir(home) / TOKEN_FILE
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    try:  # O_EXCL: two servers starting at once agree on one credential
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return token


def read_token(home: Path) -> str | None:
    """The operator credential of ``home``, or None (no server ever started there)."""
    try:
        return (home / TOKEN_FILE).read_text().strip() or None
    except (FileNotFoundError, PermissionError):
        return None


def database_digest(database_url: str) -> str:
    """A file-name-safe name of a database (its URL without the password, a SQLite file by its
    absolute path, hashed)."""
    return hashlib.sha256(identity(database_url).encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class RunningServer:
    """What the runtime file of a running server says."""

    pid: int
    url: str
    database: str
    path: Path

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


def runtime_path(home: Path, database_url: str) -> Path:
    return home / RUN_DIR / f"{database_digest(database_url)}.json"


def announce(home: Path, database_url: str, url: str) -> Path:
    """Write the runtime file of this process's server of ``database_url`` at ``url``."""
    path = _private_dir(_private_dir(home) / RUN_DIR) / runtime_path(home, database_url).name
    data = {"pid": os.getpid(), "url": url, "database": database_url}
    _write_private(path, json.dumps(data))
    return path


def withdraw(path: Path) -> None:
    """Remove a runtime file written by ``announce`` (when this process wrote it)."""
    server = _load(path)
    if server is not None and server.pid == os.getpid():
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _load(path: Path) -> RunningServer | None:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
        return RunningServer(int(data["pid"]), str(data["url"]), str(data["database"]), path)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def running_server(home: Path, database_url: str) -> RunningServer | None:
    """The live server of ``database_url`` announced in ``home``, if any."""
    server = _load(runtime_path(home, database_url))
    return server if server is not None and server.alive() else None


def running_servers(home: Path) -> list[RunningServer]:
    """Every live server announced in ``home``."""
    out = []
    for path in sorted((home / RUN_DIR).glob("*.json")) if (home / RUN_DIR).is_dir() else []:
        server = _load(path)
        if server is not None and server.alive():
            out.append(server)
    return out
