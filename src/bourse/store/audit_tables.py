"""The operator audit log, on the shared ``metadata`` of ``bourse.store.tables``.

One row per operator action (``bourse.operations``), through the operator API or the ``bourse``
command on a stopped server, refused ones included: who (``actor``), what (``operation`` and its
``params`` as JSON), when (``time``, ms), from where (``source``: the client address, or
``local``) and how it ended (``outcome``: ok, error or refused, with ``detail``). Migration
``0009_operator_audit`` creates exactly this.

``money_audit``: money movements (transfer, deposit credit, withdrawal step, dust conversion,
rebate payout, sandbox reset) with their origin (``api_key:<key>``, ``oauth:<client>``,
``operator:<actor>``, ``sandbox``, ``system``) and request id, written by the engine in the same
transaction as the movement (``bourse.engine.trace.origin_records``): one row per account and
asset a movement moved money into (``direction`` "in") or out of ("out"), ``amount`` in units
(never negative), or one row of direction "" for a withdrawal step that held or released the
account's funds or only changed the withdrawal's state. ``leg`` numbers a movement's rows (0:
the first, whose ``detail`` holds the command's fields). Migration ``0017_money_audit``;
``0020_money_audit_legs`` added ``direction`` and ``leg`` and split the rows stored before.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, SmallInteger, String, Table, Text

from bourse.store.tables import Id, metadata

operator_audit = Table(
    "operator_audit",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("time", BigInteger, nullable=False),
    Column("actor", String(128), nullable=False),
    Column("source", String(64), nullable=False),
    Column("operation", String(64), nullable=False),
    Column("params", Text, nullable=False),
    Column("outcome", String(8), nullable=False),
    Column("detail", Text, nullable=False),
    Index("ix_operator_audit_time", "time"),
)

money_audit = Table(
    "money_audit",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("time", BigInteger, nullable=False),
    Column("command", String(32), nullable=False),
    Column("origin", String(128), nullable=False),
    Column("request_id", String(64), nullable=False),
    Column("account", BigInteger, nullable=True),
    Column("asset", String(32), nullable=False),
    Column("amount", BigInteger, nullable=True),
    Column("direction", String(3), nullable=False, default=""),
    Column("leg", SmallInteger, nullable=False, default=0),
    Column("ref", BigInteger, nullable=True),
    Column("detail", Text, nullable=False),
    Index("ix_money_audit_time", "time"),
    Index("ix_money_audit_account", "account", "time"),
)
