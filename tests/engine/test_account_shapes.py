"""The engine opens only accounts that can exist (``domain.accounts.check_shape``): a
``BROKER_SUB`` hangs under a main account (a user, for MEXC's normal sub-account API, or a
broker's master), the other kinds under nothing, and system accounts are never opened."""

from __future__ import annotations

import pytest

from bourse.domain.accounts import FEE_REVENUE, AccountKind
from bourse.domain.errors import AccountNotFound, AccountShapeInvalid
from bourse.engine import Engine
from bourse.engine import commands as c
from bourse.store.memory import MemoryStore

USER, MASTER, SUB, SYSTEM = (
    AccountKind.USER,
    AccountKind.BROKER_MASTER,
    AccountKind.BROKER_SUB,
    AccountKind.SYSTEM,
)


@pytest.fixture
def engine() -> Engine:
    return Engine(MemoryStore())


def test_the_legitimate_shapes_open(engine: Engine) -> None:
    user = engine.execute(c.OpenAccount(USER)).id
    master = engine.execute(c.OpenAccount(MASTER)).id
    for parent in (user, master):
        sub = engine.execute(c.OpenAccount(SUB, parent=parent))
        assert (sub.kind, sub.parent) == (SUB, parent)


@pytest.mark.parametrize(
    ("kind", "parent_kind", "message"),
    [
        (SUB, None, "a BROKER_SUB account needs a parent account"),
        (SUB, SUB, "parent must be a USER or BROKER_MASTER account, not BROKER_SUB"),
        (SUB, SYSTEM, "parent must be a USER or BROKER_MASTER account, not SYSTEM"),
        (USER, MASTER, "a USER account takes no parent"),
        (USER, USER, "a USER account takes no parent"),
        (MASTER, MASTER, "a BROKER_MASTER account takes no parent"),
        (SYSTEM, None, "system accounts are fixed"),
    ],
)
def test_impossible_shapes_are_refused_and_nothing_opens(
    engine: Engine, kind: AccountKind, parent_kind: AccountKind | None, message: str
) -> None:
    master = engine.execute(c.OpenAccount(MASTER)).id
    parents = {
        None: None,
        USER: engine.execute(c.OpenAccount(USER)).id,
        MASTER: master,
        SUB: engine.execute(c.OpenAccount(SUB, parent=master)).id,
        SYSTEM: FEE_REVENUE,
    }
    before = engine.read(lambda e: set(e.wallet.accounts))
    with pytest.raises(AccountShapeInvalid, match=message):
        engine.execute(c.OpenAccount(kind, parent=parents[parent_kind]))
    assert engine.read(lambda e: set(e.wallet.accounts)) == before


def test_a_parent_that_does_not_exist_is_refused(engine: Engine) -> None:
    with pytest.raises(AccountNotFound, match="account 999 does not exist"):
        engine.execute(c.OpenAccount(SUB, parent=999))
