"""A frozen account reads and retreats, and gets nothing new: no API key (its own, or one its
master makes for it), no renewal, no listenKey or longer life for one, no broker binding; a
frozen master makes no key either. Reads, deletions and closes still work, and an unfrozen
account creates again. The freeze and a key creation racing it are one order: a key whose
check saw the account unfrozen is stored before the freeze commits (docs/independent-brokers.md).
"""

from __future__ import annotations

import importlib
import threading
from typing import Any

import httpx
import pytest

from bourse.engine import commands as c
from tests.support.mexc import Signer, err, ok
from tests.support.platforms import IEnv

SUBP = "/api/v3/broker/sub-account"
UDS = "/api/v3/userDataStream"
KEY = {"permissions": "SPOT_ACCOUNT_READ", "note": "more"}


def _keys(ienv: IEnv, account: int) -> set[str]:
    return {k["apiKey"] for k in ienv.platform.apikeys.list_keys(account)}


def _put(signer: Signer, listen_key: str) -> httpx.Response:
    return signer.request("PUT", UDS, {"listenKey": listen_key})


def test_a_frozen_sub_account_gets_no_new_key_or_listen_key(ienv: IEnv) -> None:
    _, _, master = ienv.broker(USDT="100")
    sub_id, sub = ienv.sub(master, "icicle001")
    spare = ok(sub.post("/api/v3/user/apiKey", **KEY))["apiKey"]
    listen_key = ok(sub.post(UDS))["listenKey"]
    ok(master.post(f"{SUBP}/status", subAccount="icicle001", status="2"))
    before = _keys(ienv, sub_id)

    err(sub.post("/api/v3/user/apiKey", **KEY), 30018)
    err(sub.post("/api/v3/user/apiKey/renew", apiKey=spare), 30018)
    # the sub-account named as its key's holder knows it
    assert err(sub.post(UDS), 30018)["msg"] == "sub account 'icicle001' is frozen"
    err(_put(sub, listen_key), 30018)
    for path in (f"{SUBP}/apiKey", "/api/v3/sub-account/apiKey"):
        err(master.post(path, subAccount="icicle001", ip="127.0.0.1", **KEY), 140002)
    assert _keys(ienv, sub_id) == before

    # reads still answer, and the account may still give up what it has
    assert ok(sub.get("/api/v3/account"))["canTrade"] is False
    assert ok(sub.get(UDS))["listenKey"] == [listen_key]
    assert spare in {k["apiKey"] for k in ok(sub.get("/api/v3/user/apiKey"))["apiKeys"]}
    ok(sub.request("DELETE", UDS, {"listenKey": listen_key}))
    ok(sub.delete("/api/v3/user/apiKey", apiKey=spare))

    ok(master.post(f"{SUBP}/status", subAccount="icicle001", status="1"))
    ok(sub.post("/api/v3/user/apiKey", **KEY))
    ok(_put(sub, ok(sub.post(UDS))["listenKey"]))
    ok(master.post(f"{SUBP}/apiKey", subAccount="icicle001", ip="127.0.0.1", **KEY))


def test_a_frozen_master_makes_no_key(ienv: IEnv) -> None:
    _, master_id, master = ienv.broker(USDT="100")
    sub_id, _ = ienv.sub(master, "thawed001")
    ienv.platform.engine.execute(c.SetAccountFrozen(master_id, True))
    before = _keys(ienv, sub_id)
    err(master.post(f"{SUBP}/apiKey", subAccount="thawed001", ip="127.0.0.1", **KEY), 30018)
    err(master.post("/api/v3/user/apiKey", **KEY), 30018)
    err(master.post(UDS), 30018)
    assert _keys(ienv, sub_id) == before
    ok(master.get(f"{SUBP}/apiKey", subAccount="thawed001"))


def test_a_frozen_users_key_is_not_bound_to_a_broker(ienv: IEnv) -> None:
    broker_id, _, _ = ienv.broker("Binder")
    user = ienv.open_account(USDT="10")
    signer = ienv.signer(user, ["SPOT_ACCOUNT_READ", "SPOT_ACCOUNT_WRITE"])
    ienv.platform.engine.execute(c.SetAccountFrozen(user, True))
    err(signer.post("/api/v3/user/apiKey/bind", brokerId=broker_id), 30018)
    assert ienv.platform.brokers.bindings.get(signer.api_key) is None
    err(signer.post("/api/v3/broker/apply", brokerType="API", name="Frosty"), 30018)


