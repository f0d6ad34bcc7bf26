"""A listenKey belongs to the credential that created it (``services.listenkeys``): an OAuth
token sees only the keys of its own grant and an API key none of an OAuth grant's; a key stops
working, and its open streams are closed, once its creator ends (the grant revoked, the API key
deleted, revoked or expired), at once when the process hears of it (here, or from another
process over NATS), and within ``listen_key_check_s`` when nobody says so."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

import httpx
from sqlalchemy import update
from starlette.applications import Starlette

from bourse.api.ws.limits import StreamLimits
from bourse.api.ws.routes import ws_routes
from bourse.bootstrap import open_platform
from bourse.bus.nats import NatsBus
from bourse.config import Config
from bourse.domain.accounts import AccountKind
from bourse.engine import commands as c
from bourse.engine.clock import now_ms
from bourse.oauth.clients import register_for_broker
from bourse.oauth.tokens import digest
from bourse.services.listenkeys import MAX_KEYS, Owner, TooManyListenKeys
from bourse.store import tables as t
from bourse.store.oauth_tables import sessions
from bourse.store.repositories.apikeys import ApiKeyRepository
from bourse.store.repositories.oauth import OAuthRepository
from bourse.store.transaction import StoreBusy
from bourse.web.pages import cookie_names
from tests.support.nats import NATS_URL, unique_name
from tests.support.server import ServerThread

from .live import PASSWORD, REDIRECT, LiveWs, OAuthApp, WsClient, live_ws, sign_up

PATH = "/api/v3/userDataStream"
PERMISSIONS = ["SPOT_ACCOUNT_READ", "SPOT_DEAL_READ", "SPOT_DEAL_WRITE"]
ACCOUNT_CHANNEL = "spot@private.account.v3.api.pb"
UNKNOWN = {"code": -1125, "msg": "This listenKey does not exist."}
#: the periodic check, long enough that only a revocation's own signal can close in time
SLOW_CHECK = StreamLimits(listen_key_check_s=600.0, idle_without_traffic_s=600.0)
#: the longest a signalled revocation may take to close a stream (in practice milliseconds)
PROMPT_S = 5.0


@dataclass
class User:
    """A signed-up user with an API key (its bots') and a ``read`` grant of ``app``."""

    account: int
    role: str  # its API key in ``live.credentials``
    app: OAuthApp
    tokens: dict[str, Any]

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens['access_token']}"}


def _user(live: LiveWs, app: OAuthApp, role: str = "owner") -> User:
    with httpx.Client(base_url=live.url, follow_redirects=False) as http:
        email = sign_up(http)
        tokens = app.grant(http)
    engine = live.platform.engine
    account = next(a.id for a in engine.wallet.accounts.values() if a.name == email)
    api_key, secret = live.platform.apikeys.create_key(account, PERMISSIONS)
    live.credentials[role] = {"api_key": api_key, "secret": secret}
    return User(account, role, app, tokens)


def _bearer(live: LiveWs, method: str, headers: dict[str, str], **params: str) -> Any:
    return httpx.request(method, live.url + PATH, params=params, headers=headers, timeout=10).json()


async def _blocking(fn: Callable[..., Any], *args: Any) -> Any:
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


async def _subscribed(ws_url: str, key: str) -> WsClient:
    ws = await WsClient.connect(f"{ws_url}?listenKey={key}")
    await ws.send("SUBSCRIPTION", ACCOUNT_CHANNEL)
    assert (await ws.recv())["msg"] == ACCOUNT_CHANNEL
    return ws


async def _streams(live: LiveWs, ws: WsClient, account: int) -> None:
    """``ws`` gets ``account``'s next balance change."""
    ref = f"owners-{time.monotonic_ns()}"
    await _blocking(live.platform.engine.execute, c.CreditDeposit(account, "USDT", 10**8, ref))
    frame = await ws.until(lambda f: not isinstance(f, dict | str), timeout=PROMPT_S)
    assert frame.channel == ACCOUNT_CHANNEL and frame.privateAccount.type == "DEPOSIT"


async def _closed(ws: WsClient, within: float = PROMPT_S) -> None:
    """``ws`` is told ``Invalid listen key`` and closed within ``within`` seconds."""
    started = time.monotonic()
    frame: Any = ""
    while frame != "Invalid listen key":
        left = within - (time.monotonic() - started)
        assert left > 0, "the stream is still open"
        try:
            frame = await ws.recv(left)
        except TimeoutError:
            raise AssertionError("the stream is still open") from None
        assert frame is not None, "closed without a word"
    assert await ws.recv(2) is None
    await ws.close()


