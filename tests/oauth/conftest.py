"""Fixtures for the OAuth tests: a migrated database (SQLite and PostgreSQL), an OAuth config
with a movable clock, and a Starlette app with the web and OAuth routes behind Starlette's
TestClient (the browser test runs a real server instead)."""

from __future__ import annotations

import itertools

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from bourse.oauth.server import AuthServer, OAuthConfig
from bourse.services import users
from bourse.services.users import Users
from bourse.store.repositories.oauth import OAuthRepository
from bourse.store.repositories.users import UserRepository
from bourse.web.routes import all_routes
from tests.support.oauth import ISSUER, Clock, Env


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch):  # type: ignore[no-untyped-def]
    """Real argon2id, with test-sized cost (production keeps the library defaults)."""
    from argon2 import PasswordHasher

    fast = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(users, "_hasher", fast)


@pytest.fixture
def env(db_engine):  # type: ignore[no-untyped-def]
    ids = itertools.count(1000)
    clock = Clock()
    config = OAuthConfig(issuer=ISSUER, clock=clock)
    oauth = OAuthRepository(db_engine)
    people = Users(UserRepository(db_engine), lambda email: next(ids), clock=clock)
    server = AuthServer(config, oauth)
    app = Starlette(routes=all_routes(server, people))
    with TestClient(app, base_url=ISSUER, follow_redirects=False) as http:
        yield Env(db_engine, config, server, clock, http, oauth, people)
