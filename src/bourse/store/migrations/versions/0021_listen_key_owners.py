"""A listenKey records the credential that created it (``bourse.store.stream_tables``): an API
key, or an OAuth grant (client and token family). Keys created before have neither and count as
the account's own (as the web console's do): they lapse within 60 minutes unless extended.
The downgrade deletes the keys of OAuth grants: the schema before has no owner, so it would hand
them to every credential of the account, and keep them streaming after the grant's revocation.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("listen_keys") as batch:
        batch.add_column(sa.Column("api_key", sa.String(64), nullable=True))
        batch.add_column(sa.Column("oauth_client", sa.String(64), nullable=True))
        batch.add_column(sa.Column("oauth_family", sa.String(64), nullable=True))


_keys = sa.table("listen_keys", sa.column("oauth_family"))


def downgrade() -> None:
    op.execute(_keys.delete().where(_keys.c.oauth_family.isnot(None)))
    with op.batch_alter_table("listen_keys") as batch:
        batch.drop_column("oauth_family")
        batch.drop_column("oauth_client")
        batch.drop_column("api_key")