async def _refused(ws_url: str, key: str) -> None:
    ws = await WsClient.connect(f"{ws_url}?listenKey={key}")
    assert await ws.recv() == "Invalid listen key"
    assert await ws.recv() is None
    await ws.close()


def test_a_token_sees_only_the_keys_its_grant_created(migrated_url: str) -> None:
    with live_ws(migrated_url) as live:
        app = OAuthApp.register(live)
        user = _user(live, app)
        bots = live.signed("POST", PATH, user.role)["listenKey"]
        mine = _bearer(live, "POST", user.bearer)["listenKey"]

        assert _bearer(live, "GET", user.bearer) == {"listenKey": [mine]}
        assert _bearer(live, "PUT", user.bearer, listenKey=bots) == UNKNOWN
        assert _bearer(live, "DELETE", user.bearer, listenKey=bots) == UNKNOWN
        assert live.signed("GET", PATH, user.role) == {"listenKey": [bots]}  # still there
        assert live.signed("PUT", PATH, user.role, listenKey=mine) == UNKNOWN
        assert live.signed("DELETE", PATH, user.role, listenKey=mine) == UNKNOWN

        # the grant, not the access token: a refreshed token keeps the grant's keys
        refreshed = app.token(
            grant_type="refresh_token", refresh_token=user.tokens["refresh_token"]
        )
        headers = {"Authorization": f"Bearer {refreshed['access_token']}"}
        assert _bearer(live, "GET", headers) == {"listenKey": [mine]}
        assert _bearer(live, "PUT", headers, listenKey=mine) == {"listenKey": mine}

        assert _bearer(live, "DELETE", headers, listenKey=mine) == {"listenKey": mine}
        assert _bearer(live, "GET", headers) == {"listenKey": []}


def test_another_apps_grant_of_the_same_user_sees_nothing(migrated_url: str) -> None:
    with live_ws(migrated_url) as live:
        first, second = OAuthApp.register(live, "First"), OAuthApp.register(live, "Second")
        with httpx.Client(base_url=live.url, follow_redirects=False) as http:
            sign_up(http)
            a = {"Authorization": f"Bearer {first.grant(http)['access_token']}"}
            b = {"Authorization": f"Bearer {second.grant(http)['access_token']}"}
        key = _bearer(live, "POST", a)["listenKey"]
        assert _bearer(live, "GET", b) == {"listenKey": []}
        assert _bearer(live, "DELETE", b, listenKey=key) == UNKNOWN
        assert _bearer(live, "GET", a) == {"listenKey": [key]}


def test_revoking_the_grant_closes_its_streams_at_once(migrated_url: str) -> None:
    """The reproduction: after ``/oauth/revoke`` the app's listenKey streamed on. Now its open
    stream is closed at once (the periodic check is 10 minutes away) and a new one refused;
    the user's own bot, on its API key's listenKey, streams on."""
    with live_ws(migrated_url, limits=SLOW_CHECK) as live:
        app = OAuthApp.register(live)
        user = _user(live, app)
        mine = _bearer(live, "POST", user.bearer)["listenKey"]
        bots = live.signed("POST", PATH, user.role)["listenKey"]

        async def run() -> None:
            ws = await _subscribed(live.ws_url, mine)
            bot = await _subscribed(live.ws_url, bots)
            await _streams(live, ws, user.account)
            await _blocking(app.revoke, user.tokens["refresh_token"])
            assert (await _blocking(_bearer, live, "GET", user.bearer))["code"] == 10072
            await _closed(ws)
            await _refused(live.ws_url, mine)
            await _streams(live, bot, user.account)
            await bot.close()

        asyncio.run(run())


def test_revoking_the_app_on_the_account_page_closes_its_streams(migrated_url: str) -> None:
    """The user's "Revoke" (``revoke_consent``) ends the app's keys like ``/oauth/revoke``."""
    with live_ws(migrated_url, limits=SLOW_CHECK) as live:
        app = OAuthApp.register(live)
        user = _user(live, app)
        mine = _bearer(live, "POST", user.bearer)["listenKey"]
        user_id = live.platform.oauth.family_rows(_family(live, user))[0].user_id

        async def run() -> None:
            ws = await _subscribed(live.ws_url, mine)
            await _blocking(live.platform.oauth.revoke_consent, user_id, app.client_id, now_ms())
            await _closed(ws)
            await _refused(live.ws_url, mine)

        asyncio.run(run())


