"""A frozen account gets no OAuth token: its code is not exchanged and its refresh token does
not refresh (``invalid_grant``; neither is spent), until it is unfrozen. The freeze is the
engine's committed ``accounts`` row, written here as the engine writes it."""

from __future__ import annotations

from sqlalchemy import insert, select, update

from bourse.store import tables as t
from bourse.store.oauth_tables import oauth_codes, oauth_tokens
from tests.support.oauth import count, exchange, get_code, refresh, register


def _set_frozen(env, account: int, frozen: bool) -> None:  # type: ignore[no-untyped-def]
    with env.db.begin() as conn:
        if conn.execute(select(t.accounts.c.id).where(t.accounts.c.id == account)).first():
            conn.execute(update(t.accounts).where(t.accounts.c.id == account).values(frozen=frozen))
        else:
            conn.execute(insert(t.accounts).values(id=account, kind="USER", frozen=frozen))


def _account(env) -> int:  # type: ignore[no-untyped-def]
    with env.db.connect() as conn:
        return int(conn.execute(select(oauth_codes.c.account_id)).scalars().first())


def test_a_frozen_account_gets_no_token(env) -> None:  # type: ignore[no-untyped-def]
    reg = register(env)
    code, verifier = get_code(env, reg)
    account = _account(env)
    _set_frozen(env, account, True)
    r = exchange(env, reg, code, verifier)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text
    assert count(env.db, oauth_tokens) == 0

    _set_frozen(env, account, False)
    tok = exchange(env, reg, code, verifier)
    assert tok.status_code == 200, tok.text  # the refused exchange did not spend the code
    _set_frozen(env, account, True)
    r = refresh(env, reg, tok.json()["refresh_token"])
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text
    assert count(env.db, oauth_tokens) == 1

    _set_frozen(env, account, False)
    r = refresh(env, reg, tok.json()["refresh_token"])
    assert r.status_code == 200, r.text  # nor the refused refresh its token
