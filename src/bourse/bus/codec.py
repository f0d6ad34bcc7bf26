"""The wire form of a ``Committed`` event between processes (the NATS bus): compact JSON.

Every amount is an integer in its asset's or symbol's units and JSON integers decode to Python
``int`` of any size, so money crosses the wire exactly (no float ever appears). Objects are
written as arrays of their fields in a fixed order (``_ORDER``, ``_TRADE``, ...); a field added
to a domain type must be added here too, and ``tests/ws/test_nats_bus.py`` round-trips every
field of every type so a forgotten one fails there. ``FORMAT`` is the first element of every
message: a process that reads a format it does not know refuses it instead of guessing.
"""

from __future__ import annotations

import json
from typing import Any

from bourse.bus.events import BalanceUpdate, BookUpdate, Committed
from bourse.domain.accounts import AccountKind
from bourse.domain.money import Asset
from bourse.domain.orders import ORDER_FIELDS, Order, OrderStatus, OrderType, StpMode, Trade
from bourse.domain.reference_price import Reference
from bourse.domain.stp_groups import StpGroup
from bourse.domain.symbols import Symbol
from bourse.domain.wallet import Account, Withdrawal, WithdrawalStatus
from bourse.engine.changes import (
    BatchChanges,
    DepositRecord,
    DustRecord,
    IdempotencyRecord,
    TransferRecord,
)

FORMAT = 5  # 2: accounts' mx_deduct, trades' fee assets, STP groups, dust conversions;
#            3: withdrawals' remark; 4: reference prices; 5: references' first trade time

_ORDER = ORDER_FIELDS
_TRADE = Trade._fields
_WITHDRAWAL = Withdrawal.__slots__
_ORDER_ENUMS: dict[str, Any] = {"type": OrderType, "status": OrderStatus, "stp": StpMode}


class CodecError(ValueError):
    """A message this process cannot decode (another format, or not a Bourse event)."""


# --- encoding ------------------------------------------------------------------------------------
def _order(o: Order) -> list[Any]:
    return [getattr(o, f) for f in _ORDER]


def _trade(t: Trade) -> list[Any]:
    return [getattr(t, f) for f in _TRADE]


def _asset(a: Asset) -> list[Any]:
    return [a.code, a.scale, a.name]


def _symbol(s: Symbol) -> list[Any]:
    return [
        s.name,
        _asset(s.base),
        _asset(s.quote),
        s.price_scale,
        s.qty_scale,
        s.min_qty,
        s.max_qty,
        s.min_notional,
        s.max_notional,
        s.trading,
        list(s.order_types),
    ]


def _changes(ch: BatchChanges) -> list[Any]:
    return [
        [list(p) for p in ch.postings],
        [[acc, asset, av, lk] for (acc, asset), (av, lk) in ch.balances.items()],
        [_order(o) for o in ch.orders],
        [_trade(t) for t in ch.trades],
        [[a.id, a.kind, a.parent, a.frozen, a.name, a.mx_deduct] for a in ch.accounts],
        [list(f) for f in ch.fees],
        [[getattr(w, f) for f in _WITHDRAWAL] for w in ch.withdrawals],
        [list(r) for r in ch.transfers],
        [list(r) for r in ch.deposits],
        [list(r) for r in ch.idempotency],
        [_asset(a) for a in ch.assets],
        [_symbol(s) for s in ch.symbols],
        [
            [g.id, g.owner, g.name, sorted(g.members), g.created, g.updated, g.deleted]
            for g in ch.stp_groups
        ],
        [list(r) for r in ch.dust],
        ch.sequences,
        [[name, *r] for name, r in ch.references.items()],
    ]


def _book(b: BookUpdate) -> list[Any]:
    return [b.symbol, b.bids, b.asks, b.top_bids, b.top_asks, b.last_order_time]


def _balance(u: BalanceUpdate) -> list[Any]:
    return [u.account, u.asset, u.available, u.locked, u.available_change, u.locked_change, u.kind]


