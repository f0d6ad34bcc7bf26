"""E-mails are one account each however they are typed: NFKC (full-width and other
compatibility forms fold to the plain letters), case-insensitive, with zero-width and other
invisible or control characters and a trailing dot in the domain refused, on sign-up, log-in and
sign-up's "already exists" alike. The migration 0025 gives rows stored before this rule their one
form; a row it leaves (its one form is another row's) still logs in as typed then."""

from __future__ import annotations

import itertools
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine, func, select

from bourse.services import users as us
from bourse.store.db import make_engine, migrate
from bourse.store.oauth_tables import users as users_table
from bourse.store.repositories.users import UserRepository

PASSWORD = "correct horse battery"
#: one address typed eight ways (full-width letters, @ and full stop, capitals, spaces around):
#: NFKC and case make them the same
LOOK_ALIKES = [
    "bob@example.com",
    "BOB@Example.COM",
    "\uff42\uff4f\uff42@example.com",  # full-width "bob"
    "bob\uff20example.com",  # full-width @
    "bob@\uff45xample.com",  # full-width e in the domain
    "\uff22\uff2f\uff22@EXAMPLE.COM",
    "  bob@example.com ",
    "bob@example\uff0ecom",  # full-width full stop
]


def _users(db_engine: Engine) -> us.Users:
    ids = itertools.count(1000)
    return us.Users(UserRepository(db_engine), lambda email: next(ids))


def _count(db_engine: Engine) -> int:
    with db_engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(users_table)).scalar_one())


def test_look_alikes_signed_up_at_once_make_one_account(db_engine: Engine) -> None:
    people = _users(db_engine)
    barrier = threading.Barrier(len(LOOK_ALIKES))

    def sign_up(email: str) -> str:
        barrier.wait()
        try:
            return people.create_user(email, PASSWORD).email
        except us.UserError as exc:
            return str(exc)

    with ThreadPoolExecutor(len(LOOK_ALIKES)) as pool:
        answers = list(pool.map(sign_up, LOOK_ALIKES))
    assert answers.count("bob@example.com") == 1, answers
    assert set(answers) == {"bob@example.com", "An account with this e-mail already exists."}
    assert _count(db_engine) == 1
    for typed in LOOK_ALIKES:  # every form logs in to it
        assert people.authenticate(typed, PASSWORD).email == "bob@example.com"


@pytest.mark.parametrize(
    "email",
    [
        "b\u200bob@example.com",  # zero-width space
        "bob\u200d@example.com",  # zero-width joiner
        "\ufeffbob@example.com",  # byte-order mark
        "bob@exam\u00adple.com",  # soft hyphen
        "bob@example.com\u2060",  # word joiner
        "bob@exa\u202emple.com",  # right-to-left override
        "bob@example.com.",  # trailing dot in the domain
        "bob@example..com",
        "bob@.example.com",
    ],
)
def test_invisible_characters_and_dotted_domains_are_refused(db_engine: Engine, email: str) -> None:
    people = _users(db_engine)
    with pytest.raises(us.UserError, match="valid e-mail"):
        people.create_user(email, PASSWORD)
    people.create_user("bob@example.com", PASSWORD)
    with pytest.raises(us.UserError, match=us.BAD_LOGIN):  # log-in: the one message
        people.authenticate(email, PASSWORD)
    assert _count(db_engine) == 1


def test_a_row_stored_before_the_rule_still_logs_in(db_engine: Engine) -> None:
    people = _users(db_engine)
    legacy = "\uff41nn@example.com"  # full-width a, lower-cased as it was stored
    people.create_user("carl@example.com", PASSWORD)
    with db_engine.begin() as conn:
        conn.execute(users_table.update().values(email=legacy))
    assert people.authenticate(legacy, PASSWORD).email == legacy
    with pytest.raises(us.UserError, match=us.BAD_LOGIN):
        people.authenticate("carl@example.com", PASSWORD)


def _sign_up_at_once(people: us.Users, emails: list[str]) -> list[str]:
    """Sign ``emails`` up concurrently; what each sign-up answered."""
    barrier = threading.Barrier(len(emails))

    def sign_up(email: str) -> str:
        barrier.wait()
        try:
            return people.create_user(email, "another password!").email
        except us.UserError as exc:
            return str(exc)

    with ThreadPoolExecutor(len(emails)) as pool:
        return list(pool.map(sign_up, emails))


def test_a_row_stored_before_is_migrated_to_its_one_form(db_url: str) -> None:
    """A database at 0024 holding a full-width row: after the migration its owner logs in
    typed either way, and no look-alike can sign up beside it."""
    migrate(db_url, "0024")
    engine = make_engine(db_url)
    try:
        people = _users(engine)
        people.create_user("ann@example.com", PASSWORD)
        with engine.begin() as conn:  # as it was stored before the rule: lower-cased only
            conn.execute(users_table.update().values(email="\uff41nn@example.com"))
        migrate(engine)
        for typed in ("\uff41nn@example.com", "ann@example.com", "\uff21NN@example.com"):
            assert people.authenticate(typed, PASSWORD).email == "ann@example.com"
        look_alikes = ["ann@example.com", "\uff41nn@example.com", "ANN@\uff45xample.com"] * 2
        answers = _sign_up_at_once(people, look_alikes)
        assert answers == ["An account with this e-mail already exists."] * len(look_alikes)
        assert _count(engine) == 1
    finally:
        engine.dispose()


def test_a_look_alike_pair_the_migration_left_both_log_in(db_engine: Engine) -> None:
    """Two rows the migration left side by side (the full-width one was stored before the
    rule, its one form is the other's): each logs in, and steps up, typed as stored, the
    plain one typed any other way, and neither spelling can sign up again."""
    people = _users(db_engine)
    ann = people.create_user("ann@example.com", PASSWORD)
    legacy = "\uff41nn@example.com"
    with db_engine.begin() as conn:
        conn.execute(
            users_table.insert().values(
                email=legacy, password_hash=us._hasher.hash("legacy password"),
                account_id=999, totp_last_step=0, created=1,
            )
        )  # fmt: skip
    old = people.authenticate(legacy, "legacy password")
    assert (old.email, old.account_id) == (legacy, 999)
    assert people.confirm(old.id, "legacy password").id == old.id
    for typed in ("ann@example.com", "ANN@\uff45xample.com"):
        assert people.authenticate(typed, PASSWORD).id == ann.id
    for typed in (legacy, "\uff21NN@example.com"):  # the stored spelling, in capitals too
        with pytest.raises(us.UserError, match=us.BAD_LOGIN):
            people.authenticate(typed, PASSWORD)
        assert people.authenticate(typed, "legacy password").id == old.id
    answers = _sign_up_at_once(people, [legacy, "ann@example.com", "\uff21nn@example.com"])
    assert set(answers) == {"An account with this e-mail already exists."}
    assert _count(db_engine) == 2
