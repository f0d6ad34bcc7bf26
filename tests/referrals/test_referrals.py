"""User referrals over real trades, on SQLite and PostgreSQL: refer codes, invitations, and
kickbacks paid exactly once through the engine, also under concurrent runs and after a crash
between the payout and its bookkeeping."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import func, select

from bourse.domain import referrals as d
from bourse.domain.accounts import FEE_REVENUE
from bourse.domain.brokers import rebate_for
from bourse.domain.errors import InvalidParameter
from bourse.domain.orders import BUY, SELL
from bourse.store import referral_tables as rt
from bourse.store import tables as t
from tests.referrals.conftest import INVITEE_PPM, INVITER_PPM, RWorld

BTC = 10**6  # qty units per BTC on BTCUSDT (qty scale 6)
USD = 100  # price units per USDT on BTCUSDT (price scale 2)


def run_threads(n: int, fn: Any) -> list[Any]:
    results: list[Any] = [None] * n
    errors: list[BaseException] = []
    barrier = threading.Barrier(n)

    def work(i: int) -> None:
        try:
            barrier.wait(10)
            results[i] = fn(i)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    assert not any(th.is_alive() for th in threads)
    return results + errors


def test_refer_code_is_made_once_even_when_asked_concurrently(rworld: RWorld) -> None:
    acc = rworld.open()
    out = run_threads(8, lambda i: rworld.referrals.refer_code(acc))
    assert len(set(out)) == 1 and isinstance(out[0], str)
    code = out[0]
    assert rworld.referrals.refer_code(acc) == code
    assert rworld.referrals.inviter_of_code(code) == acc
    other = rworld.open()
    assert rworld.referrals.refer_code(other) != code


def test_invitation_rules(rworld: RWorld) -> None:
    inviter, invitee, other = rworld.open(), rworld.open(), rworld.open()
    code = rworld.referrals.refer_code(inviter)
    with pytest.raises(d.UnknownReferCode):
        rworld.referrals.invite(invitee, "nobody-has-this")
    with pytest.raises(d.UnknownReferCode):
        rworld.referrals.invite(invitee, "x y")  # malformed
    with pytest.raises(d.SelfReferral):
        rworld.referrals.invite(inviter, code)
    # two codes race for one invitee: exactly one wins
    code2 = rworld.referrals.refer_code(other)
    out = run_threads(6, lambda i: rworld.referrals.invite(invitee, (code, code2)[i % 2]))
    won = [x for x in out if isinstance(x, int)]
    lost = [x for x in out if isinstance(x, d.AlreadyInvited)]
    assert len(won) == 1 and len(lost) == 5
    inv = rworld.referrals.invitation(invitee)
    assert inv.inviter_account == won[0]


def _kickbacks(rworld: RWorld) -> list[Any]:
    with rworld.db.connect() as conn:
        return list(conn.execute(select(rt.referral_kickbacks).order_by("id")).all())


def test_kickbacks_are_the_shares_of_real_fees_and_paid_once(rworld: RWorld) -> None:
    inviter, invitee, stranger = rworld.open(), rworld.open(), rworld.open()
    rworld.referrals.invite(invitee, rworld.referrals.refer_code(inviter))
    before_inviter = {a: rworld.available(inviter, a) for a in ("BTC", "USDT")}
    before_invitee = {a: rworld.available(invitee, a) for a in ("BTC", "USDT")}
    revenue = {a: rworld.available(FEE_REVENUE, a) for a in ("BTC", "USDT")}

    # the invitee makes (sells 1 BTC), the stranger takes 0.4 then 0.6: both sides pay fees
    rworld.place(invitee, SELL, 1 * BTC, 30_000 * USD)
    rworld.place(stranger, BUY, 400_000, 30_000 * USD)
    rworld.place(stranger, BUY, 600_000, 30_000 * USD)
    # the invitee takes (buys 0.5 BTC) from the stranger
    rworld.place(stranger, SELL, 500_000, 31_000 * USD)
    rworld.place(invitee, BUY, 500_000, 31_000 * USD)
    # the stranger trades with itself-free counterpart: nobody invited, nothing owed
    other = rworld.open()
    rworld.place(other, SELL, 100_000, 32_000 * USD)
    rworld.place(stranger, BUY, 100_000, 32_000 * USD)

    with rworld.db.connect() as conn:
        trades = conn.execute(select(t.trades).order_by(t.trades.c.id)).all()
    expected: dict[tuple[int, str], int] = {}
    lines = 0
    for tr in trades:
        for account, fee, asset in (
            (tr.buyer_account, tr.buyer_fee, "BTC"),
            (tr.seller_account, tr.seller_fee, "USDT"),
        ):
            if account != invitee:
                continue
            for earner, rate in ((inviter, INVITER_PPM), (invitee, INVITEE_PPM)):
                amt = rebate_for(fee, rate)
                assert amt > 0
                expected[(earner, asset)] = expected.get((earner, asset), 0) + amt
                lines += 1
    assert lines == 6  # two maker fills and one taker fill, two shares each

    # concurrent runs: every line once, every payout once
    out = run_threads(4, lambda i: rworld.referrals.accrue_pending(chunk=2))
    assert not [x for x in out if isinstance(x, BaseException)]
    rows = _kickbacks(rworld)
    assert len(rows) == lines
    assert all(r.status == "paid" and r.paid_at is not None for r in rows)
    for r in rows:
        assert r.amount == rebate_for(r.fee, r.rate_ppm)
        if r.asset == "USDT":
            assert r.usdt == r.amount
        else:  # base: valued at the trade's own price
            tr = next(x for x in trades if x.id == r.trade_id)
            assert r.usdt == r.amount * tr.quote_qty // tr.qty
    for asset in ("BTC", "USDT"):
        got_inviter = rworld.available(inviter, asset) - before_inviter[asset]
        assert got_inviter == expected[(inviter, asset)]
    # the invitee paid fees and got its kickback back
    assert sum(r.amount for r in rows if r.kind == "invitee") == sum(
        v for (e, _), v in expected.items() if e == invitee
    )
    paid = {a: sum(r.amount for r in rows if r.asset == a) for a in ("BTC", "USDT")}
    fees_in = {
        "BTC": sum(tr.buyer_fee for tr in trades),
        "USDT": sum(tr.seller_fee for tr in trades),
    }
    for a in ("BTC", "USDT"):
        assert rworld.available(FEE_REVENUE, a) == revenue[a] + fees_in[a] - paid[a]
    assert before_invitee  # (the invitee's balance moved by trades too; checked through rows)

    # a re-run finds nothing and pays nothing
    snapshot = {a: rworld.available(inviter, a) for a in ("BTC", "USDT")}
    again = rworld.referrals.accrue_pending()
    assert again.kickbacks == 0 and again.paid == []
    assert {a: rworld.available(inviter, a) for a in ("BTC", "USDT")} == snapshot


def test_a_crash_between_payout_and_bookkeeping_never_pays_twice(
    rworld: RWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    inviter, invitee, stranger = rworld.open(), rworld.open(), rworld.open()
    rworld.referrals.invite(invitee, rworld.referrals.refer_code(inviter))
    rworld.place(stranger, SELL, 1 * BTC, 30_000 * USD)
    rworld.place(invitee, BUY, 1 * BTC, 30_000 * USD)
    start = rworld.available(inviter, "BTC")

    repo = rworld.referrals.repo
    real = repo.mark_paid

    def crash(key: str, now: int) -> int:
        raise RuntimeError("killed after the payout")

    monkeypatch.setattr(repo, "mark_paid", crash)
    with pytest.raises(RuntimeError):
        rworld.referrals.accrue_pending()
    paid_once = rworld.available(inviter, "BTC") - start
    assert paid_once > 0
    assert {r.status for r in _kickbacks(rworld)} == {"pending"}

    monkeypatch.setattr(repo, "mark_paid", real)
    run = rworld.referrals.accrue_pending()
    assert len(run.paid) == 1 and run.failed == []
    assert rworld.available(inviter, "BTC") - start == paid_once
    assert {r.status for r in _kickbacks(rworld)} == {"paid"}


def test_trades_before_the_invitation_earn_nothing(rworld: RWorld) -> None:
    inviter, invitee, stranger = rworld.open(), rworld.open(), rworld.open()
    rworld.place(stranger, SELL, 1 * BTC, 30_000 * USD)
    rworld.place(invitee, BUY, 1 * BTC, 30_000 * USD)
    rworld.clock.advance(1000)
    rworld.referrals.invite(invitee, rworld.referrals.refer_code(inviter))
    run = rworld.referrals.accrue_pending()
    assert run.trades == 1 and run.kickbacks == 0
    with rworld.db.connect() as conn:
        n = conn.execute(select(func.count()).select_from(rt.referral_kickbacks)).scalar_one()
    assert n == 0


def test_rates_are_checked() -> None:
    assert d.check_rates(200_000, 100_000) == (200_000, 100_000)
    with pytest.raises(InvalidParameter):
        d.check_rates(900_000, 200_000)
    assert d.mask_account("1541234291@qq.com") == "154****291@qq.com"
    assert d.mask_account("test:counterparty") == ""


def test_the_follower_wants_only_batches_with_an_invitees_trade(rworld: RWorld) -> None:
    from types import SimpleNamespace

    from bourse.engine.changes import BatchChanges

    def batch(*pairs: tuple[int, int]) -> BatchChanges:
        trades = [SimpleNamespace(buyer_account=b, seller_account=s) for b, s in pairs]
        return BatchChanges(trades=trades)  # type: ignore[arg-type]

    refs = rworld.referrals
    inviter, invitee, a, b = rworld.open(), rworld.open(), rworld.open(), rworld.open()
    assert refs.wants(batch((a, b)))  # nothing loaded yet: any trade may matter
    assert not refs.wants(batch())
    refs.accrue_pending()  # loads the (empty) invitee set
    assert not refs.wants(batch((a, b)))
    refs.invite(invitee, refs.refer_code(inviter))  # seen at once by this process
    assert refs.wants(batch((a, invitee))) and refs.wants(batch((invitee, b), (a, b)))
    assert not refs.wants(batch((a, b), (inviter, a)))
