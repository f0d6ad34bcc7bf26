"""``$BOURSE_HOME``: where a server keeps its operator credential and says that it runs.

The home is ``BOURSE_HOME`` when set; else the directory of the SQLite database (scripts/run
keeps it in ``.bourse/``); else (PostgreSQL) the nearest ``.bourse/`` directory from the working
directory upwards, or ``~/.bourse``. It holds, private to the user (directory 0700, files 0600):

* ``operator.token``: the operator API's credential, created on the server's first start;
  every ``POST /admin/v1/...`` must carry it (``Authorization: Bearer ...``);
* ``run/<digest>/<pid>.json``: one per running process of the database named by the digest
  (``bourse.operations.runtime``), written when it serves and removed when it stops. The
  ``bourse`` command reads them to talk to a server instead of opening the database itself.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from bourse.operations.dburl import data_dir

HOME_DIR = ".bourse"
TOKEN_FILE = "operator.token"
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


def private_dir(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def ensure_token(home: Path) -> str:
    """The operator credential of ``home``, created (0600) when there is none yet."""
    path = private_dir(home) / TOKEN_FILE
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
