"""Internal transfer to another user (MEXC's ``capital/transfer/internal``): money moves from
the sender's SPOT account to the recipient's through the engine's ``Transfer`` (atomic, exact
integer units); ``internal_transfers`` keeps the history rows.

Rules:

* the recipient is named by ``UID`` (the account id ``GET /api/v3/uid`` shows) or ``EMAIL``
  (a web user's e-mail, found as log-in finds it: ``bourse.services.users.find_user``);
  ``MOBILE`` is refused: Bourse keeps no phone numbers;
* the recipient must be another top-level account (a user or a broker master), not frozen; a
  sub-account, a system account or a non-spot wallet is "unknown", so their ids are never
  confirmed to outsiders;
* a sub-account may not send: its money leaves through its master's transfers (as on MEXC);
* a replayed request (same ``request_key``: the gateway derives it from the signature) moves the
  money once and answers the same ``tranId``: the key is the transfer's client id, which the
  engine makes idempotent, durably;
* the history holds both directions, newest first.
"""

from __future__ import annotations

import hashlib
import secrets

from bourse.domain.accounts import AccountKind
from bourse.domain.errors import (
    AccountTypeNotSupported,
    AmountOutOfRange,
    DomainError,
    RecipientNotFound,
    TransferNotAllowed,
)
from bourse.domain.wallet import Account
from bourse.engine import Engine
from bourse.engine import commands as c
from bourse.engine.clock import Clock, now_ms
from bourse.services.users import find_user
from bourse.services.wallet.service import WalletService
from bourse.store.repositories.internal_transfers import (
    InternalTransferRepository,
    InternalTransferRow,
)
from bourse.store.repositories.users import UserRepository

#: recipient kinds MEXC names; MOBILE is refused
TARGET_TYPES = ("EMAIL", "UID", "MOBILE")
#: a WAIT row older than this (past the longest recvWindow) is settled from the engine
STALE_MS = 60_000
#: request keys carry a character client ids may not hold, so no client id collides with one
KEY_PREFIX = "itx!"
MAX_PAGE_SIZE = 100

InternalTransferView = InternalTransferRow


class InternalTransfers:
    """Transfers to other users, and their history."""

    def __init__(
        self,
        engine: Engine,
        repo: InternalTransferRepository,
        wallet: WalletService,
        users: UserRepository,
        clock: Clock = now_ms,
    ) -> None:
        self.engine = engine
        self.repo = repo
        self.wallet = wallet
        self.users = users
        self.clock = clock

    def transfer(
        self,
        account: int,
        to_type: str,
        to_account: str,
        asset: str,
        amount: int,
        *,
        request_key: str = "",
    ) -> InternalTransferView:
        """Move ``amount`` units of ``asset`` from ``account`` to the named recipient."""
        to_type = (to_type or "").upper()
        if to_type == "MOBILE":
            raise AccountTypeNotSupported("transfers to a mobile number are not supported")
        if to_type not in TARGET_TYPES:
            raise AccountTypeNotSupported(f"toAccountType {to_type!r} is not supported")
        code = self.wallet.asset(asset).code
        if amount <= 0:
            raise AmountOutOfRange("amount cannot be zero or negative")
        sender = self.engine.read(lambda e: e.wallet.accounts.get(account))
        if sender is None or _is_sub(sender) or sender.kind is AccountKind.SYSTEM:
            raise TransferNotAllowed("this account cannot transfer to other users")
        text = (to_account or "").strip()
        dst = self.recipient(to_type, text)
        if dst == account:
            raise TransferNotAllowed("cannot transfer to yourself")
        key = _key(request_key)
        now = self.clock()
        row = InternalTransferRow(0, account, dst, to_type, text[:256], code, amount, "WAIT", now)
        self.repo.begin(key, row)
        try:
            tid: int = self.engine.execute(
                c.Transfer(account, dst, code, amount, client_id=key, initiator=account)
            )
        except DomainError:
            self.repo.abandon(account, key)
            raise
        return self.repo.succeed(key, row, tid)

    def recipient(self, to_type: str, text: str) -> int:
        """The account named by ``text``; ``RecipientNotFound`` unless it may receive."""
        if to_type == "EMAIL":
            row = find_user(self.users, text)
            if row is None:
                raise RecipientNotFound("user does not exist")
            acc_id = int(row.account_id)
        else:
            if not (text.isascii() and text.isdigit()) or len(text) > 18:
                raise RecipientNotFound("user does not exist")
            acc_id = int(text)
        acc = self.engine.read(lambda e: e.wallet.accounts.get(acc_id))
        if (
            acc is None
            or acc.kind not in (AccountKind.USER, AccountKind.BROKER_MASTER)
            or _is_sub(acc)
            or self.wallet.wallet_owners([acc_id])
        ):
            raise RecipientNotFound("user does not exist")
        if acc.frozen:
            raise TransferNotAllowed("the recipient cannot receive transfers")
        return acc_id

    def history(
        self,
        account: int,
        *,
        start: int | None = None,
        end: int | None = None,
        tran_id: int | None = None,
        page: int = 1,
        size: int = 10,
    ) -> tuple[list[InternalTransferView], int]:
        """The account's transfers to and from other users, newest first, and the total."""
        self.repo.settle_stale(account, self.clock() - STALE_MS)
        if tran_id is not None and start is None:
            start = 0  # one transfer by id: as far back as history goes
        s, e = self.wallet.window(start, end)
        page, size = max(1, page), max(1, min(size, MAX_PAGE_SIZE))
        return self.repo.history(
            account, start=s, end=e, transfer_id=tran_id, offset=(page - 1) * size, limit=size
        )


def _is_sub(acc: Account) -> bool:
    return acc.parent is not None or acc.kind is AccountKind.BROKER_SUB


def _key(request_key: str) -> str:
    """The engine client id of one request: a digest of its key, or random without one."""
    if not request_key:
        return KEY_PREFIX + secrets.token_hex(20)
    return KEY_PREFIX + hashlib.sha256(request_key.encode()).hexdigest()[:40]
