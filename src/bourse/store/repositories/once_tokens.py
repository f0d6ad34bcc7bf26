"""The SQL of sub-accounts' one-time login tokens (``bourse.services.subaccounts.once_tokens``)."""

from __future__ import annotations

from sqlalchemy import insert, update

from bourse.store.once_token_tables import once_tokens as ot
from bourse.store.repositories.base import Repository
from bourse.store.transaction import write


class OnceTokenRepository(Repository):
    def insert(self, token_hash: str, account: int, master: int, now: int, expires: int) -> None:
        with write(self.db) as conn:
            conn.execute(
                insert(ot).values(
                    token_hash=token_hash,
                    account_id=account,
                    master_account=master,
                    created=now,
                    expires=expires,
                    used_at=None,
                )
            )

    def consume(self, token_hash: str, now: int) -> int | None:
        """Mark the token used if it is unused and unexpired; its account, else None. One
        statement, so of concurrent uses exactly one gets the account."""
        with write(self.db) as conn:
            row = conn.execute(
                update(ot)
                .where(ot.c.token_hash == token_hash, ot.c.used_at.is_(None), ot.c.expires > now)
                .values(used_at=now)
                .returning(ot.c.account_id)
            ).first()
        return None if row is None else int(row.account_id)
