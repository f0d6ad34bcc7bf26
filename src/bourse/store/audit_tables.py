"""The operator audit log, on the shared ``metadata`` of ``bourse.store.tables``.

One row per operator action (``bourse.operations``), through the operator API or the ``bourse``
command on a stopped server, refused ones included: who (``actor``), what (``operation`` and its
``params`` as JSON), when (``time``, ms), from where (``source``: the client address, or
``local``) and how it ended (``outcome``: ok, error or refused, with ``detail``). Migration
``0009_operator_audit`` creates exactly this.

``money_audit``: one row per money movement (transfer, deposit credit, withdrawal step, dust
conversion, rebate payout) with its origin (``api_key:<key>``, ``oauth:<client>``,
``operator:<actor>``, ``sandbox``, ``system``) and request id, written by the engine in the same
transaction as the movement (``bourse.engine.trace``). Migration ``0017_money_audit``.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, String, Table, Text

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
    Column("ref", BigInteger, nullable=True),
    Column("detail", Text, nullable=False),
    Index("ix_money_audit_time", "time"),
    Index("ix_money_audit_account", "account"),
)
