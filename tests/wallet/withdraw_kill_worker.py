"""Kill worker: one withdrawal with a remark, then SIGKILL the moment the engine acknowledges it.

    python withdraw_kill_worker.py DB_URL CLIENT_ID REMARK

On an already migrated database: lists the demo assets, opens an account, credits it 100 USDT,
starts the engine thread, and calls ``WalletService.withdraw`` of 30 USDT on TRX. The engine's
``execute`` is wrapped: once the engine has committed the ``ReserveWithdrawal`` and answered,
the worker prints ``ACK <account> <withdrawal id>`` and kills itself with SIGKILL, so nothing
the wallet service would do after the engine's commit ever runs.
``tests/wallet/test_withdraw_kill.py`` then looks at what the database holds.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from bourse.domain.accounts import AccountKind
from bourse.domain.money import to_units
from bourse.engine import Engine
from bourse.engine import commands as c
from bourse.sandbox.listings import ASSETS, SYMBOLS
from bourse.sandbox.wallet import build_wallet
from bourse.store.db import make_engine
from bourse.store.sql import SqlStore

SECRET = b"withdraw-kill-worker"
DEST_TRX = "T" + "A" * 33


def main(argv: list[str]) -> int:
    url, client_id, remark = argv
    db = make_engine(url)
    engine = Engine(SqlStore(db))
    engine.apply_batch_now([c.AddAsset(a) for a in ASSETS] + [c.AddSymbol(s) for s in SYMBOLS])
    (account,) = engine.apply_batch_now([c.OpenAccount(AccountKind.USER, name="killed")])
    scale = engine.wallet.assets["USDT"].scale
    engine.apply_batch_now([c.CreditDeposit(account.id, "USDT", to_units("100", scale), "fund")])
    engine.start()
    wallet = build_wallet(engine, db, SECRET)
    execute = engine.execute

    def execute_then_die(command: c.Command, timeout: float | None = 30.0) -> Any:
        result = execute(command, timeout)
        if isinstance(command, c.ReserveWithdrawal):
            sys.stdout.write(f"ACK {account.id} {result.id}\n")
            sys.stdout.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    engine.execute = execute_then_die  # type: ignore[method-assign]
    wallet.withdraw(
        account.id,
        "USDT",
        "TRX",
        DEST_TRX,
        to_units("30", scale),
        client_id=client_id,
        remark=remark,
    )
    sys.stdout.write("NOT KILLED\n")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