def encode(event: Committed) -> bytes:
    """``event`` as bytes (``decode`` gives back an equal event)."""
    body = [
        FORMAT,
        event.version,
        event.time,
        event.commits,
        _changes(event.changes),
        [_book(b) for b in event.books.values()],
        [_balance(u) for u in event.balances],
    ]
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


# --- decoding ------------------------------------------------------------------------------------
def _to_order(row: list[Any]) -> Order:
    # built, then overwritten field by field (a compiled ``Order`` cannot be ``object.__new__``ed)
    o = Order(0, 0, "", 0, OrderType.LIMIT, 0, 0, 0, "", StpMode.NONE, "", None, 0)
    for f, v in zip(_ORDER, row, strict=True):
        enum = _ORDER_ENUMS.get(f)
        setattr(o, f, enum(v) if enum is not None and v is not None else v)
    return o


def _to_trade(row: list[Any]) -> Trade:
    return Trade(*row)


def _to_asset(row: list[Any]) -> Asset:
    return Asset(row[0], row[1], row[2])


def _to_symbol(row: list[Any]) -> Symbol:
    name, base, quote, price_scale, qty_scale, min_q, max_q, min_n, max_n, trading, types = row
    return Symbol(
        name,
        _to_asset(base),
        _to_asset(quote),
        price_scale,
        qty_scale,
        min_q,
        max_q,
        min_n,
        max_n,
        trading=trading,
        order_types=tuple(types),
    )


def _to_withdrawal(row: list[Any]) -> Withdrawal:
    values = dict(zip(_WITHDRAWAL, row, strict=True))
    values["status"] = WithdrawalStatus(values["status"])
    return Withdrawal(**values)


def _levels(rows: list[list[int]]) -> list[tuple[int, int]]:
    return [(p, q) for p, q in rows]


def _to_changes(body: list[Any]) -> BatchChanges:
    (
        postings,
        balances,
        orders,
        trades,
        accounts,
        fees,
        withdrawals,
        transfers,
        deposits,
        idempotency,
        assets,
        symbols,
        stp_groups,
        dust,
        sequences,
        references,
    ) = body
    return BatchChanges(
        postings=[tuple(p) for p in postings],
        balances={(acc, asset): (av, lk) for acc, asset, av, lk in balances},
        orders=[_to_order(o) for o in orders],
        trades=[_to_trade(t) for t in trades],
        accounts=[Account(i, AccountKind(k), p, f, n, mx) for i, k, p, f, n, mx in accounts],
        fees=[(a, m, t) for a, m, t in fees],
        withdrawals=[_to_withdrawal(w) for w in withdrawals],
        transfers=[TransferRecord(*r) for r in transfers],
        deposits=[DepositRecord(*r) for r in deposits],
        idempotency=[IdempotencyRecord(*r) for r in idempotency],
        assets=[_to_asset(a) for a in assets],
        symbols=[_to_symbol(s) for s in symbols],
        stp_groups=[
            StpGroup(i, owner, name, set(members), created, updated, deleted)
            for i, owner, name, members, created, updated, deleted in stp_groups
        ],
        dust=[DustRecord(*r) for r in dust],
        sequences=dict(sequences),
        references={name: Reference(*r) for name, *r in references},
    )


def decode(data: bytes) -> Committed:
    """The event ``encode`` wrote; ``CodecError`` for anything else."""
    try:
        body = json.loads(data)
        if not isinstance(body, list) or not body or body[0] != FORMAT:
            raise CodecError(f"not a Bourse event of format {FORMAT}")
        _, version, time, commits, changes, books, balances = body
        return Committed(
            version=version,
            time=time,
            changes=_to_changes(changes),
            books={
                b[0]: BookUpdate(
                    b[0], _levels(b[1]), _levels(b[2]), _levels(b[3]), _levels(b[4]), b[5]
                )
                for b in books
            },
            balances=[BalanceUpdate(*u) for u in balances],
            commits=commits,
        )
    except CodecError:
        raise
    except (ValueError, TypeError, KeyError) as exc:
        raise CodecError(f"undecodable event: {exc}") from exc
