"""The SQL of user referrals (``bourse.services.referrals``): refer codes, invitations, the
kickback accrual from ``trades`` and its read models.

Methods that take a ``conn`` run inside a transaction the service opens with ``begin()``; the
accrual watermark is a ``broker_cursors`` row, read and written with ``RebateRepository``'s
cursor statements (one watermark table for every trade projection).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, and_, case, func, select, update

from bourse.store import referral_tables as rt
from bourse.store import tables as t
from bourse.store.repositories.base import Repository, in_range
from bourse.store.repositories.dialect import insert_ignore
from bourse.store.repositories.rebates import RebateRepository
from bourse.store.transaction import write

_k = rt.referral_kickbacks.c
_r = rt.referrals.c
_c = rt.refer_codes.c


class ReferralRepository(Repository):
    """See ``Repository``: ``conn``-taking methods run inside ``begin()``."""

    cursor = staticmethod(RebateRepository.cursor)
    set_cursor = staticmethod(RebateRepository.set_cursor)
    lock_accrual = staticmethod(RebateRepository.lock_accrual)

    # --- codes and invitations -------------------------------------------------------------
    def code_of(self, account: int) -> str | None:
        with self.db.connect() as conn:
            row = conn.execute(select(_c.code).where(_c.account_id == account)).first()
        return None if row is None else str(row.code)

    def insert_code(self, account: int, code: str, now: int) -> bool:
        """Give ``account`` ``code`` unless it has one or the code is taken; True if stored."""
        with write(self.db) as conn:
            stmt = insert_ignore(conn, rt.refer_codes).returning(_c.account_id)
            return bool(
                conn.execute(stmt, [{"account_id": account, "code": code, "created": now}]).all()
            )

    def account_by_code(self, code: str) -> int | None:
        with self.db.connect() as conn:
            row = conn.execute(select(_c.account_id).where(_c.code == code)).first()
        return None if row is None else int(row.account_id)

    def account_exists(self, account: int) -> bool:
        with self.db.connect() as conn:
            return (
                conn.execute(select(t.accounts.c.id).where(t.accounts.c.id == account)).first()
                is not None
            )

    def invite(self, invitee: int, inviter: int, code: str, now: int) -> bool:
        """Record the invitation once; False if ``invitee`` already has an inviter."""
        with write(self.db) as conn:
            stmt = insert_ignore(conn, rt.referrals).returning(_r.invitee_account)
            row = {
                "invitee_account": invitee,
                "inviter_account": inviter,
                "refer_code": code,
                "invited_at": now,
            }
            return bool(conn.execute(stmt, [row]).all())

    def invitee_ids(self) -> list[int]:
        """Every account that has an inviter."""
        with self.db.connect() as conn:
            return [int(r[0]) for r in conn.execute(select(_r.invitee_account)).all()]

    def invitation(self, invitee: int) -> Any:
        with self.db.connect() as conn:
            return conn.execute(select(rt.referrals).where(_r.invitee_account == invitee)).first()

    # --- accrual ---------------------------------------------------------------------------
    @staticmethod
    def trades_after(conn: Connection, after: int, limit: int) -> list[Any]:
        """Trades after id ``after`` with their symbol's ``base`` and ``quote``, in id order."""
        tr = t.trades.c
        return list(
            conn.execute(
                select(t.trades, t.symbols.c.base, t.symbols.c.quote)
                .select_from(t.trades.join(t.symbols, t.symbols.c.name == tr.symbol))
                .where(tr.id > after)
                .order_by(tr.id)
                .limit(limit)
            ).all()
        )

    @staticmethod
    def invitations(conn: Connection, accounts: set[int]) -> list[Any]:
        """The invitations of those of ``accounts`` that have an inviter."""
        if not accounts:
            return []
        return list(
            conn.execute(
                select(_r.invitee_account, _r.inviter_account, _r.invited_at).where(
                    _r.invitee_account.in_(sorted(accounts))
                )
            ).all()
        )

    @staticmethod
    def insert_kickbacks(conn: Connection, values: list[dict[str, Any]]) -> int:
        stmt = insert_ignore(conn, rt.referral_kickbacks).returning(_k.id)
        return len(conn.execute(stmt, values).all())

    def pending_keys(self, limit: int) -> list[str]:
        with self.db.connect() as conn:
            rows = conn.execute(
                select(_k.payout_key)
                .where(_k.status == "pending")
                .group_by(_k.payout_key)
                .order_by(_k.payout_key)
                .limit(limit)
            ).all()
        return [str(r.payout_key) for r in rows]

    def payouts(self, key: str) -> list[tuple[int, str, int]]:
        """(earner, asset, total) of every row under ``key``, in a fixed order: the same key
        always gives the same payouts, which is what makes the engine's retry a no-op."""
        with self.db.connect() as conn:
            rows = conn.execute(
                select(_k.earner_account, _k.asset, func.sum(_k.amount).label("amount"))
                .where(_k.payout_key == key)
                .group_by(_k.earner_account, _k.asset)
                .order_by(_k.earner_account, _k.asset)
            ).all()
        return [(int(r.earner_account), str(r.asset), int(r.amount)) for r in rows]

    def mark_paid(self, key: str, now: int) -> int:
        with write(self.db) as conn:
            res = conn.execute(
                update(rt.referral_kickbacks)
                .where(_k.payout_key == key, _k.status == "pending")
                .values(status="paid", paid_at=now)
            )
            return int(res.rowcount or 0)

    # --- read models -----------------------------------------------------------------------
    def invitees(
        self,
        inviter: int,
        start: int | None,
        end: int | None,
        page: int,
        page_size: int,
        *,
        invitee: int | None = None,
        code: str | None = None,
    ) -> tuple[int, list[Any]]:
        """(total, page) of ``inviter``'s invitees, newest first, each with ``usdt``: the USDT
        value of the inviter's rebates on it between ``start`` and ``end`` (by trade time),
        ``trade_usdt`` (the invitee's traded USDT volume, counted once per fee side) and the
        invitee's account ``name``."""
        sums = (
            in_range(
                select(
                    _k.invitee_account.label("invitee"),
                    func.sum(_k.usdt).label("usdt"),
                ).where(_k.earner_account == inviter, _k.kind == "inviter"),
                _k.trade_time,
                start,
                end,
            )
            .group_by(_k.invitee_account)
            .subquery()
        )
        base = (
            select(
                _r.invitee_account,
                _r.refer_code,
                _r.invited_at,
                t.accounts.c.name,
                func.coalesce(sums.c.usdt, 0).label("usdt"),
            )
            .select_from(
                rt.referrals.outerjoin(sums, sums.c.invitee == _r.invitee_account).outerjoin(
                    t.accounts, t.accounts.c.id == _r.invitee_account
                )
            )
            .where(_r.inviter_account == inviter)
        )
        if invitee is not None:
            base = base.where(_r.invitee_account == invitee)
        if code is not None:
            base = base.where(_r.refer_code == code)
        return self.page(base, (_r.invited_at.desc(), _r.invitee_account.desc()), page, page_size)

    def records(
        self,
        earner: int,
        kind: str,
        start: int | None,
        end: int | None,
        page: int,
        page_size: int,
    ) -> tuple[int, list[Any]]:
        """(total, page) of ``earner``'s kickback rows of ``kind``, newest trade first, with the
        invitee's account ``name``."""
        base = in_range(
            select(rt.referral_kickbacks, t.accounts.c.name)
            .select_from(
                rt.referral_kickbacks.outerjoin(t.accounts, t.accounts.c.id == _k.invitee_account)
            )
            .where(and_(_k.earner_account == earner, _k.kind == kind)),
            _k.trade_time,
            start,
            end,
        )
        return self.page(base, (_k.trade_time.desc(), _k.id.desc()), page, page_size)

    # --- affiliate read models -------------------------------------------------------------
    def invitee_page(
        self,
        inviter: int,
        start: int | None,
        end: int | None,
        page: int,
        page_size: int,
        *,
        invitee: int | None = None,
        code: str | None = None,
    ) -> tuple[int, list[Any]]:
        """(total, page) of ``inviter``'s invitees invited between ``start`` and ``end``,
        newest first, with their account ``name``."""
        base = in_range(
            select(_r.invitee_account, _r.refer_code, _r.invited_at, t.accounts.c.name)
            .select_from(rt.referrals.outerjoin(t.accounts, t.accounts.c.id == _r.invitee_account))
            .where(_r.inviter_account == inviter),
            _r.invited_at,
            start,
            end,
        )
        if invitee is not None:
            base = base.where(_r.invitee_account == invitee)
        if code is not None:
            base = base.where(_r.refer_code == code)
        return self.page(base, (_r.invited_at.desc(), _r.invitee_account.desc()), page, page_size)

    def activity(
        self, accounts: list[int], asset: str, start: int | None, end: int | None
    ) -> dict[int, dict[str, Any]]:
        """Per account: ``asset`` deposits (sum in the window; first and last ever), ``asset``
        withdrawals in the window, the ``asset``-quoted trading volume in the window (first and
        last trade ever), and the current ``asset`` balance."""
        out: dict[int, dict[str, Any]] = {
            a: {
                "deposit": 0,
                "first_deposit": None,
                "last_deposit": None,
                "withdraw": 0,
                "volume": 0,
                "first_trade": None,
                "last_trade": None,
                "balance": 0,
            }
            for a in accounts
        }
        if not accounts:
            return out
        d, w, tr, b = t.deposits.c, t.withdrawals.c, t.trades.c, t.balances.c
        in_window = and_(
            d.time >= (start if start is not None else 0),
            d.time <= (end if end is not None else 2**62),
        )
        with self.db.connect() as conn:
            for r in conn.execute(
                select(
                    d.account_id,
                    func.sum(case((in_window, d.amount), else_=0)).label("amount"),
                    func.min(d.time).label("first"),
                    func.max(d.time).label("last"),
                )
                .where(d.account_id.in_(accounts), d.asset == asset)
                .group_by(d.account_id)
            ).all():
                out[int(r.account_id)].update(
                    deposit=int(r.amount or 0), first_deposit=r.first, last_deposit=r.last
                )
            for r in conn.execute(
                in_range(
                    select(w.account_id, func.sum(w.amount).label("amount")).where(
                        w.account_id.in_(accounts), w.asset == asset
                    ),
                    w.created,
                    start,
                    end,
                ).group_by(w.account_id)
            ).all():
                out[int(r.account_id)]["withdraw"] = int(r.amount or 0)
            quoted = select(t.symbols.c.name).where(t.symbols.c.quote == asset)
            for side in (tr.buyer_account, tr.seller_account):
                in_trade_window = and_(
                    tr.time >= (start if start is not None else 0),
                    tr.time <= (end if end is not None else 2**62),
                )
                for r in conn.execute(
                    select(
                        side.label("account"),
                        func.sum(case((in_trade_window, tr.quote_qty), else_=0)).label("v"),
                        func.min(tr.time).label("first"),
                        func.max(tr.time).label("last"),
                    )
                    .where(side.in_(accounts), tr.symbol.in_(quoted))
                    .group_by(side)
                ).all():
                    o = out[int(r.account)]
                    o["volume"] += int(r.v or 0)
                    o["first_trade"] = min(x for x in (o["first_trade"], r.first) if x is not None)
                    o["last_trade"] = max(x for x in (o["last_trade"], r.last) if x is not None)
            for bal in conn.execute(
                select(b.account_id, (b.available + b.locked).label("total")).where(
                    b.account_id.in_(accounts), b.asset == asset
                )
            ).all():
                out[int(bal.account_id)]["balance"] = int(bal.total)
        return out

    def commission_rows(
        self, earner: int, start: int, end: int, limit: int, *, code: str | None = None
    ) -> list[Any]:
        """``earner``'s inviter rows between ``start`` and ``end`` with their trade's
        ``taker_side``, ``qty``, ``quote_qty`` and the symbol's ``quote`` (oldest first)."""
        q = (
            select(
                rt.referral_kickbacks,
                t.trades.c.taker_side,
                t.trades.c.qty,
                t.trades.c.quote_qty,
                t.symbols.c.quote,
            )
            .select_from(
                rt.referral_kickbacks.join(t.trades, t.trades.c.id == _k.trade_id).join(
                    t.symbols, t.symbols.c.name == _k.symbol
                )
            )
            .where(
                _k.earner_account == earner,
                _k.kind == "inviter",
                _k.trade_time >= start,
                _k.trade_time <= end,
            )
        )
        if code is not None:
            q = q.where(
                _k.invitee_account.in_(select(_r.invitee_account).where(_r.refer_code == code))
            )
        with self.db.connect() as conn:
            return list(conn.execute(q.order_by(_k.trade_time, _k.id).limit(limit)).all())

    def payouts_to(
        self, earner: int, start: int, end: int, page: int, page_size: int
    ) -> tuple[int, list[Any]]:
        """(total, page) of what was paid to ``earner`` as an inviter, one row per payout and
        asset (``paid_at``, ``asset``, ``amount``), newest first."""
        base = (
            select(
                _k.payout_key,
                _k.asset,
                func.max(_k.paid_at).label("paid_at"),
                func.sum(_k.amount).label("amount"),
            )
            .where(
                _k.earner_account == earner,
                _k.kind == "inviter",
                _k.status == "paid",
                _k.paid_at >= start,
                _k.paid_at <= end,
            )
            .group_by(_k.payout_key, _k.asset)
        )
        return self.page(
            base, (func.max(_k.paid_at).desc(), _k.payout_key.desc(), _k.asset), page, page_size
        )

    def sub_affiliates(
        self, inviter: int, page: int, page_size: int, *, code: str | None = None
    ) -> tuple[int, list[Any]]:
        """(total, page) of ``inviter``'s invitees that invited others themselves, with their
        ``name``, ``invited_at``, own refer ``code`` and their invitees' count ``registered``."""
        sub = rt.referrals.alias("sub")
        counts = (
            select(sub.c.inviter_account.label("aff"), func.count().label("registered"))
            .group_by(sub.c.inviter_account)
            .subquery()
        )
        base = (
            select(
                _r.invitee_account,
                _r.refer_code,
                _r.invited_at,
                t.accounts.c.name,
                _c.code,
                counts.c.registered,
            )
            .select_from(
                rt.referrals.join(counts, counts.c.aff == _r.invitee_account)
                .outerjoin(t.accounts, t.accounts.c.id == _r.invitee_account)
                .outerjoin(rt.refer_codes, _c.account_id == _r.invitee_account)
            )
            .where(_r.inviter_account == inviter)
        )
        if code is not None:
            base = base.where(_r.refer_code == code)
        return self.page(base, (_r.invited_at.desc(), _r.invitee_account.desc()), page, page_size)

    def invitees_of(self, affiliates: list[int]) -> dict[int, list[int]]:
        """affiliate -> its invitees."""
        out: dict[int, list[int]] = {a: [] for a in affiliates}
        if not affiliates:
            return out
        with self.db.connect() as conn:
            for r in conn.execute(
                select(_r.inviter_account, _r.invitee_account).where(
                    _r.inviter_account.in_(affiliates)
                )
            ).all():
                out[int(r.inviter_account)].append(int(r.invitee_account))
        return out