def _broker_app(live: LiveWs) -> tuple[int, OAuthApp]:
    """An approved OAUTH broker's id and its app (``register_for_broker``)."""
    engine, registry = live.platform.engine, live.platform.brokers.registry
    owner = engine.execute(c.OpenAccount(AccountKind.BROKER_MASTER, name="stream broker"))
    broker = registry.apply(owner.id, "OAUTH", "Stream Broker", callback_url=REDIRECT)
    broker = registry.approve(broker.id)
    reg = register_for_broker(live.platform.oauth, broker, redirect_uris=[REDIRECT])
    assert reg is not None
    return broker.id, OAuthApp(live.url, reg.client.client_id, reg.client_secret)


def test_suspending_the_broker_closes_its_apps_streams_at_once(migrated_url: str) -> None:
    """A suspended broker's grants end with it: its app's open stream is closed at once (it
    waited for the periodic check before, 10 minutes here); the user's bot streams on."""
    with live_ws(migrated_url, limits=SLOW_CHECK) as live:
        broker, app = _broker_app(live)
        user = _user(live, app)
        mine = _bearer(live, "POST", user.bearer)["listenKey"]
        bots = live.signed("POST", PATH, user.role)["listenKey"]

        async def run() -> None:
            ws = await _subscribed(live.ws_url, mine)
            bot = await _subscribed(live.ws_url, bots)
            await _streams(live, ws, user.account)
            await _blocking(live.platform.brokers.registry.suspend, broker)
            await _closed(ws)
            await _refused(live.ws_url, mine)
            await _streams(live, bot, user.account)
            await bot.close()

        asyncio.run(run())


def _family(live: LiveWs, user: User) -> str:
    """The grant (token family) of ``user``'s access token."""
    row = live.platform.oauth.token_by_access(digest(user.tokens["access_token"]))
    assert row is not None
    return str(row.family_id)


def test_deleting_an_api_key_closes_its_streams_at_once(migrated_url: str) -> None:
    """A deleted API key's listenKeys stop; another key's of the same account stream on, and
    that key no longer lists the deleted key's."""
    with live_ws(migrated_url, limits=SLOW_CHECK) as live:
        account = live.accounts["user"]
        doomed, secret = live.platform.apikeys.create_key(account, PERMISSIONS)
        live.credentials["doomed"] = {"api_key": doomed, "secret": secret}
        gone = live.signed("POST", PATH, "doomed")["listenKey"]
        kept = live.signed("POST", PATH, "user")["listenKey"]
        assert live.signed("GET", PATH, "user") == {"listenKey": [gone, kept]}  # MEXC's rule

        async def run() -> None:
            ws = await _subscribed(live.ws_url, gone)
            other = await _subscribed(live.ws_url, kept)
            await _blocking(live.platform.apikeys.delete_key, doomed)
            await _closed(ws)
            await _refused(live.ws_url, gone)
            await _streams(live, other, account)
            await other.close()

        asyncio.run(run())
        assert live.signed("GET", PATH, "user") == {"listenKey": [kept]}
        assert live.signed("PUT", PATH, "user", listenKey=gone) == UNKNOWN


def test_what_nobody_announces_is_seen_at_the_next_check(migrated_url: str) -> None:
    """A revocation written by a process that tells nobody (a CLI without the bus), and an
    API key that expires, close the stream at the watcher's next check (0.3 s here)."""
    quick = StreamLimits(listen_key_check_s=0.3, idle_without_traffic_s=600.0)
    with live_ws(migrated_url, limits=quick) as live:
        app = OAuthApp.register(live)
        user = _user(live, app)
        mine = _bearer(live, "POST", user.bearer)["listenKey"]
        account = live.accounts["user"]
        expiring, secret = live.platform.apikeys.create_key(account, PERMISSIONS)
        live.credentials["expiring"] = {"api_key": expiring, "secret": secret}
        lapsing = live.signed("POST", PATH, "expiring")["listenKey"]
        revoked = live.signed("POST", PATH, "user")["listenKey"]
        silent = OAuthRepository(live.platform.db)  # another process's: no signal
        family = _family(live, user)

        def expire() -> None:
            with live.platform.db.begin() as conn:
                k = t.api_keys.c
                conn.execute(update(t.api_keys).where(k.api_key == expiring).values(expires=1))

        async def run() -> None:
            for key, end in (
                (mine, lambda: silent.revoke_family(family, now_ms())),
                (lapsing, expire),
                (
                    revoked,
                    lambda: ApiKeyRepository(live.platform.db).revoke(
                        live.credentials["user"]["api_key"]
                    ),
                ),
            ):
                ws = await _subscribed(live.ws_url, key)
                await _blocking(end)
                await _closed(ws, within=3.0)
                await _refused(live.ws_url, key)

        asyncio.run(run())


