"""Two-phase withdrawals: reserve, review, cancel, broadcast, settle or fail; never a refund
while the chain has not said what happened."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from sqlalchemy import select, update

from bourse.domain.accounts import CHAIN_CLEARING, FEE_REVENUE
from bourse.domain.errors import (
    AccountFrozen,
    AddressNotWhitelisted,
    ContractMismatch,
    IdempotencyConflict,
    InsufficientBalance,
    InvalidAddress,
    InvalidParameter,
    MemoRequired,
    WithdrawalNotCancelable,
    WithdrawalNotFound,
    WithdrawAmountOutOfRange,
    WithdrawDisabled,
)
from bourse.domain.wallet import Withdrawal
from bourse.domain.wallet import WithdrawalStatus as WS
from bourse.engine import commands as c
from bourse.engine.idempotency import fingerprint
from bourse.services.wallet import WithdrawalRequest
from bourse.store import tables
from bourse.store import wallet_tables as wt
from tests.support.wallet import (
    WalletWorld,
    assert_books_balance,
    with_default_network,
    with_fee,
    with_network,
)

DEST_TRX = "T" + "A" * 33
DEST_ETH = "0x" + "ab" * 20


def _status(world: WalletWorld, account: int, wid: int) -> tuple[WS, int]:
    views = world.wallet.withdraw_history(account, withdrawal_ids=[wid])
    assert len(views) == 1
    return views[0].withdrawal.status, views[0].mexc_status


def test_success_posts_amount_to_chain_and_fee_to_revenue(world: WalletWorld) -> None:
    world.fund(world.alice, "USDT", "100")
    fee = world.units("USDT", "1")  # TRX network fee
    w = world.wallet.withdraw(
        world.alice, "USDT", "TRX", DEST_TRX, world.units("USDT", "40"), remark="rent"
    )
    assert (w.status, w.amount, w.fee) == (WS.PENDING, world.units("USDT", "39"), fee)
    assert world.available(world.alice, "USDT") == world.units("USDT", "60")
    assert world.locked(world.alice, "USDT") == world.units("USDT", "40")
    assert _status(world, world.alice, w.id) == (WS.PENDING, 1)
    clearing_before = world.available(CHAIN_CLEARING, "USDT")

    world.chain.advance(1)  # signed and broadcast
    assert _status(world, world.alice, w.id) == (WS.PROCESSING, 4)
    world.chain.advance(1)  # included: 1 of 3 confirmations
    assert _status(world, world.alice, w.id) == (WS.PROCESSING, 6)
    assert world.locked(world.alice, "USDT") == world.units("USDT", "40")
    report = world.chain.advance(2)
    assert report.settled == 1
    view = world.wallet.withdraw_history(world.alice, withdrawal_ids=[w.id])[0]
    assert (view.withdrawal.status, view.mexc_status, view.remark) == (WS.SUCCESS, 7, "rent")
    assert view.withdrawal.txid and view.confirmations == 3
    assert world.locked(world.alice, "USDT") == 0
    assert world.available(world.alice, "USDT") == world.units("USDT", "60")
    assert world.available(CHAIN_CLEARING, "USDT") - clearing_before == w.amount
    assert world.available(FEE_REVENUE, "USDT") == fee
    world.chain.advance(10)  # nothing happens twice
    assert world.available(FEE_REVENUE, "USDT") == fee
    assert_books_balance(world)


def test_review_then_approve(world: WalletWorld) -> None:
    world.fund(world.bob, "BTC", "3")
    w = world.wallet.withdraw(world.bob, "BTC", None, "bc1q" + "q" * 38, world.units("BTC", "2"))
    assert w.status is WS.REVIEW  # above the 1 BTC threshold
    world.chain.advance(20)
    assert _status(world, world.bob, w.id) == (WS.REVIEW, 2)  # the chain never touches it
    world.wallet.approve_withdrawal(w.id)
    world.chain.advance(4)
    assert _status(world, world.bob, w.id) == (WS.SUCCESS, 7)
    assert world.available(world.bob, "BTC") == world.units("BTC", "1")
    assert_books_balance(world)


def test_cancel_before_broadcast_releases_the_reserve(world: WalletWorld) -> None:
    world.fund(world.alice, "USDT", "50")
    w = world.wallet.withdraw(world.alice, "USDT", "ETH", DEST_ETH, world.units("USDT", "20"))
    with pytest.raises(WithdrawalNotFound):
        world.wallet.cancel_withdrawal(world.bob, w.id)  # not bob's
    got = world.wallet.cancel_withdrawal(world.alice, w.id)
    assert got.status is WS.CANCELED
    assert world.available(world.alice, "USDT") == world.units("USDT", "50")
    assert _status(world, world.alice, w.id) == (WS.CANCELED, 9)
    with pytest.raises(WithdrawalNotCancelable):
        world.wallet.cancel_withdrawal(world.alice, w.id)
    world.chain.advance(10)
    assert world.available(world.alice, "USDT") == world.units("USDT", "50")
    # a review can be cancelled too, and rejected by the operator
    r = world.wallet.withdraw(world.alice, "USDT", "ETH", DEST_ETH, world.units("USDT", "30"))
    world.wallet.settings.review_above["USDT"] = "10"
    r2 = world.wallet.withdraw(world.alice, "USDT", "ETH", DEST_ETH, world.units("USDT", "15"))
    assert r2.status is WS.REVIEW
    assert world.wallet.reject_withdrawal(r2.id).status is WS.CANCELED
    # a second review of it says it is final; one of an unknown id says there is no such one
    for review in (world.wallet.approve_withdrawal, world.wallet.reject_withdrawal):
        with pytest.raises(WithdrawalNotCancelable, match=f"^withdrawal {r2.id} is CANCELED, not"):
            review(r2.id)
        with pytest.raises(WithdrawalNotFound, match="^withdrawal 999999 does not exist$"):
            review(999_999)
    # once broadcast it cannot be cancelled any more
    world.chain.advance(1)
    assert _status(world, world.alice, r.id)[0] is WS.PROCESSING
    with pytest.raises(WithdrawalNotCancelable):
        world.wallet.cancel_withdrawal(world.alice, r.id)
    assert_books_balance(world)


def test_a_rejection_after_an_approval_refuses_instead_of_cancelling(world: WalletWorld) -> None:
    """The review is checked by the engine with the rejection itself: once approved, a
    rejection (say one that read "in review" a moment before) is refused and the approval
    stands; a user's own cancel of a PENDING withdrawal is still allowed."""
    world.fund(world.bob, "BTC", "5")
    addr = "bc1q" + "q" * 38
    w = world.wallet.withdraw(world.bob, "BTC", None, addr, world.units("BTC", "2"))
    world.engine.execute(c.ApproveWithdrawal(w.id))
    with pytest.raises(InvalidParameter, match="not waiting for review"):
        world.engine.execute(c.RejectWithdrawal(w.id))
    assert _status(world, world.bob, w.id)[0] is WS.PENDING
    assert world.wallet.cancel_withdrawal(world.bob, w.id).status is WS.CANCELED
    assert_books_balance(world)


