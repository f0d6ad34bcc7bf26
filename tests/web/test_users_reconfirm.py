"""``Users.confirm``, ``change_password``, ``log_ins`` and turning 2FA on and off (what the
console's money and security pages call) on a real database, both backends."""

from __future__ import annotations

import itertools
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pyotp
import pytest
from sqlalchemy import Engine

from bourse.config import AuthLimits
from bourse.services import users as us
from bourse.services.throttle import CredentialThrottle, Throttled
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
    people.enable_totp(user.id, secret, pyotp.TOTP(secret).now(), PASSWORD)
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


def test_an_active_2fa_is_not_replaced_and_turning_it_off_needs_password_and_code(
    db_engine: Engine,
) -> None:
    people = _users(db_engine)
    user = people.create_user("cat@example.com", PASSWORD)
    with pytest.raises(us.UserError, match=us.BAD_LOGIN):  # the password proves it is them
        people.enable_totp(user.id, (s := pyotp.random_base32()), pyotp.TOTP(s).now(), "nope")
    owner = pyotp.TOTP(pyotp.random_base32())
    people.enable_totp(user.id, owner.secret, owner.now(), PASSWORD)
    other = pyotp.TOTP(pyotp.random_base32())
    with pytest.raises(us.UserError, match="already on"):
        people.enable_totp(user.id, other.secret, other.now(), PASSWORD)
    code = owner.at(time.time() + 30)  # the enabling step is spent
    for password, totp in (("", code), (PASSWORD, ""), (PASSWORD, other.now())):
        with pytest.raises(us.UserError, match=us.BAD_LOGIN):
            people.disable_totp(user.id, password, totp)
    assert people.confirm(user.id, PASSWORD, code).totp_enabled  # still the owner's secret
    with pytest.raises(us.UserError):
        people.disable_totp(user.id, PASSWORD, code)  # a code is good once
    assert people.get_user(user.id).totp_enabled  # type: ignore[union-attr]


def test_wrong_2fa_codes_from_many_ips_stop_at_the_accounts_budget(db_engine: Engine) -> None:
    """Wrong codes turning 2FA off, sent at once from 40 IPs: at most ``per_account`` are
    checked (the rest ``Throttled`` unchecked), as wrong log-ins are; then the right password
    and code wait from a new IP too, and 2FA is still on."""
    ids = itertools.count(1000)
    window = 10**12  # ms: no test run crosses a window's end
    limits = AuthLimits(per_ip=(100, window), per_account=(5, window), backoff_after=1000)
    people = us.Users(
        UserRepository(db_engine), lambda email: next(ids), throttle=CredentialThrottle(limits)
    )
    user = people.create_user("dan@example.com", PASSWORD)
    totp = pyotp.TOTP(pyotp.random_base32())
    people.enable_totp(user.id, totp.secret, totp.now(), PASSWORD)
    taken = {totp.at(time.time() + d) for d in (-60, -30, 0, 30, 60)}
    wrong = next(c for c in ("000000", "111111", "222222") if c not in taken)
    start = threading.Barrier(20)

    def guess(i: int) -> BaseException | None:
        if i < 20:
            start.wait(timeout=10)
        try:
            people.disable_totp(user.id, PASSWORD, wrong, ip=f"192.0.2.{i}")
        except (us.UserError, Throttled) as exc:
            return exc
        return None

    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(guess, range(40), timeout=120))
    checked = [r for r in results if isinstance(r, us.UserError)]
    throttled = [r for r in results if isinstance(r, Throttled)]
    assert len(checked) + len(throttled) == 40, results
    assert 1 <= len(checked) <= 5, len(checked)
    with pytest.raises(Throttled):
        people.disable_totp(user.id, PASSWORD, totp.at(time.time() + 30), ip="203.0.113.1")
    assert people.get_user(user.id).totp_enabled  # type: ignore[union-attr]
