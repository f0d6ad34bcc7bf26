"""Back up a database while it is used, and restore one atomically.

A backup file is a tar archive of two members: ``manifest.json`` (format, backend, schema
revision, time, size) and the data: ``database.sqlite`` (SQLite's online backup API: one read
transaction, so one consistent snapshot of the database and its WAL, writers never blocked) or
``database.pgdump`` (``pg_dump --format=custom``: one snapshot). It is written private (0600)
to a temporary file beside the target, synced, then renamed over it: a reader sees no file or
a whole one.

``restore`` refuses a backup of a newer schema than this code knows, restores into a temporary
file (SQLite) or database (PostgreSQL), migrates it to head, and only then swaps it in (a
rename), so the target is the old database or the restored one, never half of each. The
caller makes sure no server runs for the target (``bourse restore`` checks the runtime file);
the writer lock and, on PostgreSQL, the sessions connected to the target are checked here too.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
import secrets
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError

from bourse.store.db import alembic_config, migrate, normalize_url, pg_connect
from bourse.store.sessions import sessions_of

FORMAT = 1
MANIFEST = "manifest.json"
SQLITE_MEMBER = "database.sqlite"
PG_MEMBER = "database.pgdump"
#: seconds pg_dump / pg_restore may wait for a table lock before giving up
LOCK_WAIT_S = 10

Progress = Callable[[str], None]


class BackupError(Exception):
    """A backup or restore cannot proceed; ``str(exc)`` says why in one line."""


class BackupPathError(BackupError):
    """The backup's destination cannot take it (the database itself, a directory, a directory
    that does not exist or cannot be written): another path would do, not another try."""


@dataclass(frozen=True, slots=True)
class Manifest:
    """What a backup file says about itself."""

    format: int
    backend: str
    revision: str | None
    created_ms: int
    bytes: int
    database: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0]


def _quiet(_: str) -> None:
    pass


def _sqlite_path(u: URL) -> Path:
    if not u.database or u.database == ":memory:" or u.database.startswith("file:"):
        raise BackupError(f"cannot back up or restore the SQLite database {u.database!r}")
    return Path(u.database).resolve()


def _libpq(u: URL, database: str | None = None) -> str:
    """``u`` as a libpq URI (what pg_dump, pg_restore and psycopg take)."""
    u = u.set(drivername="postgresql")
    if database is not None:
        u = u.set(database=database)
    return u.render_as_string(hide_password=False)


def _safe(u: URL) -> str:
    return u.set(drivername=u.get_backend_name()).render_as_string(hide_password=True)


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _known(revision: str) -> bool:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    try:
        return script.get_revision(revision) is not None
    except Exception:
        return False


# --- backup --------------------------------------------------------------------------------------
def backup(database_url: str, dest: Path, progress: Progress = _quiet) -> Manifest:
    """Write a backup of ``database_url`` to ``dest`` (atomically, 0600); its manifest."""
    u = make_url(normalize_url(database_url))
    backend = u.get_backend_name()
    dest = Path(dest).resolve()
    if backend == "sqlite" and dest == _sqlite_path(u):
        raise BackupPathError(f"{dest} is the database itself: back it up to another file")
    if dest.is_dir():
        raise BackupPathError(f"{dest} is a directory: name the backup file")
    if not dest.parent.is_dir():
        raise BackupPathError(f"no directory {dest.parent}")
    try:
        work = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    except OSError as exc:
        raise BackupPathError(f"cannot write in {dest.parent}: {exc.strerror}") from exc
    try:
        if backend == "sqlite":
            member, revision = _backup_sqlite(u, work / SQLITE_MEMBER, progress)
        elif backend == "postgresql":
            member, revision = _backup_pg(u, work / PG_MEMBER, progress)
        else:
            raise BackupError(f"cannot back up a {backend} database")
        manifest = Manifest(
            FORMAT, backend, revision, int(time.time() * 1000), member.stat().st_size, _safe(u)
        )
        progress(f"writing {dest} ({member.stat().st_size / 1e6:.1f} MB)")
        _write_archive(work / "backup.tar", manifest, member)
        os.replace(work / "backup.tar", dest)
        _sync_dir(dest.parent)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return manifest


def _backup_sqlite(u: URL, out: Path, progress: Progress) -> tuple[Path, str | None]:
    path = _sqlite_path(u)
    if not path.exists():
        raise BackupError(f"no database at {path}")
    progress(f"copying {path} ({path.stat().st_size / 1e6:.1f} MB, one snapshot)")
    src = sqlite3.connect(path, timeout=10)  # it only reads
    try:
        dst = sqlite3.connect(out)
        try:
            src.backup(dst)  # all pages in one step: one read transaction, one snapshot
            revision = _sqlite_revision(dst)
            dst.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
        finally:
            dst.close()
    except sqlite3.Error as exc:
        raise BackupError(f"cannot back up {path}: {exc}") from exc
    finally:
        src.close()
    return out, revision


def _sqlite_revision(conn: sqlite3.Connection) -> str | None:
    try:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError:
        return None
    return str(row[0]) if row else None


def _pg_revision(libpq: str) -> str | None:
    with pg_connect(libpq) as conn:
        try:
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        except psycopg.errors.UndefinedTable:
            return None
    return str(row[0]) if row else None


def _run(args: list[str], what: str, progress: Progress = _quiet) -> None:
    """Run a PostgreSQL client tool; its ``--verbose`` lines go to ``progress`` as it works."""
    try:
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    except FileNotFoundError as exc:
        raise BackupError(f"{args[0]} is not installed (PostgreSQL's client tools)") from exc
    errors: list[str] = []
    assert proc.stderr is not None
    with proc:
        for raw in proc.stderr:
            line = raw.strip()
            if not line:
                continue
            if ": error: " in line or "FATAL" in line or "ERROR" in line:
                errors.append(line)
            elif ": " in line:
                progress(f"{what}: {line.split(': ', 1)[1]}"[:120])
    if proc.returncode != 0:
        raise BackupError(f"{what} failed: {errors[0] if errors else f'exit {proc.returncode}'}")


def _backup_pg(u: URL, out: Path, progress: Progress) -> tuple[Path, str | None]:
    libpq = _libpq(u)
    try:
        before = _pg_revision(libpq)
    except psycopg.Error as exc:
        raise BackupError(f"cannot read {_safe(u)}: {str(exc).splitlines()[0]}") from exc
    progress(f"dumping {_safe(u)} (pg_dump, one snapshot)")
    _run(
        [
            "pg_dump",
            "--format=custom",
            "--verbose",
            f"--lock-wait-timeout={LOCK_WAIT_S * 1000}",
            f"--file={out}",
            f"--dbname={libpq}",
        ],
        "pg_dump",
        progress,
    )
    if _pg_revision(libpq) != before:
        raise BackupError("the schema was migrated during the backup: run it again")
    return out, before


def _write_archive(path: Path, manifest: Manifest, member: Path) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        with tarfile.open(fileobj=f, mode="w") as tar:
            data = json.dumps(manifest.to_json(), indent=1).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mtime, info.mode = len(data), int(time.time()), 0o600
            tar.addfile(info, io.BytesIO(data))
            info = tar.gettarinfo(str(member), arcname=member.name)
            info.mode, info.uid, info.gid, info.uname, info.gname = 0o600, 0, 0, "", ""
            with member.open("rb") as m:
                tar.addfile(info, m)
        f.flush()
        os.fsync(f.fileno())


def _sync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- restore -------------------------------------------------------------------------------------
def read_manifest(src: Path) -> Manifest:
    """The manifest of the backup file ``src`` (``BackupError`` if it is not one)."""
    with _archive(src) as tar:
        return _manifest(tar, src)


@contextlib.contextmanager
def _archive(src: Path) -> Iterator[tarfile.TarFile]:
    try:
        tar = tarfile.open(src, mode="r:")  # noqa: SIM115 (closed below)
    except FileNotFoundError:
        raise BackupError(f"no backup file {src}") from None
    except (tarfile.TarError, OSError) as exc:
        raise BackupError(f"{src} is not a Bourse backup ({exc})") from exc
    with tar:
        yield tar


def _manifest(tar: tarfile.TarFile, src: Path) -> Manifest:
    try:
        f = tar.extractfile(MANIFEST)
        data = json.loads(f.read()) if f else None
        manifest = Manifest(**data) if isinstance(data, dict) else None
    except (KeyError, ValueError, TypeError, tarfile.TarError):
        manifest = None
    if manifest is None:
        raise BackupError(f"{src} is not a Bourse backup (no manifest)")
    if manifest.format != FORMAT:
        raise BackupError(
            f"{src} is a backup of format {manifest.format}; this bourse reads {FORMAT}"
        )
    return manifest


def restore(database_url: str, src: Path, progress: Progress = _quiet) -> Manifest:
    """Replace the database of ``database_url`` by the backup ``src``, migrated to head."""
    u = make_url(normalize_url(database_url))
    backend = u.get_backend_name()
    src = Path(src).resolve()
    with _archive(src) as tar:
        manifest = _manifest(tar, src)
        if manifest.backend != backend:
            raise BackupError(
                f"{src} is a {manifest.backend} backup; it cannot be restored into {backend}"
            )
        if manifest.revision is not None and not _known(manifest.revision):
            raise BackupError(
                f"{src} is of schema revision {manifest.revision}, newer than this bourse knows "
                f"(head {head_revision()}): restore it with the bourse that wrote it or a newer one"
            )
        member = SQLITE_MEMBER if backend == "sqlite" else PG_MEMBER
        try:
            data = tar.extractfile(member)
        except KeyError:
            data = None
        if data is None:
            raise BackupError(f"{src} holds no {member}")
        if backend == "sqlite":
            _restore_sqlite(u, data, progress)
        else:
            _restore_pg(u, data, progress)
    return manifest


def _restore_sqlite(u: URL, data: io.BufferedReader | Any, progress: Progress) -> None:
    target = _sqlite_path(u)
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    lock_fd = os.open(f"{target}.writer.lock", os.O_RDWR | os.O_CREAT, 0o600)
    tmp = target.with_name(f".{target.name}.restore-{secrets.token_hex(4)}")
    try:
        try:  # a server of this database (whatever its home) holds this lock while it runs
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BackupError(
                f"a Bourse server is writing {target}: stop it first (bourse stop)"
            ) from None
        progress(f"restoring into {tmp.name}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            shutil.copyfileobj(data, f, 1 << 20)
            f.flush()
            os.fsync(f.fileno())
        progress("checking and migrating the restored database")
        try:
            conn = sqlite3.connect(tmp)
            try:
                ok = conn.execute("PRAGMA quick_check").fetchone()
            finally:
                conn.close()
            if not ok or ok[0] != "ok":
                raise BackupError(f"the backup's database is damaged: {ok[0] if ok else '?'}")
            migrate(f"sqlite:///{tmp}")
            _checkpoint(tmp)
        except (sqlite3.Error, SQLAlchemyError) as exc:
            raise BackupError(f"the backup's database cannot be opened: {_line(exc)}") from exc
        if target.exists():
            try:  # no old WAL may be replayed onto the restored file
                _checkpoint(target)
            except sqlite3.Error as exc:
                raise BackupError(f"cannot open the database {target}: {_line(exc)}") from exc
        os.replace(tmp, target)
        for leftover in (f"{target}-wal", f"{target}-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(leftover)
        _sync_dir(target.parent)
    finally:
        for name in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm"), Path(f"{tmp}.writer.lock")):
            with contextlib.suppress(FileNotFoundError):
                name.unlink()
        os.close(lock_fd)


def _checkpoint(path: Path) -> None:
    """Fold ``path``'s WAL into the file and end WAL mode's companions for it."""
    conn = sqlite3.connect(path, timeout=10)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def _restore_pg(u: URL, data: io.BufferedReader | Any, progress: Progress) -> None:
    name = u.database
    if not name:
        raise BackupError("the PostgreSQL URL names no database")
    admin = _libpq(u, "postgres")
    temp = f"{name[:40]}_restore_{secrets.token_hex(4)}"
    old = f"{name[:40]}_old_{secrets.token_hex(4)}"
    with tempfile.NamedTemporaryFile(prefix="bourse-restore-", suffix=".pgdump") as dump:
        shutil.copyfileobj(data, dump, 1 << 20)
        dump.flush()
        try:
            with pg_connect(admin, autocommit=True) as conn:
                _refuse_sessions(conn, name)
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(temp)))
        except psycopg.Error as exc:
            raise BackupError(f"cannot reach {_safe(u)}: {str(exc).splitlines()[0]}") from exc
        try:
            progress(f"restoring into the database {temp}")
            _run(
                [
                    "pg_restore",
                    "--no-owner",
                    "--no-privileges",
                    "--exit-on-error",
                    "--single-transaction",
                    "--verbose",
                    f"--dbname={_libpq(u, temp)}",
                    dump.name,
                ],
                "pg_restore",
                progress,
            )
            progress("migrating the restored database to head")
            try:
                migrate(_libpq(u, temp))
            except SQLAlchemyError as exc:
                raise BackupError(
                    f"the restored database cannot be migrated: {_line(exc)}"
                ) from exc
            with pg_connect(admin) as conn:  # one transaction: the swap
                _refuse_sessions(conn, name)
                exists = conn.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
                ).fetchone()
                if exists:
                    conn.execute(
                        sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                            sql.Identifier(name), sql.Identifier(old)
                        )
                    )
                conn.execute(
                    sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                        sql.Identifier(temp), sql.Identifier(name)
                    )
                )
        except BaseException:
            _drop(admin, temp)
            raise
    _drop(admin, old)


def _refuse_sessions(conn: psycopg.Connection[Any], name: str) -> None:
    """Refuse while any session but ``conn``'s is connected to ``name``, naming them by role
    and client address (``bourse.store.sessions``)."""
    found = sessions_of(conn, name)
    if found:
        raise BackupError(
            f"sessions are connected to the database {name}: "
            + ", ".join(each.label() for each in found)
            + "; stop them first (bourse stop for a Bourse server)"
        )


def _drop(admin: str, name: str) -> None:
    with (
        contextlib.suppress(psycopg.Error),
        pg_connect(admin, autocommit=True) as conn,
    ):
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
