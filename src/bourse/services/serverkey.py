"""The server key: the Fernet key that encrypts API secrets and TOTP secrets at rest.

Where it comes from, in this order:

1. ``Config.secret_key`` or ``BOURSE_SECRET_KEY``: the key itself (32 url-safe base64 bytes,
   ``generate_server_key``);
2. ``Config.secret_key_file`` or ``BOURSE_SECRET_KEY_FILE``: a file holding it;
3. ``Config.key_dir``: ``bourse.key`` in that directory;
4. by default ``bourse.key`` in the configuration directory: ``BOURSE_CONFIG_DIR``, else
   ``BOURSE_HOME``, else ``$XDG_CONFIG_HOME/bourse`` (``~/.config/bourse``): never beside the
   database, so a copy of the data directory (a backup, a stolen disk image) does not carry the
   key that opens its secrets.

Outside production the key file of 2-4 is created (mode 0600) the first time it is needed.
Production (``bourse serve`` without ``--demo``, ``required=True``) never creates one: the key
must be given, and a key file inside the database's directory is refused, each with one line
that says what to do. A database from before this rule kept its key beside the SQLite file
(``.bourse/bourse.key``): that key is still used when no other is found, outside production
only, until ``bourse keys rotate-master`` re-encrypts everything under the configured key.

Rotation (``bourse keys rotate-master``) writes the new key to ``<file>.next`` first, then
re-encrypts every secret in one transaction, then renames ``<file>.next`` over ``<file>``. A
crash anywhere leaves a state ``ServerKeys`` reads: while ``<file>.next`` exists both keys
decrypt (``MultiFernet``), the new one first.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from bourse.store.repositories.apikeys import ApiKeyRepository
from bourse.store.repositories.users import UserRepository
from bourse.store.transaction import write

KEY_FILE_NAME = "bourse.key"
NEXT_SUFFIX = ".next"


class ServerKeyError(Exception):
    """The server key is missing, malformed or kept where it must not be (one-line message)."""


def generate_server_key() -> str:
    """A new random server key (a Fernet key) for ``BOURSE_SECRET_KEY``."""
    return Fernet.generate_key().decode()


@dataclass(frozen=True, slots=True)
class ServerKeys:
    """The current key, the keys that still decrypt (during a rotation) and where it lives."""

    key: bytes
    #: other keys that still decrypt (an unfinished rotation's new or old key)
    others: tuple[bytes, ...] = ()
    #: the key file, or None when the key came from the configuration or the environment
    path: Path | None = None

    def fernet(self) -> MultiFernet:
        """Encrypts with ``key``; decrypts with ``key`` or any of ``others``."""
        return MultiFernet([Fernet(k) for k in (self.key, *self.others)])


def config_dir() -> Path:
    """Where the default key file lives (see the module docstring)."""
    for name in ("BOURSE_CONFIG_DIR", "BOURSE_HOME"):
        if os.environ.get(name):
            return Path(os.environ[name])
    xdg = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(xdg) / "bourse"


def data_dir(database_url: str | None) -> Path | None:
    """The directory of a SQLite database file (None for other databases)."""
    if not database_url:
        return None
    u = make_url(database_url)
    path = u.database
    if u.get_backend_name() != "sqlite" or not path or path == ":memory:":
        return None
    if path.startswith("file:"):
        return None
    return Path(path).resolve().parent


def _parse(raw: bytes | str, where: str) -> bytes:
    key = (raw.encode() if isinstance(raw, str) else raw).strip()
    try:
        Fernet(key)
    except (ValueError, TypeError):
        raise ServerKeyError(
            f"{where} is not a server key (make one: bourse keys new-master FILE)"
        ) from None
    return key


def read_key_file(path: Path) -> bytes:
    try:
        return _parse(path.read_bytes(), f"the key file {path}")
    except OSError as exc:
        raise ServerKeyError(f"cannot read the key file {path}: {exc.strerror}") from exc


def write_key_file(path: Path, key: bytes) -> None:
    """Create ``path`` holding ``key``, mode 0600, atomically (never half-written), durably;
    FileExistsError if it exists."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(key + b"\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.link(tmp, path)  # fails if another process created it meanwhile
    finally:
        tmp.unlink(missing_ok=True)
    _sync_dir(path.parent)


def replace_key_file(src: Path, dst: Path) -> None:
    """Rename ``src`` over ``dst`` (atomic), durably."""
    os.replace(src, dst)
    _sync_dir(dst.parent)


