"""Run an operation for a command: through the running server's operator API when one runs
for the database, else on the database directly. Both ways return the same JSON.

A server (``bourse serve``, else a ``bourse gateway``, whose engine then runs the operation)
announces itself in ``$BOURSE_HOME/run/`` (``bourse.operations.runtime``); the command sends
``POST /admin/v1/<group>/<verb>`` with the operator credential kept in the same home.
With no server, the command opens the platform itself (bounded lock waits, no schedulers),
runs the operation and closes it. Either way a refusal ends the command with one line; one of
something that does not exist, on a database no ``--db`` named, says which database that was
(``account 110 does not exist (in ./.bourse/bourse.db, no server running)``).
"""

from __future__ import annotations

import getpass
import json
import socket
from http.client import HTTPConnection, HTTPException, HTTPSConnection
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bourse.cli.common import db_url, direct_config, fail, open_platform, safe_url, shown_db
from bourse.operations.home import PREFIX, TOKEN_FILE, home_for, read_token
from bourse.operations.runtime import running_server

#: seconds to wait for a running server's answer, and to connect to it
TIMEOUT_S = 30.0
CONNECT_S = 5.0


def actor() -> str:
    """``user@host`` of the person running the command, for the audit log."""
    try:
        user = getpass.getuser()
    except Exception:
        user = "unknown"
    return f"{user}@{socket.gethostname()}"[:64]


def run(
    db: str | None,
    name: str,
    params: dict[str, Any] | None = None,
    *,
    quiet: bool = False,
    timeout: float = TIMEOUT_S,
) -> Any:
    """The result of operation ``name`` on the database of ``db`` (see the module docstring);
    ``timeout``: seconds to wait for a running server's answer."""
    url = db_url(db)
    body = {k: v for k, v in (params or {}).items() if v is not None}
    home = home_for(url)
    server = running_server(home, url)
    if server is not None:
        return _remote(server.url, read_token(home), name, body, home=str(home), timeout=timeout)
    from bourse.operations import OPERATIONS, OperationError, invoke

    op = OPERATIONS.get(name)
    if op is not None and op.demo_only:  # the sandbox is a running demo's, not the database's
        raise fail(
            f"no server runs for {safe_url(url)}: the sandbox lives in a running "
            "`bourse serve --demo` (scripts/run)"
        )
    with open_platform(url, quiet=quiet, **direct_config()) as platform:
        try:
            return invoke(platform, name, body, actor=f"local ({actor()})", source="local")
        except OperationError as exc:
            if exc.status == 404 and db is None:  # which database the lookup found lacks it
                raise fail(f"{exc} (in {shown_db(url)}, no server running)") from exc
            raise fail(str(exc)) from exc


def _remote(
    base: str,
    token: str | None,
    name: str,
    body: dict[str, Any],
    *,
    home: str,
    timeout: float = TIMEOUT_S,
) -> Any:
    if token is None:
        raise fail(f"a server runs at {base} but {home} holds no operator.token readable by you")
    token_path = Path(home) / TOKEN_FILE

    group, _, verb = name.partition(".")
    try:
        status, raw = _post(
            base,
            f"{PREFIX}/{group}/{verb}",
            # JSON's escapes, not UTF-8: a command line's bytes that are not UTF-8 arrive as
            # lone surrogates, which UTF-8 cannot encode and the server refuses
            json.dumps(body).encode(),
            {
                "Authorization": f"Bearer {token}",
                "X-Bourse-Actor": actor(),
                "Content-Type": "application/json",
            },
            timeout,
        )
    except (OSError, HTTPException) as exc:
        raise fail(f"cannot reach the server at {base}: {exc or type(exc).__name__}") from exc
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if status == 401:  # the command always sends the credential it read
        raise fail(f"the running server refused the operator credential in {token_path}")
    if status != 200:
        msg = data.get("msg") if isinstance(data, dict) else None
        raise fail(msg or f"the server at {base} answered HTTP {status}")
    return data


def _post(
    base: str, path: str, body: bytes, headers: dict[str, str], timeout: float
) -> tuple[int, bytes]:
    """POST ``body`` to ``path`` under ``base``: the status and the body of the answer. The
    standard library's client, not httpx: importing httpx (and the click and pygments its own
    command line brings) cost every command that a running server serves more than the rest of
    its start."""
    url = urlsplit(base)
    connection = HTTPSConnection if url.scheme == "https" else HTTPConnection
    conn = connection(url.hostname or "localhost", url.port, timeout=CONNECT_S)
    try:
        conn.connect()
        if conn.sock is not None:
            conn.sock.settimeout(timeout)
        conn.request("POST", url.path.rstrip("/") + path, body=body, headers=headers)
        answer = conn.getresponse()
        return answer.status, answer.read()
    finally:
        conn.close()


__all__ = ["run", "safe_url"]
