"""The operator console's sessions, on the shared ``metadata`` of ``bourse.store.tables``.

One row per signed-in browser (``bourse.web.operator_session``): the SHA-256 of its session id
(never the id), its CSRF token, and when it began and was last used (ms), so every gateway
process of one database knows it. Migration ``0018_operator_sessions`` creates exactly this.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, String, Table

from bourse.store.tables import metadata

operator_sessions = Table(
    "operator_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("csrf", String(64), nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("last_seen", BigInteger, nullable=False),
)
