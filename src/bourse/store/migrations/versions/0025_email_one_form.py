"""Every stored ``users.email`` takes its one form (``bourse.services.users.normalize_email``:
NFKC, trimmed, lower-cased), so a row stored before that rule (lower-cased only) is found by
log-in, sign-up's "already exists" and internal transfers however the address is typed, and a
look-alike cannot sign up beside it.

Rows are taken in id order; a row is left as it was, and logged, when its one form is already
another row's (the two coexisted before this rule: neither is locked out, since a log-in or a
transfer typed exactly as a row is stored finds that row first, ``find_user``) or when it is no
valid e-mail under the rule (an invisible character, a trailing dot in the domain): such a row
still logs in typed as stored.

The downgrade changes nothing: the spelling each row had is not kept, and the one form logs in
and receives transfers as well under the code before this revision.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-05
"""

from __future__ import annotations

import logging
import re
import unicodedata

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

log = logging.getLogger("bourse.migrations")

# normalize_email as it was when this migration was written (bourse.services.users)
_EMAIL_CHAR = r"[^@\s\x00-\x1f\x7f-\x9f]"
_LABEL = r"[^@.\s\x00-\x1f\x7f-\x9f]+"
_EMAIL = re.compile(rf"{_EMAIL_CHAR}{{1,64}}@(?:{_LABEL}\.)+{_LABEL}")
_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"})

_users = sa.table(
    "users",
    sa.column("id", sa.BigInteger),
    sa.column("email", sa.String),
    sa.column("account_id", sa.BigInteger),
)


def one_form(email: str) -> str | None:
    """``email``'s one form, or None where the rule refuses it."""
    email = unicodedata.normalize("NFKC", (email or "").strip()).strip().lower()
    if (
        len(email) > 254
        or not _EMAIL.fullmatch(email)
        or any(unicodedata.category(ch) in _INVISIBLE for ch in email)
    ):
        return None
    return email


def upgrade() -> None:
    conn = op.get_bind()
    u = _users.c
    changes: list[tuple[int, int, str, str]] = []  # (id, account, stored, one form)
    for uid, account, stored in conn.execute(sa.select(u.id, u.account_id, u.email).order_by(u.id)):
        one = one_form(stored)
        if one is None:
            log.warning(
                "users.email of user %s (account %s) left as stored, %r: not a valid e-mail "
                "now; it logs in typed as stored",
                uid, account, stored,
            )  # fmt: skip
        elif one != stored:
            changes.append((uid, account, stored, one))
    for uid, account, stored, one in changes:  # in id order: the oldest row takes the form
        holder = conn.execute(sa.select(u.id).where(u.email == one)).scalar()
        if holder is not None:
            log.warning(
                "users.email of user %s (account %s) left as stored, %r: its one form %r is "
                "user %s's; it logs in typed as stored",
                uid, account, stored, one, holder,
            )  # fmt: skip
            continue
        conn.execute(sa.update(_users).where(u.id == uid).values(email=one))


def downgrade() -> None:
    """Nothing: the spellings replaced were not kept, and the one form works as well before."""
