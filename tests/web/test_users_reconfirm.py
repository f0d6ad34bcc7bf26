"""``Users.confirm``, ``change_password`` and ``log_ins`` (what the console's money and security
pages call) on a real database, both backends."""

from __future__ import annotations

import itertools
import time

import pyotp
import pytest
from sqlalchemy import Engine

from bourse.services import users as us
from bourse.store.oauth_tables import digest
from bourse.store.repositories.users import UserRepository

PASSWORD = "correct horse battery"
NEW = "another horse battery"


def _users(db_engine: Engine) -> us.Users:
    ids = itertools.count(1000)
    return us.Users(UserRepository(db_engine), lambda email: next(ids))


def test_password_change_keeps_only_the_session_it_was_made_in(db_engine: Engine) -> None:
    people = _users(db_engine)
    user = people.create_user("ann@example.com", PASSWORD)
    sids = [people.create_session(user.id, f"browser {i}")[0] for i in range(3)]
    with pytest.raises(us.UserError, match=us.BAD_LOGIN):
        people.change_password(user.id, "not the password", NEW, keep_session=digest(sids[0]))
    with pytest.raises(us.UserError, match="differs"):
        people.change_password(user.id, PASSWORD, PASSWORD, keep_session=digest(sids[0]))
    assert all(people.load_session(s) is not None for s in sids)
    assert people.change_password(user.id, PASSWORD, NEW, keep_session=digest(sids[0])) == 2
    assert people.load_session(sids[0]) is not None
    assert people.load_session(sids[1]) is None and people.load_session(sids[2]) is None
    with pytest.raises(us.UserError):
        people.authenticate("ann@example.com", PASSWORD)
    assert people.authenticate("ann@example.com", NEW).id == user.id
    shown = people.log_ins(user.id, digest(sids[0]))
    # created within the same millisecond or not: compare them unordered
    assert sorted((s.user_agent, s.live, s.current) for s in shown) == [
        ("browser 0", True, True),
        ("browser 1", False, False),
        ("browser 2", False, False),
    ]


def test_confirm_needs_the_2fa_code_once_it_is_on(db_engine: Engine) -> None:
    people = _users(db_engine)
    user = people.create_user("bob@example.com", PASSWORD)
    assert people.confirm(user.id, PASSWORD).id == user.id
    secret = pyotp.random_base32()
    people.enable_totp(user.id, secret, pyotp.TOTP(secret).now())
    with pytest.raises(us.UserError):
        people.confirm(user.id, PASSWORD)  # no code
    code = pyotp.TOTP(secret).at(time.time() + 30)  # the enabling step is spent
    with pytest.raises(us.UserError):
        people.change_password(user.id, PASSWORD, NEW)  # no code
    assert people.confirm(user.id, PASSWORD, code).id == user.id
    with pytest.raises(us.UserError):
        people.confirm(user.id, PASSWORD, code)  # a code is good once
    with pytest.raises(us.UserError):
        people.confirm(user.id + 1, PASSWORD)  # no such user