@contextmanager
def _follower(live: LiveWs, database_url: str, bus_name: str) -> Iterator[str]:
    """A second platform on the same database and bus (another process's, as a gateway's:
    it follows the writer), serving ``/ws`` with a 10-minute periodic check; yields its URL."""
    config = Config(
        database_url=database_url,
        secret_key=live.platform.config.secret_key,
        bus_url=NATS_URL,
        bus_name=bus_name,
        role="follower",
    )
    platform = open_platform(config)
    try:
        with ServerThread(Starlette(routes=ws_routes(platform, SLOW_CHECK))) as server:
            yield server.url.replace("http://", "ws://") + "/ws"
    finally:
        platform.close()


def test_a_revocation_in_another_process_closes_the_streams_here(migrated_url: str) -> None:
    """The streams are on the follower; the grant is revoked and the API key deleted on the
    writer: the follower hears it over NATS (``bus.cache_events``) and closes them at once."""
    name = unique_name()
    try:
        with live_ws(migrated_url, bus_url=NATS_URL, bus_name=name) as live:
            app = OAuthApp.register(live)
            user = _user(live, app)
            mine = _bearer(live, "POST", user.bearer)["listenKey"]
            bots = live.signed("POST", PATH, user.role)["listenKey"]
            with _follower(live, migrated_url, name) as ws_url:

                async def run() -> None:
                    app_ws = await _subscribed(ws_url, mine)
                    bot_ws = await _subscribed(ws_url, bots)
                    await _blocking(app.revoke, user.tokens["access_token"])
                    await _closed(app_ws)
                    api_key = live.credentials[user.role]["api_key"]
                    await _blocking(live.platform.apikeys.delete_key, api_key)
                    await _closed(bot_ws)
                    await _refused(ws_url, mine)
                    await _refused(ws_url, bots)

                asyncio.run(run())
    finally:
        NatsBus(NATS_URL, name).delete_stream()


def test_a_suspension_in_another_process_closes_the_streams_here(migrated_url: str) -> None:
    """The app's stream is on the follower; its broker is suspended on the writer: the
    follower hears it over NATS (``bus.cache_events``) and closes the stream at once."""
    name = unique_name()
    try:
        with live_ws(migrated_url, bus_url=NATS_URL, bus_name=name) as live:
            broker, app = _broker_app(live)
            user = _user(live, app)
            mine = _bearer(live, "POST", user.bearer)["listenKey"]
            with _follower(live, migrated_url, name) as ws_url:

                async def run() -> None:
                    ws = await _subscribed(ws_url, mine)
                    await _blocking(live.platform.brokers.registry.suspend, broker)
                    await _closed(ws)
                    await _refused(ws_url, mine)

                asyncio.run(run())
    finally:
        NatsBus(NATS_URL, name).delete_stream()


def test_the_key_limit_holds_under_concurrency_and_apps_have_their_own(migrated_url: str) -> None:
    """At most 60 live keys for the account's API keys, however many creations race; an app's
    grant has places of its own, so it cannot use up the bots'; a deleted API key's keys stop
    counting."""
    with live_ws(migrated_url) as live:
        app = OAuthApp.register(live)
        user = _user(live, app)
        keys = live.platform.listen_keys
        api_key = live.credentials[user.role]["api_key"]
        bot = Owner(api_key=api_key)
        barrier = threading.Barrier(MAX_KEYS + 10, timeout=30)

        def create(_: int) -> str:
            barrier.wait()
            for _attempt in range(20):
                try:
                    return keys.create(user.account, now_ms(), bot)
                except StoreBusy:
                    time.sleep(0.05)
                except TooManyListenKeys:
                    return "refused"
            return "busy"

        with ThreadPoolExecutor(MAX_KEYS + 10) as pool:
            answers = list(pool.map(create, range(MAX_KEYS + 10), timeout=120))
        assert answers.count("refused") == 10, answers.count("busy")
        assert len(keys.keys(user.account, now_ms(), bot)) == MAX_KEYS
        # the app still gets a key; the bots do not
        assert "listenKey" in _bearer(live, "POST", user.bearer)
        assert live.signed("POST", PATH, user.role)["code"] == -1126
        # the bots' keys die with their API key, and stop counting
        live.platform.apikeys.delete_key(api_key)
        other, secret = live.platform.apikeys.create_key(user.account, PERMISSIONS)
        live.credentials["other"] = {"api_key": other, "secret": secret}
        assert live.signed("GET", PATH, "other") == {"listenKey": []}
        assert "listenKey" in live.signed("POST", PATH, "other")