def _sync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _from_file(path: Path, *, create: bool) -> ServerKeys:
    nxt = path.with_name(path.name + NEXT_SUFFIX)
    if not path.exists():
        if nxt.exists():  # a rotation stopped after its commit, before its rename
            return ServerKeys(read_key_file(nxt), (), path)
        if not create:
            raise ServerKeyError(
                f"no server key at {path}: create it with `bourse keys new-master {path}` "
                "or set BOURSE_SECRET_KEY_FILE"
            )
        with contextlib.suppress(FileExistsError):  # another process made it first: theirs
            write_key_file(path, Fernet.generate_key())
    key = read_key_file(path)
    if nxt.exists():  # a rotation in progress or stopped half-way: both keys decrypt
        return ServerKeys(read_key_file(nxt), (key,), path)
    return ServerKeys(key, (), path)


def load_server_keys(
    secret_key: str | None = None,
    key_dir: str | None = None,
    database_url: str | None = None,
    *,
    key_file: str | None = None,
    required: bool = False,
) -> ServerKeys:
    """The server key (see the module docstring); ``ServerKeyError`` with one line if it is
    missing or misplaced. ``required``: production rules (nothing is created)."""
    raw = secret_key or os.environ.get("BOURSE_SECRET_KEY")
    if raw:
        return ServerKeys(_parse(raw, "BOURSE_SECRET_KEY"))
    data = data_dir(database_url)
    named = key_file or os.environ.get("BOURSE_SECRET_KEY_FILE")
    if named:
        path = Path(named).expanduser()
    elif key_dir:
        path = Path(key_dir) / KEY_FILE_NAME
    else:
        path = config_dir() / KEY_FILE_NAME
        legacy = data / KEY_FILE_NAME if data is not None else None
        if legacy is not None and legacy.exists() and not path.exists():
            if required:
                raise ServerKeyError(
                    f"the server key is beside the database ({legacy}): move it out of the "
                    "data directory and set BOURSE_SECRET_KEY_FILE to its new place"
                )
            return _from_file(legacy, create=False)
    if required and data is not None and path.resolve().parent == data:
        raise ServerKeyError(
            f"the key file {path} is in the database's directory: keep it apart from the data"
        )
    return _from_file(path, create=not required)


def load_server_key(
    secret_key: str | None = None, key_dir: str | None = None, database_url: str | None = None
) -> bytes:
    """The current server key alone (``load_server_keys(...).key``)."""
    return load_server_keys(secret_key, key_dir, database_url).key


@dataclass(frozen=True, slots=True)
class Rotation:
    """What ``rotate`` did."""

    api_secrets: int
    totp_secrets: int
    #: secrets no known key decrypts (already unusable; left as they were)
    unreadable: int
    #: where the new key is
    path: Path


def rotate(
    db: Engine,
    keys: ServerKeys,
    new_key_file: Path | None = None,
    before_commit: Callable[[], None] | None = None,
) -> Rotation:
    """Re-encrypt every API and TOTP secret under a new server key, in ONE transaction.

    The new key is written first (``<key file>.next``, or ``new_key_file`` when the current key
    came from ``BOURSE_SECRET_KEY``), durably; then the secrets are re-encrypted; then the key
    file is replaced. A crash at any point leaves keys ``load_server_keys`` still reads (the
    module docstring). The caller makes sure no server writes the database meanwhile;
    ``before_commit`` runs inside the transaction, last: raising there rolls it back (the staged
    key stays, as after a crash: a process may have loaded it already).

    The rows are locked in one global order, API keys first (``locked_rows``'s order), then
    users by id, so a write of the key paths racing it waits or goes first, never deadlocks."""
    if keys.path is None and new_key_file is None:
        raise ServerKeyError(
            "the server key comes from BOURSE_SECRET_KEY: give --new-key-file PATH for the new one"
        )
    target = new_key_file if new_key_file is not None else keys.path
    assert target is not None
    staged = target if new_key_file is not None else target.with_name(target.name + NEXT_SUFFIX)
    if staged.exists() and staged != keys.path:
        new = read_key_file(staged)  # a rotation that stopped half-way: finish it
    else:
        new = Fernet.generate_key()
        write_key_file(staged, new)
    old = MultiFernet([Fernet(k) for k in (keys.key, *keys.others) if k != new] or [Fernet(new)])
    fresh = Fernet(new)
    unreadable = 0

    def api(enc: bytes) -> bytes | None:
        nonlocal unreadable
        try:
            return fresh.encrypt(old.decrypt(enc))
        except InvalidToken:
            try:
                fresh.decrypt(enc)  # already under the new key (a resumed rotation)
            except InvalidToken:
                unreadable += 1
            return None

    def totp(stored: str) -> str | None:
        if not stored.startswith("enc:"):
            return None
        new_enc = api(stored[4:].encode())
        return None if new_enc is None else "enc:" + new_enc.decode()

    with write(db) as conn:
        n_api = ApiKeyRepository.reencrypt_all(conn, api)
        n_totp = UserRepository.reencrypt_totp(conn, totp)
        if before_commit is not None:
            before_commit()
    if new_key_file is None and keys.path is not None:
        replace_key_file(staged, keys.path)
    return Rotation(n_api, n_totp, unreadable, target)
