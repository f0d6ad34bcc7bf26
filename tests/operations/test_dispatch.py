"""``operations.dispatch``: what an operator is told when the engine could not apply a command.

On SQLite and PostgreSQL: a command the store refuses alone (a trigger refuses the account's
row) is answered with why, and no hint of another server; a refusal because another process is
the writer (this engine is read-only) still asks whether a server runs on the database.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bourse.bootstrap import open_platform
from bourse.config import AuthLimits, Config, RateLimits
from bourse.operations import OperationError, invoke
from bourse.services.apikeys import generate_server_key
from bourse.services.bundle import Services

HINT = "is a server running on this database?"


@pytest.fixture
def platform(migrated_url: str, tmp_path: Path) -> Iterator[Services]:
    config = Config(
        database_url=migrated_url,
        secret_key=generate_server_key(),
        key_dir=str(tmp_path),
        rate_limits=RateLimits.off(),
        auth_limits=AuthLimits.off(),
    )
    platform = open_platform(config)
    try:
        yield platform
    finally:
        platform.engine.read_only = None
        platform.close()


def _refuse_account_named_poison(platform: Services) -> None:
    with platform.db.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql(
                "CREATE TRIGGER poison BEFORE INSERT ON accounts WHEN NEW.name = 'poison' "
                "BEGIN SELECT RAISE(ABORT, 'poisoned row'); END"
            )
            return
        conn.exec_driver_sql(
            "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF NEW.name = 'poison' THEN RAISE EXCEPTION 'poisoned row' "
            "USING ERRCODE = 'check_violation'; END IF; RETURN NEW; END $$"
        )
        conn.exec_driver_sql(
            "CREATE TRIGGER poison BEFORE INSERT ON accounts FOR EACH ROW EXECUTE FUNCTION poison()"
        )


def _open(platform: Services, name: str) -> object:
    params = {"name": name}
    return invoke(platform, "accounts.open", params, actor="tester", source="test")


def test_the_other_server_hint_only_where_it_applies(platform: Services) -> None:
    _refuse_account_named_poison(platform)
    with pytest.raises(OperationError) as refused:
        _open(platform, "poison")
    assert refused.value.status == 503
    assert "poisoned row" in str(refused.value) and HINT not in str(refused.value)
    assert _open(platform, "fine")  # the engine goes on
    platform.engine.read_only = "this server follows another one (read-only)"
    with pytest.raises(OperationError) as elsewhere:
        _open(platform, "fine too")
    assert elsewhere.value.status == 503 and HINT in str(elsewhere.value)
