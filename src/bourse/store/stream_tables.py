"""User-data stream tables, on the shared ``metadata`` of ``bourse.store.tables``.

``listen_keys``: one row per listenKey (MEXC's ``/api/v3/userDataStream``): the account whose
private streams it opens, when it was created and until when it is valid (PUT extends it), and
the credential that created it: ``api_key`` (an API key of the account), or ``oauth_client`` and
``oauth_family`` (an OAuth grant: the token family of ``bourse.oauth.tokens``), or neither (the
account itself: the web console's trade page, and keys created before owners were recorded);
``web_session``, for a key of the web console's trade page, the id hash of the session
(``sessions``) it was made in. Migrations ``0006_listen_keys``, ``0021_listen_key_owners`` and
``0024_listen_key_sessions`` create exactly this.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, String, Table

from bourse.store.tables import metadata

listen_keys = Table(
    "listen_keys",
    metadata,
    Column("listen_key", String(64), primary_key=True),
    Column("account_id", BigInteger, nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("expires", BigInteger, nullable=False),
    Column("api_key", String(64), nullable=True),
    Column("oauth_client", String(64), nullable=True),
    Column("oauth_family", String(64), nullable=True),
    Column("web_session", String(64), nullable=True),
    Index("ix_listen_keys_account", "account_id", "expires"),
)
