"""A seeded random walk over the whole wallet: deposits (some re-reported), withdrawals (some
retried, some above the review threshold), cancels, approvals, transfers, blocks, chain failures
and stuck transactions. After every step the books must agree with a model that only counts
what the chain and the engine said."""

from __future__ import annotations

import random

import pytest

from bourse.domain.errors import DomainError
from bourse.domain.wallet import WithdrawalStatus as WS
from tests.support.wallet import WalletWorld, _world, assert_books_balance

DEST = "T" + "F" * 33
STEPS = 150


def _check(w: WalletWorld, accounts: list[int]) -> None:
    """locked == what open withdrawals reserve; available + locked == credited deposits minus
    settled withdrawals (amount + fee) plus net transfers; the ledger balances."""
    w.engine.read(lambda e: e.exchange.ledger.check())
    for acc in accounts:
        views = w.wallet.withdraw_history(acc, start=0)
        open_ = sum(
            v.withdrawal.amount + v.withdrawal.fee
            for v in views
            if v.withdrawal.status in (WS.PENDING, WS.REVIEW, WS.PROCESSING)
        )
        settled = sum(
            v.withdrawal.amount + v.withdrawal.fee
            for v in views
            if v.withdrawal.status is WS.SUCCESS
        )
        credited = sum(
            v.deposit.amount for v in w.wallet.deposit_history(acc, start=0) if v.deposit.credited
        )
        moved_in = sum(r.amount for r in w.wallet.transfers(to_accounts=[acc], start=0)[0])
        moved_out = sum(r.amount for r in w.wallet.transfers(from_accounts=[acc], start=0)[0])
        assert w.locked(acc, "USDT") == open_
        total = w.available(acc, "USDT") + w.locked(acc, "USDT")
        assert total == credited - settled + moved_in - moved_out


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_walk(migrated_url: str, seed: int) -> None:
    rng = random.Random(seed)
    for w in _world(migrated_url, started=False, failure_rate=0.2, stuck_rate=0.1):
        w.wallet.settings.review_above["USDT"] = "300"
        accounts = [w.alice, w.bob]
        sent: list[tuple[str, str, int, int]] = []  # (address, txid, vout, amount) to replay
        withdrawals: list[tuple[int, int]] = []  # (account, id)
        for step in range(STEPS):
            acc = rng.choice(accounts)
            op = rng.random()
            try:
                if op < 0.25:
                    a = w.wallet.deposit_address(acc, "USDT", "TRX")
                    amt = w.units("USDT", str(rng.randint(1, 500)))
                    d = w.chain.send_deposit(a.address, "", "USDT", "TRX", amt)
                    sent.append((a.address, d.txid, d.vout, amt))
                elif op < 0.32 and sent:
                    address, txid, vout, amt = rng.choice(sent)  # the chain re-reports
                    w.chain.send_deposit(address, "", "USDT", "TRX", amt, txid=txid, vout=vout)
                elif op < 0.55:
                    amt = w.units("USDT", str(rng.randint(5, 400)))
                    cid = f"w{rng.randint(0, 15)}"  # collisions: retries or conflicts
                    wd = w.wallet.withdraw(acc, "USDT", "TRX", DEST, amt, client_id=cid)
                    withdrawals.append((acc, wd.id))
                elif op < 0.62 and withdrawals:
                    owner, wid = rng.choice(withdrawals)
                    w.wallet.cancel_withdrawal(owner, wid)
                elif op < 0.67 and withdrawals:
                    w.wallet.approve_withdrawal(rng.choice(withdrawals)[1])
                elif op < 0.72 and withdrawals:
                    w.chain.rebroadcast(rng.choice(withdrawals)[1])
                elif op < 0.82:
                    other = w.bob if acc == w.alice else w.alice
                    amt = w.units("USDT", str(rng.randint(1, 200)))
                    from bourse.engine import commands as c

                    w.engine.execute(c.Transfer(acc, other, "USDT", amt, client_id=f"t{step}"))
                else:
                    w.chain.advance(rng.randint(1, 4))
            except DomainError:
                pass  # refused: nothing may have changed, which _check verifies
            _check(w, accounts)
        w.chain.advance(50)
        _check(w, accounts)
        assert_books_balance(w)
