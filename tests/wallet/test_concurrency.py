"""Many threads withdrawing and transferring against one balance on a started engine: never an
overdraft, never a double spend, and retried client ids act once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from bourse.domain.errors import InsufficientBalance
from bourse.domain.wallet import WithdrawalStatus as WS
from bourse.engine import commands as c
from bourse.services.wallet import WithdrawalRequest
from tests.support.wallet import WalletWorld, assert_books_balance, with_fee

DEST = "T" + "C" * 33
THREADS = 16
TIMEOUT = 120


def test_parallel_withdrawals_and_transfers_never_overdraw(live_world: WalletWorld) -> None:
    w = live_world
    w.fund(w.alice, "USDT", "1000")
    start = threading.Barrier(THREADS, timeout=30)
    ten = w.units("USDT", "10")  # withdrawals of 10 (9 + 1 fee), transfers of 10
    outcomes: list[tuple[str, bool]] = []
    lock = threading.Lock()

    def worker(i: int) -> None:
        start.wait()
        for j in range(12):  # 16 x 12 x 10 = 1920 USDT asked for, 1000 available
            try:
                if (i + j) % 3 == 0:
                    w.wallet.universal_transfer(w.alice, "SPOT", "FUTURES", "USDT", ten)
                    kind = "transfer_futures"
                elif (i + j) % 3 == 1:
                    w.engine.execute(
                        c.Transfer(w.alice, w.bob, "USDT", ten, client_id=f"t-{i}-{j}")
                    )
                    kind = "transfer_bob"
                else:
                    w.wallet.withdraw(w.alice, "USDT", "TRX", DEST, ten, client_id=f"w-{i}-{j}")
                    kind = "withdraw"
                ok = True
            except InsufficientBalance:
                kind, ok = "refused", False
            with lock:
                outcomes.append((kind, ok))

    with ThreadPoolExecutor(THREADS) as pool:
        for f in [pool.submit(worker, i) for i in range(THREADS)]:
            f.result(TIMEOUT)

    done = [k for k, ok in outcomes if ok]
    assert len(done) == 100  # exactly what 1000 USDT covers
    assert len(outcomes) - len(done) == THREADS * 12 - 100
    fut = w.wallet.wallet_account(w.alice, "FUTURES", create=False)
    assert fut is not None
    assert w.available(w.alice, "USDT") == 0
    assert w.locked(w.alice, "USDT") == ten * done.count("withdraw")
    assert w.available(fut, "USDT") == ten * done.count("transfer_futures")
    assert w.available(w.bob, "USDT") == ten * done.count("transfer_bob")
    assert_books_balance(w)
    # and the chain settles every reserved withdrawal exactly once
    w.chain.advance(10)
    views = w.wallet.withdraw_history(w.alice)
    assert len(views) == done.count("withdraw")
    assert all(v.withdrawal.status is WS.SUCCESS for v in views)
    assert w.locked(w.alice, "USDT") == 0
    assert_books_balance(w)


def test_concurrent_retries_of_one_client_id_act_once(live_world: WalletWorld) -> None:
    w = live_world
    w.fund(w.alice, "USDT", "100")
    amt = w.units("USDT", "60")
    start = threading.Barrier(THREADS, timeout=30)

    def withdraw(_: int) -> int:
        start.wait()
        return w.wallet.withdraw(w.alice, "USDT", "TRX", DEST, amt, client_id="same").id

    with ThreadPoolExecutor(THREADS) as pool:
        ids = [f.result(TIMEOUT) for f in [pool.submit(withdraw, i) for i in range(THREADS)]]
    assert len(set(ids)) == 1
    assert w.locked(w.alice, "USDT") == amt

    start2 = threading.Barrier(THREADS, timeout=30)

    def transfer(_: int) -> int:
        start2.wait()
        return w.engine.execute(
            c.Transfer(w.alice, w.bob, "USDT", w.units("USDT", "40"), client_id="tx-same")
        )

    with ThreadPoolExecutor(THREADS) as pool:
        tids = [f.result(TIMEOUT) for f in [pool.submit(transfer, i) for i in range(THREADS)]]
    assert len(set(tids)) == 1
    assert w.available(w.bob, "USDT") == w.units("USDT", "40")
    assert w.available(w.alice, "USDT") == 0
    assert_books_balance(w)


def test_the_consoles_checks_racing_a_form_sent_twice_reserve_nothing(
    live_world: WalletWorld,
) -> None:
    """The console's ``check_withdrawal`` sent at once with the withdrawals of the same form
    (one client id), then with the fee raised past the amount: the checks reserve nothing,
    the withdrawals reserve once, and each check answers None (the id not yet used) or that
    withdrawal, never the refusal of the new fee once the id is taken."""
    w = live_world
    w.fund(w.alice, "USDT", "100")
    amt = w.units("USDT", "30")
    req = WithdrawalRequest(w.alice, "USDT", "TRX", DEST, amt, client_id="web-twice")

    def race() -> tuple[set[int | None], set[int | None]]:
        """Half the threads check, half withdraw: the ids each half was answered."""
        start = threading.Barrier(THREADS, timeout=30)

        def send(i: int) -> int | None:
            start.wait()
            if i % 2:
                got = w.wallet.check_withdrawal(req)
                return None if got is None else got.id
            return w.wallet.withdraw(w.alice, "USDT", "TRX", DEST, amt, client_id="web-twice").id

        with ThreadPoolExecutor(THREADS) as pool:
            ids = [f.result(TIMEOUT) for f in [pool.submit(send, i) for i in range(THREADS)]]
        return set(ids[0::2]), set(ids[1::2])

    made, checked = race()
    assert len(made) == 1 and checked <= made | {None}, (made, checked)
    assert w.locked(w.alice, "USDT") == amt
    w.restart(with_fee("USDT", "TRX", "40"))  # a new request of 30 is refused now
    assert race() == (made, made)
    assert (w.available(w.alice, "USDT"), w.locked(w.alice, "USDT")) == (w.units("USDT", "70"), amt)
    assert_books_balance(w)


def test_parallel_deposits_and_chain_thread(live_world: WalletWorld) -> None:
    """Deposits sent from many threads while the chain thread mines: each credited once."""
    import time

    w = live_world
    w.chain.block_interval = 0.01
    a = w.wallet.deposit_address(w.bob, "BTC", "BTC")
    one = w.units("BTC", "0.01")
    w.chain.start(max_blocks=2000)

    def send(i: int) -> None:
        for j in range(5):
            txid = f"{i:02d}{j:02d}" + "0" * 60
            w.chain.send_deposit(a.address, "", "BTC", "BTC", one, txid=txid)
            w.chain.send_deposit(a.address, "", "BTC", "BTC", one, txid=txid)  # re-reported

    with ThreadPoolExecutor(8) as pool:
        for f in [pool.submit(send, i) for i in range(8)]:
            f.result(TIMEOUT)
    deadline = time.monotonic() + 60
    while w.available(w.bob, "BTC") < 40 * one and time.monotonic() < deadline:
        time.sleep(0.02)
    w.chain.advance(5)
    w.chain.stop()
    assert w.available(w.bob, "BTC") == 40 * one
    assert_books_balance(w)
