"""The operator audit log, on the shared ``metadata`` of ``bourse.store.tables``.

One row per operator action (``bourse.operations``), through the operator API or the ``bourse``
command on a stopped server, refused ones included: who (``actor``), what (``operation`` and its
``params`` as JSON), when (``time``, ms), from where (``source``: the client address, or
``local``) and how it ended (``outcome``: ok, error or refused, with ``detail``). Migration
``0009_operator_audit`` creates exactly this.
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
