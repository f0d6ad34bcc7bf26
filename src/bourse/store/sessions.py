"""The Bourse servers connected to a PostgreSQL database, from ``pg_stat_activity``: each
session's ``application_name`` says which process it is (``bourse.store.db.identify``).

``bourse keys rotate-master`` asks before it re-encrypts: a server on another host, or under
another ``$BOURSE_HOME``, keeps the old key in memory and its runtime file is not where the
command looks. ``application_name`` is shown for every session, whichever database user it
is; the client address only to the same user (or ``pg_read_all_stats``). The question is
bounded: ``ASK_TIMEOUT_S`` to connect, as much to answer. ``bourse restore`` names every
session that makes it refuse the same way (``sessions_of``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

from bourse.store.db import (
    APPLICATION_NAMES,
    SERVER_APPLICATION_NAMES,
    normalize_url,
    pg_connect,
)

#: seconds to connect, and again to answer, before the question fails
ASK_TIMEOUT_S = 5

_QUERY = """
SELECT CASE WHEN application_name = ANY(%(bourse)s) THEN application_name END,
       CASE WHEN client_addr IS NOT NULL THEN host(client_addr)
            WHEN client_port = -1 THEN 'a local socket'
            WHEN backend_type <> 'client backend'
                 THEN 'the database server (' || backend_type || ')'
            ELSE 'an address hidden from this database user' END,
       count(*),
       array_agg(DISTINCT application_name) FILTER (WHERE application_name <> '')
  FROM pg_stat_activity
 WHERE datname = COALESCE(%(database)s, current_database()) AND pid <> pg_backend_pid()
   AND (%(every)s OR application_name = ANY(%(servers)s))
 GROUP BY 1, 2
 ORDER BY 1, 2
"""

#: the role of the sessions that are no Bourse process's (``psql``, a monitoring agent, ...)
OTHER_CLIENTS = "other clients"


@dataclass(frozen=True)
class Connected:
    """The sessions of one role from one client address."""

    role: str  #: the sessions' ``application_name`` (``bourse-gateway``, ...), else OTHER_CLIENTS
    client: str  #: the client's address, or how it connects when the address is not shown
    sessions: int
    names: tuple[str, ...] = ()  #: other clients' ``application_name``s, those that are set

    def label(self) -> str:
        plural = "" if self.sessions == 1 else "s"
        names = ", ".join(self.names) + "; " if self.names else ""
        return f"{self.role} from {self.client} ({names}{self.sessions} session{plural})"


def sessions_of(
    conn: psycopg.Connection[Any], database: str | None = None, *, servers_only: bool = False
) -> list[Connected]:
    """The sessions connected to ``database`` (default: ``conn``'s own) but ``conn``'s, by
    role and client address: Bourse processes by their name, the rest as OTHER_CLIENTS;
    ``servers_only`` keeps the server roles (``SERVER_APPLICATION_NAMES``) alone."""
    rows = conn.execute(
        _QUERY,
        {
            "bourse": sorted(APPLICATION_NAMES.values()),
            "database": database,
            "every": not servers_only,
            "servers": sorted(SERVER_APPLICATION_NAMES),
        },
    ).fetchall()
    return [
        Connected(
            str(role) if role is not None else OTHER_CLIENTS,
            str(client),
            int(n),
            tuple(sorted(names or ())) if role is None else (),
        )
        for role, client, n, names in rows
    ]


def connected_servers(url: str) -> list[Connected]:
    """The server-role sessions (``SERVER_APPLICATION_NAMES``) connected to the database of
    ``url`` but this question's own, by role and client address; [] for a SQLite database.
    Raises ``psycopg.Error`` if the database does not answer within the timeouts."""
    u = make_url(normalize_url(url))
    if u.get_backend_name() != "postgresql":
        return []
    libpq = u.set(drivername="postgresql").render_as_string(hide_password=False)
    with pg_connect(libpq, autocommit=True, connect_timeout=ASK_TIMEOUT_S) as conn:
        conn.execute("SELECT set_config('statement_timeout', %s, false)", (f"{ASK_TIMEOUT_S}s",))
        return sessions_of(conn, servers_only=True)
