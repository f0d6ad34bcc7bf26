"""User data: ``/api/v3/userDataStream`` keys and the private channels of ``/ws?listenKey=``,
every field of the schema filled from the engine's committed changes."""

from __future__ import annotations

import asyncio

import httpx

from bourse.domain.accounts import AccountKind
from bourse.domain.orders import BUY, SELL
from bourse.engine import commands as c
from bourse.services.listenkeys import MAX_KEYS
from tests.support.clock import backdated

from .live import OAuthApp, WsClient, live_ws, sign_up

P, Q = 5_000_000, 10_000  # 50,000.00 USDT, 0.01 BTC
PATH = "/api/v3/userDataStream"
PERMISSIONS = ("SPOT_ACCOUNT_READ", "SPOT_DEAL_READ", "SPOT_DEAL_WRITE")
PRIVATE = [
    "spot@private.account.v3.api.pb",
    "spot@private.orders.v3.api.pb",
    "spot@private.deals.v3.api.pb",
]


def test_listen_keys_are_created_listed_extended_and_closed(migrated_url: str) -> None:
    with live_ws(migrated_url) as live:
        key = live.listen_key()
        assert len(key) == 64
        assert live.signed("GET", PATH) == {"listenKey": [key]}
        assert live.signed("PUT", PATH, listenKey=key) == {"listenKey": key}
        assert live.signed("GET", PATH, role="counterparty") == {"listenKey": []}
        other = live.signed("PUT", PATH, role="counterparty", listenKey=key)
        assert other == {"code": -1125, "msg": "This listenKey does not exist."}
        assert live.signed("DELETE", PATH, listenKey=key) == {"listenKey": key}
        assert live.signed("DELETE", PATH, listenKey=key)["code"] == -1125
        for _ in range(MAX_KEYS):
            live.listen_key()
        refused = live.signed("POST", PATH)
        assert refused["code"] == -1126 and "60" in refused["msg"]


def test_invalid_listen_key_and_connections_per_key(migrated_url: str) -> None:
    with live_ws(migrated_url) as live:

        async def run() -> None:
            bad = await WsClient.connect(live.ws_url + "?listenKey=nope")
            assert await bad.recv() == "Invalid listen key"
            assert await bad.recv() is None
            await bad.close()
            key = await asyncio.get_running_loop().run_in_executor(None, live.listen_key)
            url = f"{live.ws_url}?listenKey={key}"
            five = [await WsClient.connect(url) for _ in range(5)]
            for ws in five:  # all five are served
                await ws.send("PING")
                assert (await ws.recv())["msg"] == "PONG"
            sixth = await WsClient.connect(url)
            assert "Too many connections" in await sixth.recv()
            await sixth.close()
            for ws in five:
                await ws.close()

        asyncio.run(run())


def test_private_channels_carry_orders_deals_and_balances(migrated_url: str) -> None:
    with live_ws(migrated_url) as live:
        user = live.accounts["user"]

        async def run() -> None:
            loop = asyncio.get_running_loop()
            key = await loop.run_in_executor(None, live.listen_key)
            ws = await WsClient.connect(f"{live.ws_url}?listenKey={key}")
            await ws.send("SUBSCRIPTION", *PRIVATE)
            assert (await ws.recv())["msg"] == ",".join(PRIVATE)
            order = await loop.run_in_executor(None, live.place, "user", BUY, P, 2 * Q)
            new = await ws.until(lambda f: f.channel == PRIVATE[1])
            o = new.privateOrders
            assert new.symbol == "BTCUSDT" and new.sendTime and new.createTime
            assert (o.id, o.price, o.quantity, o.amount) == (str(order.id), "50000", "0.02", "1000")
            assert (o.orderType, o.tradeType, o.status, o.isMaker) == (1, 1, 1, True)
            assert (o.remainQuantity, o.remainAmount, o.cumulativeQuantity) == ("0.02", "1000", "0")
            assert o.createTime == order.created and o.market == "USDT"
            lock = await ws.until(lambda f: f.channel == PRIVATE[0])
            a = lock.privateAccount
            assert (a.vcoinName, a.type, a.frozenAmountChange) == ("USDT", "ENTRUST_PLACE", "1000")
            assert a.balanceAmountChange == "-1000" and a.time > 0

            await loop.run_in_executor(None, live.place, "counterparty", SELL, P, Q)
            frames = []
            while {f.channel for f in frames} != set(PRIVATE) or len(frames) < 4:
                frames.append(await ws.until(lambda f: not isinstance(f, dict | str)))
            filled = next(f.privateOrders for f in frames if f.channel == PRIVATE[1])
            assert (filled.status, filled.cumulativeQuantity, filled.avgPrice) == (
                3,
                "0.01",
                "50000",
            )
            assert filled.lastDealQuantity == "0.01" and filled.isMaker
            deal = next(f.privateDeals for f in frames if f.channel == PRIVATE[2])
            assert (deal.price, deal.quantity, deal.amount) == ("50000", "0.01", "500")
            assert (deal.tradeType, deal.isMaker, deal.isSelfTrade) == (1, True, False)
            assert deal.orderId == str(order.id) and deal.tradeId and deal.time > 0
            assert deal.feeCurrency == "BTC" and deal.feeAmount
            coins = {f.privateAccount.vcoinName for f in frames if f.channel == PRIVATE[0]}
            assert coins == {"USDT", "BTC"}
            await ws.close()

        asyncio.run(run())
        assert user


