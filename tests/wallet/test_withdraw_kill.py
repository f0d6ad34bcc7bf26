"""kill -9 right after the engine acknowledged a withdrawal: its remark is in the store.

The remark is part of the withdrawal the engine commits (the ``withdrawals`` row its batch
writes), not a second write after that commit that a crash in between would lose.
``withdraw_kill_worker.py`` reserves a withdrawal with a remark through the wallet service and
SIGKILLs itself the moment the engine answered; a new engine on the same database (SQLite and
PostgreSQL) then shows the withdrawal with its remark in history, holds its reserve once, and
answers its identical retry with it (and another remark with the conflict).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from bourse.domain.errors import IdempotencyConflict
from bourse.domain.money import to_units
from bourse.engine import Engine
from bourse.sandbox.wallet import build_wallet
from bourse.store import tables as t
from bourse.store.db import make_engine
from bourse.store.sql import SqlStore

WORKER = Path(__file__).with_name("withdraw_kill_worker.py")
DEST_TRX = "T" + "A" * 33


def test_a_remark_acknowledged_by_the_engine_survives_kill_9(migrated_url: str) -> None:
    proc = subprocess.run(
        [sys.executable, str(WORKER), migrated_url, "wd-kill", "rent, due 1st"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.returncode == -signal.SIGKILL, proc.stdout + proc.stderr[-3000:]
    kind, account, wid = proc.stdout.split()
    assert kind == "ACK"
    account_id, withdrawal_id = int(account), int(wid)

    db = make_engine(migrated_url)
    engine = Engine(SqlStore(db))  # what the restarted process sees
    try:
        wallet = build_wallet(engine, db, b"restarted")
        (view,) = wallet.withdraw_history(account_id)
        assert (view.withdrawal.id, view.remark) == (withdrawal_id, "rent, due 1st")
        with db.connect() as conn:
            row = conn.execute(select(t.withdrawals).where(t.withdrawals.c.id == withdrawal_id))
            stored = row.mappings().one()
        assert (stored["client_id"], stored["remark"]) == ("wd-kill", "rent, due 1st")
        scale = wallet.asset("USDT").scale
        amount = to_units("30", scale)

        def retry(remark: str) -> int:
            w = wallet.withdraw(
                account_id, "USDT", "TRX", DEST_TRX, amount, client_id="wd-kill", remark=remark
            )
            return int(w.id)

        assert retry("rent, due 1st") == withdrawal_id
        with pytest.raises(IdempotencyConflict):
            retry("")
        held = engine.read(lambda e: e.exchange.ledger.locked(account_id, "USDT"))
        assert held == amount
    finally:
        engine.stop()
        engine.store.close()
        db.dispose()