@pytest.mark.parametrize("what", ["key", "listen_key"])
def test_a_freeze_waits_for_a_creation_that_saw_the_account_unfrozen(
    ienv: IEnv, monkeypatch: pytest.MonkeyPatch, what: str
) -> None:
    """The creation is held in its transaction right after its check found the account
    unfrozen; a freeze sent then commits only after the key is stored (never a key stored
    after the freeze was acknowledged), and the next creation is refused."""
    _, _, master = ienv.broker()
    sub_id, sub = ienv.sub(master, "racing001")
    checked, release = threading.Event(), threading.Event()
    freeze = importlib.import_module("bourse.store.repositories.freeze")
    real = freeze.refuse_frozen

    def held(conn: Any, *accounts: int) -> None:
        real(conn, *accounts)
        if sub_id in accounts and not checked.is_set():
            checked.set()
            release.wait(10)

    for user in ("apikeys", "listenkeys"):  # where the creations call it
        monkeypatch.setattr(f"bourse.store.repositories.{user}.refuse_frozen", held)

    def create() -> httpx.Response:
        if what == "key":
            return sub.post("/api/v3/user/apiKey", **KEY)
        return sub.post(UDS)

    created: list[httpx.Response] = []
    creator = threading.Thread(target=lambda: created.append(create()))
    creator.start()
    assert checked.wait(10)
    frozen = threading.Event()

    def freeze_it() -> None:
        ok(master.post(f"{SUBP}/status", subAccount="racing001", status="2"))
        frozen.set()

    freezer = threading.Thread(target=freeze_it)
    freezer.start()
    answered_while_held = frozen.wait(0.5)
    release.set()
    creator.join(20)
    freezer.join(20)
    assert not answered_while_held, "the freeze was acknowledged before the key was stored"
    assert frozen.is_set()
    got = ok(created[0])
    if what == "key":
        assert got["apiKey"] in _keys(ienv, sub_id)
    else:
        assert ok(sub.get(UDS))["listenKey"] == [got["listenKey"]]
    err(create(), 30018)


def test_a_frozen_master_moves_none_of_its_sub_accounts_money(ienv: IEnv) -> None:
    """A frozen master neither moves money between its sub-accounts nor withdraws for one
    (the broker console's form) nor changes their status: each sub-account is unfrozen, so
    only the master's own freeze, decided by the engine, can refuse it."""
    from bourse.domain.errors import AccountFrozen
    from bourse.domain.money import to_units
    from bourse.sandbox.chain import format_address

    _, master_id, master = ienv.broker(USDT="100")
    a_id, _ = ienv.sub(master, "frostya01")
    b_id, _ = ienv.sub(master, "frostyb01")
    spot = {"fromAccountType": "SPOT", "toAccountType": "SPOT"}
    ok(master.post(f"{SUBP}/universalTransfer", toAccount="frostya01", asset="USDT", amount="50", **spot))  # fmt: skip
    ienv.platform.engine.execute(c.SetAccountFrozen(master_id, True))

    def usdt(account: int) -> int:
        return ienv.platform.engine.read(lambda e: e.exchange.ledger.available(account, "USDT"))

    sub_to_sub = {"fromAccount": "frostya01", "toAccount": "frostyb01", "asset": "USDT"}
    err(master.post(f"{SUBP}/universalTransfer", amount="10", **sub_to_sub, **spot), 30018)
    err(master.post(f"{SUBP}/status", subAccount="frostyb01", status="2"), 30018)
    sub = ienv.platform.subaccounts.by_account(a_id)
    assert sub is not None
    address = format_address("tron", b"frozen master target".ljust(32, b"."))
    with pytest.raises(AccountFrozen):
        ienv.platform.subaccounts.funds.withdraw(
            sub, "USDT", "TRX", address, to_units("20", 8), client_id="w1", initiator=master_id
        )
    assert (usdt(a_id), usdt(b_id)) == (to_units("50", 8), 0)
    assert ok(master.get(f"{SUBP}/list", subAccount="frostyb01"))  # reads still answer

    ienv.platform.engine.execute(c.SetAccountFrozen(master_id, False))
    ok(master.post(f"{SUBP}/universalTransfer", amount="10", **sub_to_sub, **spot))
    assert (usdt(a_id), usdt(b_id)) == (to_units("40", 8), to_units("10", 8))
