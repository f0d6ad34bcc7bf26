"""What a key may do to the account's other keys through ``/api/v3/user/apiKey``
(``bourse.domain.keyscope``), over real HTTP on SQLite and PostgreSQL: no wider key is renewed,
rotated, deleted, bound or created; a key bound to a broker acts only on keys of that broker;
renewals end by the signer's own expiry, so two keys renewing each other (concurrently too)
never outlive the latest expiry the owner gave."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from bourse.engine.clock import now_ms
from tests.support.mexc import Signer, err, ok
from tests.support.platforms import Env

DAY = 86_400_000
TRADE = ["SPOT_ACCOUNT_READ", "SPOT_ACCOUNT_WRITE", "SPOT_DEAL_READ", "SPOT_DEAL_WRITE"]
WITHDRAW = ["SPOT_WITHDRAW_READ", "SPOT_WITHDRAW_WRITE"]
RENEW, KEY, BIND = "/api/v3/user/apiKey/renew", "/api/v3/user/apiKey", "/api/v3/user/apiKey/bind"
ORDER = dict(side="BUY", type="LIMIT", quantity="0.001", price="1000")


def _key(env: Env, account: int, permissions: list[str], **kw: object) -> str:
    return env.platform.apikeys.create_key(account, permissions, **kw)[0]  # type: ignore[arg-type]


def _untouched(env: Env, api_key: str, secret_before: str) -> None:
    k = env.platform.apikeys.repository.get(api_key)
    assert k is not None and not k.revoked
    env.platform.apikeys.forget(api_key)
    found = env.platform.apikeys.lookup(api_key)
    assert found is not None and found.secret == secret_before


def _refused_everything(env: Env, actor: Signer, target: str) -> None:
    """``actor`` can neither rotate, renew, delete nor bind ``target`` (700007, HTTP 401)."""
    before = env.platform.apikeys.lookup(target)
    assert before is not None
    body = err(actor.post(RENEW, apiKey=target, rotateSecret="true"), 700007, 401)
    assert "secretKey" not in body
    err(actor.post(RENEW, apiKey=target), 700007, 401)
    err(actor.delete(KEY, apiKey=target), 700007, 401)
    _untouched(env, target, before.secret)


def test_a_key_cannot_renew_rotate_or_delete_a_wider_key(env: Env) -> None:
    acc = env.open_account(USDT="100")
    weak = env.signer(acc, TRADE, symbols=["BTCUSDT"], ip_whitelist=["127.0.0.1"])
    limits = {"symbols": ["BTCUSDT"], "ip_whitelist": ["127.0.0.1"]}
    wider = {
        "withdrawals": _key(env, acc, WITHDRAW, **limits),
        "more permissions": _key(env, acc, [*TRADE, "SPOT_TRANSFER_WRITE"], **limits),
        "every pair": _key(env, acc, TRADE, ip_whitelist=["127.0.0.1"]),
        "another pair": _key(env, acc, TRADE, symbols=["ETHUSDT"], ip_whitelist=["127.0.0.1"]),
        "any address": _key(env, acc, TRADE, symbols=["BTCUSDT"]),
        "a wider network": _key(env, acc, TRADE, symbols=["BTCUSDT"], ip_whitelist=["127.0.0.0/8"]),
        "another address": _key(env, acc, TRADE, symbols=["BTCUSDT"], ip_whitelist=["10.0.0.1"]),
    }
    for name, target in wider.items():
        try:
            _refused_everything(env, weak, target)
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from None
    # a key no wider than the signer: rotated (the new secret works), then deleted
    narrow = _key(env, acc, ["SPOT_DEAL_WRITE"], symbols=["BTCUSDT"], ip_whitelist=["127.0.0.1/32"])
    rot = ok(weak.post(RENEW, apiKey=narrow, rotateSecret="true"))
    ok(
        Signer(env.http, narrow, rot["secretKey"]).post(
            "/api/v3/order/test", symbol="BTCUSDT", **ORDER
        )
    )
    ok(weak.delete(KEY, apiKey=narrow))
    assert env.platform.apikeys.repository.get(narrow).revoked
    # a key may still delete itself, never renew itself
    err(weak.post(RENEW, apiKey=weak.api_key), 730003)
    ok(weak.delete(KEY, apiKey=weak.api_key))


def test_renewals_end_by_the_signers_expiry_even_when_two_keys_renew_each_other(
    env: Env,
) -> None:
    acc = env.open_account(USDT="100")
    now = now_ms()
    a = env.signer(acc, TRADE, expires=now + 10 * DAY)  # no IPs: at most 90 days
    b = env.signer(acc, TRADE, expires=now + 20 * DAY)
    ceiling = now + 20 * DAY
    # a key that expires earlier cannot renew (nor rotate) one that expires later
    err(a.post(RENEW, apiKey=b.api_key), 700007, 401)
    # a renewal ends by the signer's own expiry, not 90 days from now; asked beyond it: refused
    assert ok(b.post(RENEW, apiKey=a.api_key))["expireTime"] == ceiling
    err(b.post(RENEW, apiKey=a.api_key, expireTime=ceiling + 1), 700007, 401)
    # the loop: concurrent renewals both ways keep both keys alive only up to the ceiling
    with ThreadPoolExecutor(8) as pool:
        jobs = [
            pool.submit(lambda x=x, y=y: x.post(RENEW, apiKey=y.api_key))
            for x, y in [(a, b), (b, a)] * 10
        ]
        answers = [j.result() for j in jobs]
    assert all(r.status_code == 200 for r in answers), [r.text for r in answers]
    assert {r.json()["expireTime"] for r in answers} == {ceiling}
    expiries = {k["apiKey"]: k["expireTime"] for k in ok(a.get(KEY))["apiKeys"]}
    assert expiries == {a.api_key: ceiling, b.api_key: ceiling}
    # a key that never expires (it has IPs) is wider than both: no expiring key renews it
    anchor = _key(env, acc, TRADE, ip_whitelist=["127.0.0.1"])
    err(a.post(RENEW, apiKey=anchor), 700007, 401)


def test_a_key_bound_to_a_broker_acts_only_on_keys_of_that_broker(env: Env) -> None:
    broker_acc = env.open_account()
    bsig = env.signer(broker_acc, TRADE, ip_whitelist=["127.0.0.1"])
    bid = int(ok(bsig.post("/api/v3/broker/apply", brokerType="API", name="Acme"))["brokerId"])
    env.platform.brokers.registry.approve(bid)
    other_acc = env.open_account()
    osig = env.signer(other_acc, TRADE, ip_whitelist=["127.0.0.1"])
    other = int(ok(osig.post("/api/v3/broker/apply", brokerType="API", name="Other"))["brokerId"])
    env.platform.brokers.registry.approve(other)

    acc = env.open_account(USDT="100")
    owner = env.signer(acc, [*TRADE, *WITHDRAW], ip_whitelist=["127.0.0.1"])
    held = env.signer(acc, TRADE, ip_whitelist=["127.0.0.1"])  # the key the user gives Acme
    ok(owner.post(BIND, brokerId=bid, apiKey=held.api_key))
    withdrawals = _key(env, acc, WITHDRAW, ip_whitelist=["127.0.0.1"])
    own_bot = _key(env, acc, ["SPOT_DEAL_WRITE"], ip_whitelist=["127.0.0.1"])
    with_other = _key(env, acc, ["SPOT_DEAL_WRITE"], ip_whitelist=["127.0.0.1"])
    ok(owner.post(BIND, brokerId=other, apiKey=with_other))
    for target in (withdrawals, own_bot, with_other):
        _refused_everything(env, held, target)
    # nor bind the user's other keys (to itself, then to rotate them), nor unbind another's
    err(held.post(BIND, brokerId=bid, apiKey=own_bot), 700007, 401)
    err(held.delete(BIND, apiKey=with_other), 700007, 401)
    assert env.platform.brokers.bindings.bound_broker(own_bot) is None
    assert env.platform.brokers.bindings.bound_broker(with_other) == other
    # nor create keys (an unbound key would stay with the broker after the user unbinds)
    err(held.post(KEY, permissions="SPOT_DEAL_WRITE", note="mine"), 700007, 401)
    # a key bound to the same broker: the broker may rotate and delete it
    same = _key(env, acc, ["SPOT_DEAL_WRITE"], ip_whitelist=["127.0.0.1"])
    ok(owner.post(BIND, brokerId=bid, apiKey=same))
    assert "secretKey" in ok(held.post(RENEW, apiKey=same, rotateSecret="true"))
    ok(held.delete(KEY, apiKey=same))
    # unbinding does not take the key back from the broker: it still acts for Acme
    ok(held.delete(BIND, apiKey=held.api_key))
    _refused_everything(env, held, own_bot)
    err(held.post(KEY, permissions="SPOT_DEAL_WRITE", note="mine"), 700007, 401)
    # the user's own key manages them all
    assert "secretKey" in ok(owner.post(RENEW, apiKey=own_bot, rotateSecret="true"))
    ok(owner.delete(KEY, apiKey=held.api_key))


def test_a_limited_key_creates_keys_within_its_limits(env: Env) -> None:
    acc = env.open_account(USDT="100")
    lim = env.signer(acc, TRADE, symbols=["BTCUSDT"], ip_whitelist=["127.0.0.0/24", "10.1.0.0/16"])

    def create(**kw: str) -> dict[str, object]:
        return lim.post(KEY, permissions="SPOT_DEAL_WRITE,SPOT_ACCOUNT_READ", note="n", **kw)

    # left out: the creator's pairs and IPs, and (with IPs) no expiry
    made = ok(create())
    assert (made["symbols"], made["ip"], made["expireTime"]) == (
        "BTCUSDT",
        "127.0.0.0/24,10.1.0.0/16",
        None,
    )
    new = Signer(env.http, str(made["apiKey"]), str(made["secretKey"]))
    err(new.post("/api/v3/order", symbol="ETHUSDT", **ORDER), 70011, 401)
    # wider pairs or addresses: refused
    for kw in (
        {"symbols": "ETHUSDT"},
        {"symbols": "BTCUSDT,ETHUSDT"},
        {"ip": "10.0.0.1"},
        {"ip": "127.0.0.0/16"},
        {"ip": "127.0.0.1,192.168.0.1"},
        {"ip": "::1"},
    ):
        err(create(**kw), 700007, 401)
    # narrower: fine (an address, a sub-network of one entry)
    assert ok(create(ip="127.0.0.1"))["ip"] == "127.0.0.1"
    assert ok(create(ip="127.0.0.128/25,10.1.2.0/24"))["ip"] == "127.0.0.128/25,10.1.2.0/24"
    # a badly written address is still MEXC's 730704, not a permission error
    err(create(ip="127.0.0.300"), 730704)


def test_a_created_key_expires_no_later_than_its_creator(env: Env) -> None:
    acc = env.open_account(USDT="100")
    end = now_ms() + 5 * DAY
    short = env.signer(acc, TRADE, expires=end)  # no IPs, 5 days left
    made = ok(short.post(KEY, permissions="SPOT_DEAL_WRITE", note="n"))
    assert made["expireTime"] == end and made["ip"] == ""  # not 90 days from now
    err(short.post(KEY, permissions="SPOT_DEAL_WRITE", note="n", expireTime=end + 1), 700007, 401)
    # an IP whitelist does not make it outlive its creator either
    withip = ok(short.post(KEY, permissions="SPOT_DEAL_WRITE", note="n", ip="127.0.0.1"))
    assert withip["expireTime"] == end
    assert (
        ok(short.post(KEY, permissions="SPOT_DEAL_WRITE", note="n", expireTime=end - DAY))[
            "expireTime"
        ]
        == end - DAY
    )
