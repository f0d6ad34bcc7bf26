"""A listenKey made by the web console records the session it was made in
(``listen_keys.web_session``, the session's id hash): it opens streams only while that session
is live, so a log-out, a revocation or the session's expiry ends it and its open streams.
Keys made before have none and count as the account's own, as before (they lapse within 60
minutes unless extended). The downgrade deletes the session keys: the schema before has no
session, so it would keep them streaming after their log-out.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("listen_keys") as batch:
        batch.add_column(sa.Column("web_session", sa.String(64), nullable=True))


_keys = sa.table("listen_keys", sa.column("web_session"))


def downgrade() -> None:
    op.execute(_keys.delete().where(_keys.c.web_session.isnot(None)))
    with op.batch_alter_table("listen_keys") as batch:
        batch.drop_column("web_session")