# --- the web console's key: its session's ------------------------------------------------------
def _log_in(http: httpx.Client, email: str) -> None:
    csrf = re.search(r'name="csrf_token" value="([^"]*)"', http.get("/login").text)
    assert csrf
    form = {"email": email, "password": PASSWORD, "csrf_token": csrf.group(1)}
    assert http.post("/login", data=form).status_code == 303


def _csrf(http: httpx.Client) -> str:
    m = re.search(r'name="csrf_token" value="([^"]*)"', http.get("/trade/BTCUSDT").text)
    assert m
    return m.group(1)


def _console_key(http: httpx.Client) -> str:
    """The listenKey the trade page opens its streams with (``static/livebook.js``)."""
    r = http.post("/trade/BTCUSDT/stream-key", data={"csrf_token": _csrf(http)})
    assert r.status_code == 200, r.text
    return str(r.json()["listenKey"])


def _sessions(live: LiveWs, n: int) -> tuple[int, list[httpx.Client]]:
    """A new user's account and ``n`` web sessions of it (as many browsers)."""
    clients = [httpx.Client(base_url=live.url, follow_redirects=False) for _ in range(n)]
    email = sign_up(clients[0])
    for http in clients[1:]:
        _log_in(http, email)
    account = next(a.id for a in live.platform.engine.wallet.accounts.values() if a.name == email)
    return account, clients


def test_logging_out_closes_the_consoles_stream_at_once(migrated_url: str) -> None:
    """The trade page's listenKey lives as long as the web session it was made in: a log-out
    closes that session's open stream at once (the periodic check is 10 minutes away) and its
    key is refused; the same user's other session (another browser) has its own key, whose
    stream goes on."""
    with live_ws(migrated_url, limits=SLOW_CHECK) as live:
        account, (here, there) = _sessions(live, 2)
        mine, other = _console_key(here), _console_key(there)
        assert mine != other and _console_key(here) == mine  # a page load reuses its session's

        async def run() -> None:
            ws = await _subscribed(live.ws_url, mine)
            await _streams(live, ws, account)
            other_ws = await _subscribed(live.ws_url, other)
            r = await _blocking(partial(here.post, "/logout", data={"csrf_token": _csrf(here)}))
            assert r.status_code == 303 and r.headers["location"] == "/login"
            await _closed(ws)
            await _refused(live.ws_url, mine)
            await _streams(live, other_ws, account)
            await other_ws.close()

        asyncio.run(run())
        for http in (here, there):
            http.close()


def test_a_session_that_expires_or_is_ended_ends_its_consoles_stream(migrated_url: str) -> None:
    """A session past its expiry (nobody announces it) closes its stream at the watcher's next
    check; a password change, which ends the user's other sessions, closes theirs; the session
    the change was made in streams on."""
    quick = StreamLimits(listen_key_check_s=0.3, idle_without_traffic_s=600.0)
    with live_ws(migrated_url, limits=quick) as live:
        account, clients = _sessions(live, 3)
        expiring, ended, kept = (_console_key(http) for http in clients)
        name, _ = cookie_names(False)
        hashes = [digest(str(http.cookies.get(name))) for http in clients]
        users = live.platform.users
        session = users.load_session(str(clients[2].cookies.get(name)))
        assert session is not None and session.id_hash == hashes[2]

        def expire() -> None:
            with live.platform.db.begin() as conn:
                s = sessions.c
                conn.execute(update(sessions).where(s.id_hash == hashes[0]).values(expires=1))

        def change_password() -> None:
            users.change_password(session.user.id, PASSWORD, PASSWORD + " again",
                                  keep_session=session.id_hash)  # fmt: skip

        async def run() -> None:
            kept_ws = await _subscribed(live.ws_url, kept)
            for key, end in ((expiring, expire), (ended, change_password)):
                ws = await _subscribed(live.ws_url, key)
                await _blocking(end)
                await _closed(ws, within=3.0)
                await _refused(live.ws_url, key)
            await _streams(live, kept_ws, account)
            await kept_ws.close()

        asyncio.run(run())
        for http in clients:
            http.close()