def _race(decisions: dict[str, Callable[[int], object]], wid: int) -> dict[str, str]:
    """Each decision on ``wid`` in a thread of its own, released together: name -> done or
    refused."""
    outcome: dict[str, str] = {}
    barrier = threading.Barrier(len(decisions))

    def review(name: str, decide: Callable[[int], object]) -> None:
        barrier.wait(5)
        try:
            decide(wid)
            outcome[name] = "done"
        except WithdrawalNotCancelable:
            outcome[name] = "refused"

    threads = [threading.Thread(target=review, args=item) for item in decisions.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    return outcome


def test_approve_and_reject_racing_decide_once(world: WalletWorld) -> None:
    """Two operators review the same withdrawals at the same moment, one approving, one
    rejecting: for each, exactly one of them is told it worked, and the withdrawal ends as
    that one said (never approved to one operator and CANCELED)."""
    world.fund(world.bob, "BTC", "40")
    addr = "bc1q" + "q" * 38
    ids = [
        world.wallet.withdraw(world.bob, "BTC", None, addr, world.units("BTC", "2")).id
        for _ in range(8)
    ]
    for wid in ids:
        outcome = _race(
            {"approve": world.wallet.approve_withdrawal, "reject": world.wallet.reject_withdrawal},
            wid,
        )
        assert sorted(outcome.values()) == ["done", "refused"], (wid, outcome)
        status = _status(world, world.bob, wid)[0]
        assert status is (WS.PENDING if outcome["approve"] == "done" else WS.CANCELED)
    assert_books_balance(world)


def test_chain_failure_releases_the_reserve(migrated_url: str) -> None:
    from tests.support.wallet import _world

    for world in _world(migrated_url, started=False, failure_rate=1.0):
        world.fund(world.alice, "ETH", "1")
        w = world.wallet.withdraw(world.alice, "ETH", "ERC20", DEST_ETH, world.units("ETH", "0.5"))
        world.chain.advance(1)
        assert _status(world, world.alice, w.id)[0] is WS.PROCESSING
        assert world.locked(world.alice, "ETH") == world.units("ETH", "0.5")
        report = world.chain.advance(6)
        assert report.failed == 1
        assert _status(world, world.alice, w.id) == (WS.FAILED, 8)
        assert world.available(world.alice, "ETH") == world.units("ETH", "1")
        assert world.available(FEE_REVENUE, "ETH") == 0
        assert_books_balance(world)


def test_stuck_broadcast_is_never_refunded_on_timeout(migrated_url: str) -> None:
    from tests.support.wallet import _world

    for world in _world(migrated_url, started=False, stuck_rate=1.0):
        world.fund(world.alice, "USDT", "100")
        w = world.wallet.withdraw(world.alice, "USDT", "TRX", DEST_TRX, world.units("USDT", "80"))
        world.chain.advance(500)  # a long time with no word from the chain
        assert _status(world, world.alice, w.id) == (WS.PROCESSING, 4)
        assert world.locked(world.alice, "USDT") == world.units("USDT", "80")
        assert world.available(world.alice, "USDT") == world.units("USDT", "20")
        with pytest.raises(WithdrawalNotCancelable):
            world.wallet.cancel_withdrawal(world.alice, w.id)
        world.restart()  # a restart does not refund it either
        world.chain.advance(50)
        assert world.locked(world.alice, "USDT") == world.units("USDT", "80")
        assert world.chain.rebroadcast(w.id)  # the operator bumps the fee: it goes through
        world.chain.advance(4)
        assert _status(world, world.alice, w.id) == (WS.SUCCESS, 7)
        assert world.locked(world.alice, "USDT") == 0
        assert_books_balance(world)


def test_crash_between_signing_and_broadcast_rebroadcasts_the_same_txid(
    world: WalletWorld,
) -> None:
    world.fund(world.alice, "USDT", "100")
    w = world.wallet.withdraw(world.alice, "USDT", "TRX", DEST_TRX, world.units("USDT", "10"))
    world.chain.advance(1)
    info = world.chain.withdrawal_info([w.id])[w.id]
    # pretend the engine was never told: put the withdrawal back and the chain row to SIGNED
    world.engine.stop()
    with world.db.begin() as conn:
        from bourse.store import tables as t

        conn.execute(
            update(t.withdrawals)
            .where(t.withdrawals.c.id == w.id)
            .values(status="PENDING", txid="")
        )
        conn.execute(
            update(wt.chain_withdrawals)
            .where(wt.chain_withdrawals.c.withdrawal_id == w.id)
            .values(status="SIGNED", block=None)
        )
    world.restart()
    world.chain.advance(1)
    got = world.wallet.get_withdrawal(world.alice, w.id)
    assert got.status is WS.PROCESSING and got.txid == info.txid
    world.chain.advance(3)
    assert _status(world, world.alice, w.id)[0] is WS.SUCCESS
    with world.db.begin() as conn:
        n = conn.execute(select(wt.chain_withdrawals.c.withdrawal_id)).all()
    assert len(n) == 1


def test_cancel_racing_the_signer_aborts_the_broadcast(world: WalletWorld) -> None:
    world.fund(world.alice, "USDT", "100")
    w = world.wallet.withdraw(world.alice, "USDT", "TRX", DEST_TRX, world.units("USDT", "10"))
    # the signer chose a txid, then the user's cancel reached the engine first
    with world.db.begin() as conn:
        conn.execute(
            wt.chain_withdrawals.insert().values(
                withdrawal_id=w.id,
                network="TRX",
                coin="USDT",
                txid="ff" * 32,
                block=None,
                confirmations=0,
                required=3,
                outcome="OK",
                status="SIGNED",
                created=0,
                updated=0,
            )
        )
    world.wallet.cancel_withdrawal(world.alice, w.id)
    world.chain.advance(5)
    assert world.chain.withdrawal_info([w.id])[w.id].status == "ABORTED"
    assert _status(world, world.alice, w.id)[0] is WS.CANCELED
    assert world.available(world.alice, "USDT") == world.units("USDT", "100")
    assert_books_balance(world)


def test_retry_with_the_same_withdraw_order_id_reserves_once(world: WalletWorld) -> None:
    world.fund(world.alice, "USDT", "100")
    amt = world.units("USDT", "30")
    first = world.wallet.withdraw(
        world.alice, "USDT", "TRX", DEST_TRX, amt, client_id="wd-1", remark="one"
    )
    again = world.wallet.withdraw(
        world.alice, "USDT", "trx", DEST_TRX, amt, client_id="wd-1", remark="one"
    )  # a network's name matches in any case
    assert again.id == first.id
    assert world.locked(world.alice, "USDT") == amt
    for network, amount in (("TRX", amt + 1), ("Tron(TRC20)", amt), (None, amt)):
        # another amount; the network named as sent, not as resolved: another name, or none
        with pytest.raises(IdempotencyConflict, match="^withdrawOrderId 'wd-1' was already used"):
            world.wallet.withdraw(
                world.alice, "USDT", network, DEST_TRX, amount, client_id="wd-1", remark="one"
            )
    # bob's "wd-1" is his own
    world.fund(world.bob, "USDT", "100")
    assert world.wallet.withdraw(world.bob, "USDT", "TRX", DEST_TRX, amt, client_id="wd-1").id != (
        first.id
    )
    world.chain.advance(5)
    retried = world.wallet.withdraw(
        world.alice, "USDT", "TRX", DEST_TRX, amt, client_id="wd-1", remark="one"
    )
    assert retried.id == first.id and retried.status is WS.SUCCESS
    assert world.available(world.alice, "USDT") == world.units("USDT", "70")
    views = world.wallet.withdraw_history(world.alice)
    assert [(v.withdrawal.client_id, v.remark) for v in views] == [("wd-1", "one")]


def test_a_retry_with_another_remark_is_refused_like_any_other_parameter(
    world: WalletWorld,
) -> None:
    world.fund(world.alice, "USDT", "100")
    amt = world.units("USDT", "30")

    def send(remark: str, client_id: str = "wd-r") -> int:
        w = world.wallet.withdraw(
            world.alice, "USDT", "TRX", DEST_TRX, amt, client_id=client_id, remark=remark
        )
        return w.id

    first = send("rent")
    for other in ("food", "", "rent "):
        with pytest.raises(IdempotencyConflict, match="^withdrawOrderId 'wd-r' was already used"):
            send(other)
    assert send("rent") == first  # the identical retry: the first result, nothing reserved
    # without a remark at first, a retry that adds one is another request too
    bare = send("", "wd-bare")
    with pytest.raises(IdempotencyConflict, match="^withdrawOrderId 'wd-bare' was already"):
        send("late", "wd-bare")
    assert send("", "wd-bare") == bare
    assert world.locked(world.alice, "USDT") == 2 * amt
    views = world.wallet.withdraw_history(world.alice)
    assert sorted((v.withdrawal.client_id, v.remark) for v in views) == [
        ("wd-bare", ""),
        ("wd-r", "rent"),
    ]


def test_a_withdrawal_keyed_before_the_remark_counted_still_takes_its_identical_retry(
    world: WalletWorld,
) -> None:
    """A database written before the remark was part of the fingerprint (its key holds the
    digest of the other parameters only) keeps answering the identical retry after a restart;
    a key written since refuses another remark after the restart too."""
    world.fund(world.alice, "USDT", "100")
    amt = world.units("USDT", "30")
    old = world.wallet.withdraw(
        world.alice, "USDT", "TRX", DEST_TRX, amt, client_id="wd-old", remark="r"
    )
    new = world.wallet.withdraw(
        world.alice, "USDT", "TRX", DEST_TRX, amt, client_id="wd-new", remark="r"
    )
    # the digest the code before the remark counted stored for "wd-old"
    legacy = fingerprint(old.asset, old.amount, old.fee, old.address, old.network, old.memo)
    i = tables.idempotency.c
    with world.db.begin() as conn:
        done = conn.execute(
            update(tables.idempotency)
            .where(i.scope == "withdraw", i.account_id == world.alice, i.client_id == "wd-old")
            .values(fingerprint=legacy)
        ).rowcount
    assert done == 1
    world.restart()

    def send(client_id: str, remark: str, amount: int = amt) -> int:
        w = world.wallet.withdraw(
            world.alice, "USDT", "TRX", DEST_TRX, amount, client_id=client_id, remark=remark
        )
        return w.id

    assert send("wd-old", "r") == old.id
    with pytest.raises(IdempotencyConflict, match="^withdrawOrderId 'wd-old' was already used"):
        send("wd-old", "r", amt + 1)
    assert send("wd-new", "r") == new.id
    with pytest.raises(IdempotencyConflict, match="^withdrawOrderId 'wd-new' was already used"):
        send("wd-new", "s")
    assert world.locked(world.alice, "USDT") == 2 * amt


def test_a_retry_after_the_fee_changed_gets_the_first_withdrawal(world: WalletWorld) -> None:
    """The fingerprint holds the amount the client asked for, not the amount and fee the
    exchange split it into: after the operator changed the network's fee, the identical retry
    gets the first withdrawal (its fee), reserves nothing and pays nothing twice; another
    amount is still another request."""
    world.fund(world.alice, "USDT", "100")
    amt = world.units("USDT", "30")
    first = world.wallet.withdraw(
        world.alice, "USDT", "TRX", DEST_TRX, amt, client_id="wd-fee", remark="rent"
    )
    assert (first.amount, first.fee) == (amt - world.units("USDT", "1"), world.units("USDT", "1"))
    world.restart(with_fee("USDT", "TRX", "2.5"))  # the operator raised the TRX fee
    assert world.wallet.network(world.wallet.asset("USDT"), "TRX").withdraw_fee == world.units(
        "USDT", "2.5"
    )

    def send(amount: int = amt, client_id: str = "wd-fee") -> int:
        w = world.wallet.withdraw(
            world.alice, "USDT", "TRX", DEST_TRX, amount, client_id=client_id, remark="rent"
        )
        assert w.fee == (first.fee if w.id == first.id else world.units("USDT", "2.5"))
        return w.id

    assert send() == first.id
    assert (world.available(world.alice, "USDT"), world.locked(world.alice, "USDT")) == (
        world.units("USDT", "70"),
        amt,
    )
    with pytest.raises(IdempotencyConflict, match="^withdrawOrderId 'wd-fee' was already used"):
        send(amt + 1)
    world.chain.advance(5)  # paid out once, at the fee it was reserved with
    assert send() == first.id
    assert world.available(world.alice, "USDT") == world.units("USDT", "70")
    assert world.locked(world.alice, "USDT") == 0
    assert world.available(FEE_REVENUE, "USDT") == first.fee
    views = world.wallet.withdraw_history(world.alice)
    assert [(v.withdrawal.id, v.withdrawal.status) for v in views] == [(first.id, WS.SUCCESS)]
    # a new client id pays the new fee
    assert send(client_id="wd-fee-2") != first.id
    assert_books_balance(world)


def _remove_whitelisted(world: WalletWorld) -> None:
    assert world.wallet.remove_whitelist(world.alice, "USDT", "TRX", DEST_TRX) == 1


#: what changes between a withdrawal and its retry (the operator's network settings, the
#: user's whitelist), and the refusal a new withdrawal of the same request meets after it
CHANGES: dict[str, tuple[Callable[[WalletWorld], None], type[Exception], str]] = {
    "fee-above-amount": (
        lambda w: w.restart(with_network("USDT", "TRX", withdraw_fee="40")),
        WithdrawAmountOutOfRange,
        "^amount is below the minimum withdrawal of this network$",
    ),
    "minimum-raised": (
        lambda w: w.restart(with_network("USDT", "TRX", withdraw_min="50")),
        WithdrawAmountOutOfRange,
        "^amount is below the minimum withdrawal of this network$",
    ),
    "withdrawals-disabled": (
        lambda w: w.restart(with_network("USDT", "TRX", withdraw_enable=False)),
        WithdrawDisabled,
        "^withdrawals of USDT on TRX are suspended$",
    ),
    "whitelist-entry-removed": (
        _remove_whitelisted,
        AddressNotWhitelisted,
        "^withdrawal address is not in the common-address list$",
    ),
    "default-network-changed": (  # the request names no network: TRX before, ETH now
        lambda w: w.restart(with_default_network("USDT", "ETH")),
        InvalidAddress,
        r"^address is not a valid Ethereum\(ERC20\) address$",
    ),
}


@pytest.mark.parametrize("change", CHANGES)
def test_an_identical_retry_gets_the_first_withdrawal_whatever_changed_since(
    world: WalletWorld, change: str
) -> None:
    """The wallet's checks of the network's settings and of the whitelist decide a new
    withdrawal only: after one of them changed, the identical retry of an accepted withdrawal
    gets it back (nothing reserved or paid twice), a retry with another parameter is still a
    conflict, and a new ``withdrawOrderId`` is refused as any new withdrawal is."""
    apply, refused, words = CHANGES[change]
    world.fund(world.alice, "USDT", "100")
    for address in (DEST_TRX, "T" + "B" * 33):
        world.wallet.add_whitelist(world.alice, "USDT", "TRC20", address)
    amt = world.units("USDT", "30")

    def send(client_id: str = "wd-1", amount: int = amt) -> tuple[int, WS]:
        w = world.wallet.withdraw(
            world.alice, "USDT", None, DEST_TRX, amount, client_id=client_id, remark="rent"
        )
        return w.id, w.status

    first, _ = send()
    apply(world)
    with pytest.raises(refused, match=words):
        send("wd-2")
    assert send() == (first, WS.PENDING)
    with pytest.raises(IdempotencyConflict, match="^withdrawOrderId 'wd-1' was already used"):
        send(amount=amt + 1)
    with pytest.raises(refused, match=words):
        send("wd-2")  # the refused request was not kept: refused again
    assert (world.available(world.alice, "USDT"), world.locked(world.alice, "USDT")) == (
        world.units("USDT", "70"),
        amt,
    )
    world.chain.advance(5)  # paid out once
    assert send() == (first, WS.SUCCESS)
    assert (world.available(world.alice, "USDT"), world.locked(world.alice, "USDT")) == (
        world.units("USDT", "70"),
        0,
    )
    assert world.available(FEE_REVENUE, "USDT") == world.units("USDT", "1")
    views = world.wallet.withdraw_history(world.alice)
    assert [(v.withdrawal.id, v.withdrawal.network, v.remark) for v in views] == [
        (first, "TRX", "rent")
    ]
    assert_books_balance(world)


def test_a_retry_naming_no_network_matches_after_the_default_network_changed(
    world: WalletWorld,
) -> None:
    """A request that names no network is matched as sent, not by the network it resolved
    to: after the coin's default network changed (to one where the request would also pass
    every check), the identical retry still gets the first withdrawal, on its network and
    fee; naming that network now is another request; a new ``withdrawOrderId`` goes to the
    new default."""
    world.restart(with_default_network("USDT", "ETH"))
    world.fund(world.alice, "USDT", "100", "ETH")
    amt = world.units("USDT", "30")

    def send(network: str | None = None, client_id: str = "wd-d") -> tuple[int, str, int]:
        w = world.wallet.withdraw(world.alice, "USDT", network, DEST_ETH, amt, client_id=client_id)
        return w.id, w.network, w.fee

    first = send()
    assert first[1:] == ("ETH", world.units("USDT", "3"))
    world.restart(with_default_network("USDT", "BSC"))
    assert send() == first
    with pytest.raises(IdempotencyConflict, match="^withdrawOrderId 'wd-d' was already used"):
        send("ETH")
    assert world.locked(world.alice, "USDT") == amt
    assert send(client_id="wd-d2")[1:] == ("BSC", world.units("USDT", "0.5"))
    assert world.locked(world.alice, "USDT") == 2 * amt


@pytest.mark.parametrize("change", CHANGES)
def test_the_consoles_check_answers_a_known_id_whatever_changed_since(
    world: WalletWorld, change: str
) -> None:
    """``check_withdrawal`` (the console asks it before the step-up) answers a form sent
    again as ``withdraw`` answers a retry: the first withdrawal after any change, the
    conflict for another parameter; a new id meets the refusal of a new withdrawal, or None
    when it would pass. It never reserves."""
    apply, refused, words = CHANGES[change]
    world.fund(world.alice, "USDT", "100")
    for address in (DEST_TRX, "T" + "B" * 33):
        world.wallet.add_whitelist(world.alice, "USDT", "TRC20", address)
    amt = world.units("USDT", "30")

    def check(client_id: str = "web-1", amount: int = amt) -> Withdrawal | None:
        req = WithdrawalRequest(world.alice, "USDT", None, DEST_TRX, amount, client_id=client_id)
        return world.wallet.check_withdrawal(req)

    assert check() is None  # new, and it would pass
    assert world.locked(world.alice, "USDT") == 0
    first = world.wallet.withdraw(world.alice, "USDT", None, DEST_TRX, amt, client_id="web-1")
    apply(world)
    got = check()
    assert got is not None and (got.id, got.status, got.fee) == (first.id, WS.PENDING, first.fee)
    with pytest.raises(IdempotencyConflict, match="^withdrawOrderId 'web-1' was already used"):
        check(amount=amt + 1)
    with pytest.raises(refused, match=words):
        check("web-2")
    assert (world.available(world.alice, "USDT"), world.locked(world.alice, "USDT")) == (
        world.units("USDT", "70"),
        amt,
    )
    assert len(world.wallet.withdraw_history(world.alice)) == 1


def test_a_frozen_account_hears_so_first_and_still_gets_its_retries(world: WalletWorld) -> None:
    """The engine decides a frozen account in the step that looks ``withdrawOrderId`` up: an
    identical retry gets the first withdrawal after the freeze, a new request is refused as
    frozen (30018) before what else it got wrong (here: withdrawals suspended since)."""
    world.fund(world.alice, "USDT", "100")
    amt = world.units("USDT", "30")

    def send(client_id: str, amount: int = amt) -> int:
        w = world.wallet.withdraw(world.alice, "USDT", "TRX", DEST_TRX, amount, client_id=client_id)
        return w.id

    def check(client_id: str) -> Withdrawal | None:
        req = WithdrawalRequest(world.alice, "USDT", "TRX", DEST_TRX, amt, client_id=client_id)
        return world.wallet.check_withdrawal(req)

    first = send("wd-f")
    world.engine.execute(c.SetAccountFrozen(world.alice, True))
    assert send("wd-f") == first
    with pytest.raises(AccountFrozen):
        send("wd-f2")
    world.restart(with_network("USDT", "TRX", withdraw_enable=False))
    with pytest.raises(AccountFrozen):
        send("wd-f2")
    with pytest.raises(AccountFrozen):
        check("wd-f2")
    with pytest.raises(IdempotencyConflict, match="^withdrawOrderId 'wd-f' was already used"):
        send("wd-f", amt + 1)
    assert send("wd-f") == first
    got = check("wd-f")
    assert got is not None and got.id == first
    assert world.locked(world.alice, "USDT") == amt
    world.engine.execute(c.SetAccountFrozen(world.alice, False))
    with pytest.raises(WithdrawDisabled):
        send("wd-f2")


USDT_TRC20 = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
USDT_ERC20 = "0xdAC17F958D2ee523a2206206994597C13D831ec7"


def test_a_contract_address_must_be_the_coins_on_the_network(world: WalletWorld) -> None:
    """``contractAddress`` is the coin's token contract on the network (what config/getall
    lists as ``contract``): any other, or one on a native coin's network, is refused before
    anything is reserved; without a network it picks the network whose contract it is."""
    world.fund(world.alice, "USDT", "100")
    world.fund(world.alice, "ETH", "1")
    u = world.units

    def send(coin: str, network: str | None, address: str, amount: int, contract: str) -> str:
        w = world.wallet.withdraw(world.alice, coin, network, address, amount, contract=contract)
        return w.network

    for network, contract in (
        ("TRX", USDT_ERC20),  # another network's
        ("TRX", USDT_TRC20.lower()),  # base58 is case-sensitive
        ("ETH", "0x" + "12" * 20),  # no contract of USDT
        ("ETH", USDT_TRC20),
    ):
        address = DEST_TRX if network == "TRX" else DEST_ETH
        with pytest.raises(ContractMismatch, match="^contractAddress .* is not the contract of"):
            send("USDT", network, address, u("USDT", "20"), contract)
    with pytest.raises(ContractMismatch, match="^contractAddress .* is not the contract of ETH"):
        send("ETH", "ETH", DEST_ETH, u("ETH", "0.1"), USDT_ERC20)  # ETH is native on ETH
    with pytest.raises(ContractMismatch, match="^contractAddress '0x1212.* is not a contract of"):
        send("USDT", None, DEST_ETH, u("USDT", "20"), "0x" + "12" * 20)
    assert world.locked(world.alice, "USDT") == 0 and world.locked(world.alice, "ETH") == 0

    assert send("USDT", "TRC20", DEST_TRX, u("USDT", "20"), USDT_TRC20) == "TRX"
    assert send("USDT", "ETH", DEST_ETH, u("USDT", "20"), USDT_ERC20.lower()) == "ETH"  # hex
    assert send("USDT", None, DEST_ETH, u("USDT", "20"), USDT_ERC20) == "ETH"  # the contract's
    assert world.locked(world.alice, "USDT") == u("USDT", "60")


def test_a_retry_with_another_contract_address_is_refused(world: WalletWorld) -> None:
    world.fund(world.alice, "USDT", "100")
    amt = world.units("USDT", "30")

    def send(contract: str, client_id: str = "wd-c", network: str | None = "ETH") -> int:
        w = world.wallet.withdraw(
            world.alice, "USDT", network, DEST_ETH, amt, client_id=client_id, contract=contract
        )
        return w.id

    first = send(USDT_ERC20)
    assert send(USDT_ERC20.lower()) == first  # the same contract
    with pytest.raises(IdempotencyConflict, match="^withdrawOrderId 'wd-c' was already used"):
        send("")  # left out now
    with pytest.raises(IdempotencyConflict, match="^withdrawOrderId 'wd-c' was already used"):
        send(USDT_ERC20, network=None)  # the network left out: compared as sent, not picked
    bare = send("", "wd-bare")
    with pytest.raises(IdempotencyConflict, match="^withdrawOrderId 'wd-bare' was already used"):
        send(USDT_ERC20, "wd-bare")  # added now
    assert send("", "wd-bare") == bare
    assert world.locked(world.alice, "USDT") == 2 * amt


def test_validation(world: WalletWorld) -> None:
    world.fund(world.alice, "USDT", "100")
    u = world.units
    with pytest.raises(InvalidAddress):
        world.wallet.withdraw(world.alice, "USDT", "TRX", DEST_ETH, u("USDT", "10"))
    with pytest.raises(MemoRequired):
        world.wallet.withdraw(world.alice, "USDT", "TON", "UQ" + "a" * 46, u("USDT", "10"))
    with pytest.raises(WithdrawAmountOutOfRange):
        world.wallet.withdraw(world.alice, "USDT", "TRX", DEST_TRX, u("USDT", "4.99"))
    with pytest.raises(InsufficientBalance):
        world.wallet.withdraw(world.alice, "USDT", "TRX", DEST_TRX, u("USDT", "100.01"))
    w = world.wallet.withdraw(
        world.alice, "USDT", "TON", "UQ" + "a" * 46, u("USDT", "10"), memo="12345"
    )
    assert (w.network, w.memo) == ("TONCOIN", "12345")
    assert world.engine.read(lambda e: e.exchange.ledger.locked(world.alice, "USDT")) == u(
        "USDT", "10"
    )


def test_address_whitelist(world: WalletWorld) -> None:
    world.fund(world.alice, "USDT", "100")
    other = "T" + "B" * 33
    world.wallet.add_whitelist(world.alice, "USDT", "TRC20", DEST_TRX, label="cold")
    with pytest.raises(AddressNotWhitelisted):
        world.wallet.withdraw(world.alice, "USDT", "TRX", other, world.units("USDT", "10"))
    with pytest.raises(AddressNotWhitelisted):  # same address, other network
        world.wallet.withdraw(world.alice, "USDT", "ETH", DEST_ETH, world.units("USDT", "10"))
    world.wallet.withdraw(world.alice, "USDT", "TRX", DEST_TRX, world.units("USDT", "10"))
    world.wallet.withdraw(
        world.alice, "USDT", "TRX", other, world.units("USDT", "10"), skip_whitelist=True
    )
    assert [e["label"] for e in world.wallet.whitelist(world.alice)] == ["cold"]
    assert world.wallet.remove_whitelist(world.alice, "USDT", "TRX", DEST_TRX) == 1
    world.wallet.withdraw(world.alice, "USDT", "TRX", other, world.units("USDT", "10"))
    # bob has no entries: anything valid goes
    world.fund(world.bob, "USDT", "20")
    world.wallet.withdraw(world.bob, "USDT", "TRX", other, world.units("USDT", "10"))


def test_history_filters(world: WalletWorld) -> None:
    world.fund(world.alice, "USDT", "100")
    world.fund(world.alice, "ETH", "1")
    a = world.wallet.withdraw(world.alice, "USDT", "TRX", DEST_TRX, world.units("USDT", "10"))
    world.chain.advance(5)
    b = world.wallet.withdraw(world.alice, "ETH", "ETH", DEST_ETH, world.units("ETH", "0.1"))
    h = world.wallet.withdraw_history
    assert [v.withdrawal.id for v in h(world.alice)] == [b.id, a.id]
    assert [v.withdrawal.id for v in h(world.alice, coin="ETH")] == [b.id]
    assert [v.withdrawal.id for v in h(world.alice, status="7")] == [a.id]
    assert [v.withdrawal.id for v in h(world.alice, status="APPLY")] == [b.id]
    assert h(world.alice, status="8") == []
    assert h(world.bob) == []