def test_a_sub_accounts_key_opens_the_sub_accounts_streams(migrated_url: str) -> None:
    with live_ws(migrated_url) as live:
        engine = live.platform.engine
        master = live.accounts["independent_broker"]
        (sub,) = engine.apply_batch_now(
            [c.OpenAccount(AccountKind.BROKER_SUB, parent=master, name="ws-sub")]
        )
        engine.execute(c.CreditDeposit(sub.id, "USDT", 10_000 * 10**8, "ws-sub-funds"))
        api_key, secret = live.platform.apikeys.create_key(sub.id, list(PERMISSIONS))
        live.credentials["sub"] = {"api_key": api_key, "secret": secret}
        live.accounts["sub"] = sub.id

        async def run() -> None:
            loop = asyncio.get_running_loop()
            key = await loop.run_in_executor(None, live.listen_key, "sub")
            ws = await WsClient.connect(f"{live.ws_url}?listenKey={key}")
            await ws.send("SUBSCRIPTION", PRIVATE[0], PRIVATE[1])
            assert (await ws.recv())["code"] == 0
            await loop.run_in_executor(None, live.place, "user", BUY, P, Q)  # not the sub's
            await loop.run_in_executor(None, live.place, "sub", BUY, P - 100, Q)
            order = await ws.until(lambda f: f.channel == PRIVATE[1])
            assert order.privateOrders.price == "49999"
            lock = await ws.until(lambda f: f.channel == PRIVATE[0])
            assert lock.privateAccount.balanceAmount == "9500.01"
            await ws.close()

        asyncio.run(run())


def test_an_oauth_token_gets_a_listen_key_for_its_account(migrated_url: str) -> None:
    """OAuth (authorization code + PKCE): the access token creates the listenKey (scope
    ``read``), and the key opens the private streams of the account the user consented for."""
    with live_ws(migrated_url) as live:
        app = OAuthApp.register(live)
        with httpx.Client(base_url=live.url, follow_redirects=False) as http:
            email = sign_up(http)
            token = app.grant(http)["access_token"]
            bearer = {"Authorization": f"Bearer {token}"}
            key = http.post("/api/v3/userDataStream", headers=bearer).json()["listenKey"]
            assert http.get("/api/v3/userDataStream", headers=bearer).json() == {"listenKey": [key]}
        engine = live.platform.engine
        account = next(a.id for a in engine.wallet.accounts.values() if a.name == email)

        async def run() -> None:
            ws = await WsClient.connect(f"{live.ws_url}?listenKey={key}")
            await ws.send("SUBSCRIPTION", PRIVATE[0])
            assert (await ws.recv())["code"] == 0
            await asyncio.get_running_loop().run_in_executor(
                None, engine.execute, c.CreditDeposit(account, "USDT", 12 * 10**8, "oauth-ws")
            )
            frame = await ws.until(lambda f: f.channel == PRIVATE[0])
            a = frame.privateAccount
            assert (a.vcoinName, a.balanceAmount, a.balanceAmountChange, a.type) == (
                "USDT",
                "12",
                "12",
                "DEPOSIT",
            )
            await ws.close()

        asyncio.run(run())


def test_a_fee_paid_in_mx_is_pushed_in_mx(migrated_url: str) -> None:
    """With ``mxDeduct`` on, the private deals frame names MX as the fee currency: a 500 USDT
    fill at the 0.05 % taker rate is a 0.25 USDT fee, 80 % of it at 2.5 USDT per MX 0.08 MX.
    MX's price is ``AVERAGING_MS`` old (``backdated``): one with no history prices no fee."""
    with live_ws(migrated_url) as live:
        with backdated(live.platform.engine):
            for side in (SELL, BUY):  # MX priced at 2.5 USDT
                live.place("counterparty", side, 25_000, 1_000, "MXUSDT")
        live.platform.engine.execute(c.SetMxDeduct(live.accounts["user"], True))

        async def run() -> None:
            loop = asyncio.get_running_loop()
            key = await loop.run_in_executor(None, live.listen_key)
            ws = await WsClient.connect(f"{live.ws_url}?listenKey={key}")
            await ws.send("SUBSCRIPTION", PRIVATE[2])
            assert (await ws.recv())["code"] == 0
            await loop.run_in_executor(None, live.place, "counterparty", SELL, P, Q)
            await loop.run_in_executor(None, live.place, "user", BUY, P, Q)
            deal = (await ws.until(lambda f: f.channel == PRIVATE[2])).privateDeals
            assert (deal.isMaker, deal.feeCurrency, deal.feeAmount) == (False, "MX", "0.08")
            await ws.close()

        asyncio.run(run())
