"""``bourse serve`` as the operator runs it, in a process of its own that a test can kill -9.

``prepare(url, tmp)`` builds the world the load needs on a fresh database (funded users with
API keys, each with a virtual sub-account; an OAuth app and refresh-token families obtained
through the real consent flow), in this process, before any server runs. ``Serve`` starts
``bourse serve`` on that database (any free port, rate limits off), waits until it announces
itself, and stops it with SIGTERM or SIGKILL. ``bourse_check(url)`` runs ``bourse check``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from bourse.app import create_app
from bourse.bootstrap import open_platform
from bourse.config import AuthLimits, Config, RateLimits
from bourse.domain.accounts import AccountKind
from bourse.domain.money import to_units
from bourse.engine import commands as c
from bourse.oauth import clients as cl
from bourse.operations import invoke
from bourse.operations.runtime import running_server
from bourse.sandbox.demo import FULL_SPOT_PERMISSIONS
from bourse.services.apikeys import generate_server_key
from tests.support.mexc import Signer, ok
from tests.support.oauth import ISSUER, authorize_params, consent, pkce_pair, redirect_query, signup
from tests.support.process import Proc

CALLBACK = "https://app.example/callback"
#: seconds ``bourse serve`` may take to announce itself
START_S = 60


@dataclass
class User:
    account: int
    api_key: str
    secret: str
    sub_name: str


@dataclass
class World:
    url: str
    home: Path
    secret_key: str
    users: list[User] = field(default_factory=list)
    client_id: str = ""
    client_secret: str = ""
    #: one refresh token per token family (each family rotates in one line)
    refresh_tokens: list[str] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BOURSE_")}
        env.update(
            BOURSE_DATABASE_URL=self.url,
            BOURSE_HOME=str(self.home),
            BOURSE_SECRET_KEY=self.secret_key,
            PYTHONUNBUFFERED="1",
        )
        return env


def prepare(url: str, tmp: Path, users: int = 4, families: int = 2) -> World:
    home = tmp / ".bourse"
    home.mkdir(parents=True, exist_ok=True)
    world = World(url, home, generate_server_key())
    config = Config(
        database_url=url,
        secret_key=world.secret_key,
        rate_limits=RateLimits.off(),
        auth_limits=AuthLimits.off(),
        public_url=ISSUER,
        rebate_settle_at=None,
    )
    with (
        open_platform(config) as platform,
        TestClient(
            create_app(platform),
            base_url=ISSUER,
            follow_redirects=False,
            client=("127.0.0.1", 50000),
        ) as http,
    ):
        engine = platform.engine
        for i in range(users):
            acc = engine.execute(c.OpenAccount(AccountKind.USER)).id
            for j, (asset, amount) in enumerate((("USDT", "1000000"), ("BTC", "1000"))):
                scale = engine.wallet.assets[asset].scale
                engine.execute(c.CreditDeposit(acc, asset, to_units(amount, scale), f"f{acc}{j}"))
            key, secret = platform.apikeys.create_key(
                acc, list(FULL_SPOT_PERMISSIONS), ip_whitelist=["127.0.0.1"]
            )
            sub = f"loadsub{i:04d}"
            ok(Signer(http, key, secret).post(
                "/api/v3/sub-account/virtualSubAccount", subAccount=sub, note="load"
            ))  # fmt: skip
            world.users.append(User(acc, key, secret, sub))
        # an OAuth app, and token families from the consent flow
        if families:
            _oauth(platform, http, world, families)
    return world


class Serve(Proc):
    """``bourse serve`` on the world's database, in its own process (``tests.support.process``:
    its output in a file, ``kill9``, ``stop``), once it announced itself."""

    def __init__(self, world: World, *extra: str, env: dict[str, str] | None = None) -> None:
        self.world = world
        super().__init__(
            ["serve", "--port", "0", "--no-rate-limit", "--log-level", "warning",
             "--settle-at", "off", *extra],
            {**world.env(), **(env or {})},
            world.home.parent,
            "serve",
        )  # fmt: skip
        deadline = time.monotonic() + START_S
        while (
            server := running_server(world.home, world.url)
        ) is None or server.pid != self.proc.pid:
            if self.proc.poll() is not None:
                raise AssertionError(f"bourse serve exited {self.proc.returncode}: {self.log()}")
            assert time.monotonic() < deadline, "bourse serve did not announce itself"
            time.sleep(0.05)
        self.url: str = server.url


def bourse_check(world: World) -> Any:
    """``bourse check`` on the world's database: (exit code, stdout + stderr)."""
    proc = subprocess.run(
        [sys.executable, "-m", "bourse.cli", "check", "--db", world.url],
        env=world.env(),
        cwd=world.home.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return proc.returncode, proc.stdout + proc.stderr


def _oauth(platform: Any, http: TestClient, world: World, families: int) -> None:
    """An approved OAuth broker's app; ``families`` refresh tokens from the consent flow."""
    engine = platform.engine
    owner = engine.execute(c.OpenAccount(AccountKind.BROKER_MASTER, name="App")).id
    bkey, bsecret = platform.apikeys.create_key(owner, ["SPOT_ACCOUNT_READ", "SPOT_ACCOUNT_WRITE"])
    b = platform.brokers.registry.apply(owner, "OAUTH", "App", callback_url=CALLBACK)
    out = invoke(platform, "brokers.approve", {"broker": b.id}, actor="test", source="test")
    world.client_id, world.client_secret = out["clientId"], out["clientSecret"]
    ok(Signer(http, bkey, bsecret).post(
        "/api/v3/broker/oauth/client/redirectUri", clientId=world.client_id,
        redirectUri=CALLBACK,
    ))  # fmt: skip
    client = cl.get_client(platform.oauth, world.client_id)
    assert client is not None
    reg = cl.Registered(client, world.client_secret)
    signup(http)
    for _ in range(families):
        verifier, challenge = pkce_pair()
        params = authorize_params(reg, challenge, redirect_uri=CALLBACK, scope="read")
        q = redirect_query(consent(http, params))
        r = http.post("/oauth/token", data={
            "grant_type": "authorization_code", "code": q["code"], "redirect_uri": CALLBACK,
            "code_verifier": verifier, "client_id": world.client_id,
            "client_secret": world.client_secret,
        })  # fmt: skip
        world.refresh_tokens.append(ok(r)["refresh_token"])
