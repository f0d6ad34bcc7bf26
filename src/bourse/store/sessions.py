"""The Bourse servers connected to a PostgreSQL database, from ``pg_stat_activity``: each
session's ``application_name`` says which process it is (``bourse.store.db.identify``).

``bourse keys rotate-master`` asks before it re-encrypts: a server on another host, or under
another ``$BOURSE_HOME``, keeps the old key in memory and its runtime file is not where the
command looks. ``application_name`` is shown for every session, whichever database user it
is; the client address only to the same user (or ``pg_read_all_stats``). The question is
bounded: ``ASK_TIMEOUT_S`` to connect, as much to answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import make_url

from bourse.store.db import SERVER_APPLICATION_NAMES, normalize_url, pg_connect

#: seconds to connect, and again to answer, before the question fails
ASK_TIMEOUT_S = 5

_QUERY = """
SELECT application_name,
       CASE WHEN client_addr IS NOT NULL THEN host(client_addr)
            WHEN client_port = -1 THEN 'a local socket'
            ELSE 'an address hidden from this database user' END,
       count(*)
  FROM pg_stat_activity
 WHERE datname = current_database() AND pid <> pg_backend_pid()
   AND application_name = ANY(%s)
 GROUP BY 1, 2
 ORDER BY 1, 2
"""


@dataclass(frozen=True)
class Connected:
    """The sessions of one server role from one client address."""

    role: str  #: the sessions' ``application_name`` (``bourse-gateway``, ...)
    client: str  #: the client's address, or how it connects when the address is not shown
    sessions: int

    def label(self) -> str:
        plural = "" if self.sessions == 1 else "s"
        return f"{self.role} from {self.client} ({self.sessions} session{plural})"


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
        rows = conn.execute(_QUERY, (sorted(SERVER_APPLICATION_NAMES),)).fetchall()
    return [Connected(str(name), str(client), int(n)) for name, client, n in rows]
