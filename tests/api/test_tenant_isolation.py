"""Tenant isolation over the whole route table: tenant B calls every signed route with tenant
A's ids, and every such call answers a MEXC error (or, for a filter, nothing of A's) and
changes nothing in the database.

The cases are generated from ``ENDPOINTS``: every parameter of a signed route whose name
carries an id (``ID_LIKE``) must have a case in ``CASES`` or a reason in ``OWN`` (a
namespace of the caller's own, or an id whose use on another tenant is the feature). A route
added later with such a parameter and neither makes ``test_every_id_parameter_has_a_case``
fail, so the table cannot silently fall behind the API.

Each tenant is a plain user (with a key bound to the tenant's API broker), an API broker, an
independent broker with a sub-account, and an OAuth broker with a client; it holds an open
order, a trade, a withdrawal, a sub-account transfer, an STP group and a listen key. B calls as
the role of its own that is entitled to the route, so the only thing wrong is A's id.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from bourse.api.mexc.routes import ENDPOINTS
from bourse.domain.accounts import AccountKind
from bourse.domain.money import to_units
from bourse.engine import commands as c
from bourse.operations import invoke
from bourse.sandbox.demo import FULL_SPOT_PERMISSIONS
from bourse.store.db import schema_metadata
from tests.support.mexc import Signer, ok
from tests.support.platforms import IEnv, open_ienv

#: a parameter whose name ends like this names something (an account, a key, an order, ...)
ID_LIKE = re.compile(r"(?i)(id|uid|key|account|code|name)$")

#: id-like parameters that are not another tenant's handle, and why
OWN: dict[tuple[str, str, str], str] = {}
for _m, _p in (("POST", "/api/v3/order"), ("POST", "/api/v3/order/test")):
    OWN[(_m, _p, "newClientOrderId")] = "client order ids are per account: B's order is B's"
OWN[("DELETE", "/api/v3/order", "newClientOrderId")] = "the id the cancel gets, B's namespace"
OWN[("POST", "/api/v3/strategy/group", "tradeGroupName")] = "group names are per owner"
OWN[("POST", "/api/v3/broker/apply", "name")] = "a display name, not a handle"
OWN[("POST", "/api/v3/broker/oauth/clients", "name")] = "an app's display name, not a handle"
OWN[("POST", "/api/v3/user/apiKey/bind", "brokerId")] = (
    "binding one's key to any broker is the feature"
)
OWN[("POST", "/api/v3/broker/sub-account/virtualSubAccount", "subAccount")] = (
    "sub-account names are per broker: B's sub-account is B's"
)
OWN[("POST", "/api/v3/sub-account/virtualSubAccount", "subAccount")] = (
    "sub-account names are per master"
)
for _p in ("/api/v3/broker/sub-account/universalTransfer", "/api/v3/capital/transfer"):
    OWN[("POST", _p, "clientTranId")] = "client transfer ids are per account"
OWN[("POST", "/api/v3/capital/sub-account/universalTransfer", "clientTranId")] = (
    "client transfer ids are per account"
)
for _p in (
    "/api/v3/capital/withdraw",
    "/api/v3/capital/withdraw/apply",
    "/api/v3/broker/capital/withdraw/apply",
):
    OWN[("POST", _p, "withdrawOrderId")] = "client withdrawal ids are per account"
OWN[("POST", "/api/v3/capital/transfer/internal", "toAccount")] = (
    "paying another user is the feature (the money leaves B's account)"
)
OWN[("POST", "/api/v3/capital/transfer/internal", "areaCode")] = "a phone prefix, not a handle"


@dataclass
class Tenant:
    """One tenant's roles (signers) and the ids of what it holds."""

    signers: dict[str, Signer] = field(default_factory=dict)
    ids: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Case:
    """B calls ``method path`` as its ``role`` with ``param`` set to A's ``a_id``.

    ``filter``: the parameter only narrows a listing of B's own things, so a 200 is right if it
    shows nothing of A's; otherwise the answer must be a MEXC error."""

    method: str
    path: str
    param: str
    a_id: str
    role: str = "master"
    extra: Callable[[Tenant, Tenant], dict[str, Any]] | None = None
    filter: bool = False


def _sym(a: Tenant, b: Tenant) -> dict[str, Any]:
    return {"symbol": "BTCUSDT"}


def _b_group(a: Tenant, b: Tenant) -> dict[str, Any]:
    return {"tradeGroupId": b.ids["group"]}


def _b_member(a: Tenant, b: Tenant) -> dict[str, Any]:
    return {"uid": b.ids["user_uid"]}


def _b_key(a: Tenant, b: Tenant) -> dict[str, Any]:
    return {"brokerId": b.ids["api_broker"]}


def _spot(a: Tenant, b: Tenant) -> dict[str, Any]:
    return {"fromAccountType": "SPOT", "toAccountType": "SPOT", "asset": "USDT", "amount": "1"}


def _spot_q(a: Tenant, b: Tenant) -> dict[str, Any]:
    return {"fromAccountType": "SPOT", "toAccountType": "SPOT"}


def _b_sub(a: Tenant, b: Tenant) -> dict[str, Any]:
    return {"subAccount": b.ids["sub_name"]}


def _b_sub_transfer(a: Tenant, b: Tenant) -> dict[str, Any]:
    return {**_spot(a, b), "toAccount": b.ids["sub_name"]}


def _b_sub_from(a: Tenant, b: Tenant) -> dict[str, Any]:
    return {**_spot(a, b), "fromAccount": b.ids["sub_name"]}


def _new_key(a: Tenant, b: Tenant) -> dict[str, Any]:
    return {"permissions": "SPOT_DEAL_READ", "note": "x", "ip": "127.0.0.1"}


def _uri(a: Tenant, b: Tenant) -> dict[str, Any]:
    return {"redirectUri": "https://evil.example/cb"}


def _a_uri(a: Tenant, b: Tenant) -> dict[str, Any]:
    return {"redirectUri": a.ids["oauth_uri"]}


def _scopes(a: Tenant, b: Tenant) -> dict[str, Any]:
    return {"scopes": "read"}


def _commission(a: Tenant, b: Tenant) -> dict[str, Any]:
    return {"takerMarkup": "0.001", "makerMarkup": "0.001"}


def _apply(a: Tenant, b: Tenant) -> dict[str, Any]:
    return {"brokerType": "API", "name": "B second"}


BSUB = "/api/v3/broker/sub-account"
SUB = "/api/v3/sub-account"
OA = "/api/v3/broker/oauth"

CASES: list[Case] = [
    # orders: A's order id and client order id
    Case("DELETE", "/api/v3/order", "orderId", "order_id", "user", _sym),
    Case("DELETE", "/api/v3/order", "origClientOrderId", "order_cid", "user", _sym),
    Case("GET", "/api/v3/order", "orderId", "order_id", "user", _sym),
    Case("GET", "/api/v3/order", "origClientOrderId", "order_cid", "user", _sym),
    Case("GET", "/api/v3/myTrades", "orderId", "trade_order_id", "user", _sym, filter=True),
    # STP groups: A's group, A's uid in B's group
    Case("GET", "/api/v3/strategy/group", "tradeGroupName", "group_name", "user", filter=True),
    Case("DELETE", "/api/v3/strategy/group", "tradeGroupId", "group", "user"),
    Case("POST", "/api/v3/strategy/group/uid", "tradeGroupId", "group", "user", _b_member),
    Case("POST", "/api/v3/strategy/group/uid", "uid", "user_uid", "user", _b_group),
    Case("DELETE", "/api/v3/strategy/group/uid", "tradeGroupId", "group", "user", _b_member),
    Case("DELETE", "/api/v3/strategy/group/uid", "uid", "user_uid", "user", _b_group),
    # brokers and keys
    Case("GET", "/api/v3/broker/rebate/detail", "uid", "user_uid", "api", filter=True),
    Case("POST", "/api/v3/broker/apply", "code", "api_broker_code", "user2", _apply),
    Case("POST", "/api/v3/broker/apply", "rebateUid", "user_uid", "user2", _apply),
    Case("DELETE", "/api/v3/broker/apiKey/bound", "apiKey", "user_key", "api"),
    Case("DELETE", "/api/v3/user/apiKey", "apiKey", "user_key", "user"),
    Case("POST", "/api/v3/user/apiKey/renew", "apiKey", "user_key", "user"),
    Case("POST", "/api/v3/user/apiKey/bind", "apiKey", "user2_key", "user", _b_key),
    Case("GET", "/api/v3/user/apiKey/bind", "apiKey", "user_key", "user"),
    Case("DELETE", "/api/v3/user/apiKey/bind", "apiKey", "user_key", "user"),
    # OAuth clients
    Case("POST", f"{OA}/client/secret", "clientId", "oauth_client", "oauth"),
    Case("POST", f"{OA}/client/redirectUri", "clientId", "oauth_client", "oauth", _uri),
    Case("DELETE", f"{OA}/client/redirectUri", "clientId", "oauth_client", "oauth", _a_uri),
    Case("POST", f"{OA}/client/scopes", "clientId", "oauth_client", "oauth", _scopes),
    # the Broker API's sub-accounts
    Case("GET", f"{BSUB}/list", "subAccount", "sub_name", filter=True),
    Case("GET", f"{BSUB}/status", "subAccount", "sub_name"),
    Case("POST", f"{BSUB}/status", "subAccount", "sub_name", extra=lambda a, b: {"status": "2"}),
    Case("POST", f"{BSUB}/futures", "subAccount", "sub_name"),
    Case("POST", f"{BSUB}/margin", "subAccount", "sub_name"),
    Case("GET", f"{BSUB}/onceToken", "subAccount", "sub_name"),
    Case("GET", f"{BSUB}/commission", "subAccount", "sub_name"),
    Case("POST", f"{BSUB}/commission", "subAccount", "sub_name", extra=_commission),
    Case("POST", f"{BSUB}/apiKey", "subAccount", "sub_name", extra=_new_key),
    Case("GET", f"{BSUB}/apiKey", "subAccount", "sub_name"),
    Case(
        "DELETE",
        f"{BSUB}/apiKey",
        "subAccount",
        "sub_name",
        extra=lambda a, b: {"apiKey": a.ids["sub_key"]},
    ),
    Case("DELETE", f"{BSUB}/apiKey", "apiKey", "sub_key", extra=_b_sub),
    Case("POST", f"{BSUB}/universalTransfer", "fromAccount", "sub_name", extra=_b_sub_transfer),
    Case("POST", f"{BSUB}/universalTransfer", "toAccount", "sub_name", extra=_spot),
    Case("POST", f"{BSUB}/universalTransfer", "toAccount", "sub_name", extra=_b_sub_from),
    Case("GET", f"{BSUB}/universalTransfer", "fromAccount", "sub_name", extra=_spot_q),
    Case("GET", f"{BSUB}/universalTransfer", "toAccount", "sub_name", extra=_spot_q),
    Case(
        "GET",
        f"{BSUB}/universalTransfer",
        "clientTranId",
        "transfer_cid",
        extra=_spot_q,
        filter=True,
    ),
    Case("GET", f"{BSUB}/assets", "subAccount", "sub_name"),
    # the plain sub-account API (a master that is not a broker)
    Case("GET", f"{SUB}/list", "subAccount", "msub_name", "umaster", filter=True),
    Case("POST", f"{SUB}/apiKey", "subAccount", "msub_name", "umaster", _new_key),
    Case("GET", f"{SUB}/apiKey", "subAccount", "msub_name", "umaster"),
    Case(
        "DELETE",
        f"{SUB}/apiKey",
        "subAccount",
        "msub_name",
        "umaster",
        lambda a, b: {"apiKey": a.ids["msub_key"]},
    ),
    Case(
        "DELETE",
        f"{SUB}/apiKey",
        "apiKey",
        "msub_key",
        "umaster",
        lambda a, b: {"subAccount": b.ids["msub_name"]},
    ),
    Case("POST", f"{SUB}/margin", "subAccount", "msub_name", "umaster"),
    Case("GET", f"{SUB}/asset", "subAccount", "msub_name", "umaster"),
    Case(
        "POST",
        "/api/v3/capital/sub-account/universalTransfer",
        "fromAccount",
        "msub_name",
        "umaster",
        _spot,
    ),
    Case(
        "POST",
        "/api/v3/capital/sub-account/universalTransfer",
        "toAccount",
        "msub_name",
        "umaster",
        _spot,
    ),
    Case(
        "GET",
        "/api/v3/capital/sub-account/universalTransfer",
        "fromAccount",
        "msub_name",
        "umaster",
        _spot_q,
    ),
    Case(
        "GET",
        "/api/v3/capital/sub-account/universalTransfer",
        "toAccount",
        "msub_name",
        "umaster",
        _spot_q,
    ),
    Case(
        "GET",
        "/api/v3/capital/sub-account/universalTransfer",
        "clientTranId",
        "mtransfer_cid",
        "umaster",
        _spot_q,
        filter=True,
    ),
    # capital
    Case("DELETE", "/api/v3/capital/withdraw", "id", "withdrawal", "user"),
    Case("GET", "/api/v3/capital/transfer/tranId", "tranId", "transfer_tran", "master"),
    Case(
        "GET", "/api/v3/capital/transfer/internal", "tranId", "internal_tran", "user", filter=True
    ),
    # referrals and affiliates: filters over B's own invitees
    *[
        Case("GET", f"/api/v3/rebate/affiliate/{what}", param, aid, "user", filter=True)
        for what in ("commission", "commission/detail", "referral", "subaffiliates")
        for param, aid in (("inviteCode", "refer_code"), ("uid", "user_uid"))
    ],
    # user data streams
    Case("PUT", "/api/v3/userDataStream", "listenKey", "listen_key", "user"),
    Case("DELETE", "/api/v3/userDataStream", "listenKey", "listen_key", "user"),
]

#: what may change while B's calls change nothing (request bookkeeping, not tenant state)
#: tables a refused call may still write: ``replays`` holds the signature a signed write spent
#: before its handler refused it (B's own request, nothing of A's)
VOLATILE_TABLES = {"meta", "login_failures", "sessions", "operator_audit", "chain_state", "replays"}


def signed_id_params() -> set[tuple[str, str, str]]:
    return {
        (ep.method, ep.path, p.name)
        for ep in ENDPOINTS
        if ep.signed
        for p in ep.params
        if ID_LIKE.search(p.name)
    }


def test_every_id_parameter_has_a_case() -> None:
    covered = {(c.method, c.path, c.param) for c in CASES}
    missing = signed_id_params() - covered - set(OWN)
    assert not missing, (
        "signed routes take an id-like parameter with no cross-tenant case in CASES "
        f"(or reason in OWN): {sorted(missing)}"
    )
    stale = (covered | set(OWN)) - signed_id_params()
    assert not stale, f"cases for parameters no route declares: {sorted(stale)}"


# --- the tenants ---------------------------------------------------------------------------


def _tenant(env: IEnv, tag: str) -> Tenant:
    t = Tenant()
    plat = env.platform
    perms = list(FULL_SPOT_PERMISSIONS)
    # a plain user, and a second one (not a broker) for broker applications
    for role in ("user", "user2", "umaster"):
        acc = env.open_account(USDT="100000", BTC="10")
        t.signers[role] = env.signer(acc, perms, ip_whitelist=["127.0.0.1"])
        t.ids[f"{role}_uid"] = acc
        t.ids[f"{role}_key"] = t.signers[role].api_key
    user = t.signers["user"]
    # an API broker with the user's key bound to it
    api_acc = env.open_account()
    t.signers["api"] = env.signer(api_acc, perms, ip_whitelist=["127.0.0.1"])
    info = ok(
        t.signers["api"].post(
            "/api/v3/broker/apply", brokerType="API", name=f"API {tag}", code=f"{tag}code"
        )
    )
    t.ids["api_broker"] = int(info["brokerId"])
    plat.brokers.registry.approve(t.ids["api_broker"])
    t.ids["api_broker_code"] = f"{tag}code"
    bound_key = ok(user.post("/api/v3/user/apiKey", permissions="SPOT_DEAL_READ", note="b"))
    ok(
        user.post(
            "/api/v3/user/apiKey/bind", brokerId=t.ids["api_broker"], apiKey=bound_key["apiKey"]
        )
    )
    # an independent broker with a sub-account and its key
    _, _, master = env.broker(f"Indie {tag}", USDT="10000")
    t.signers["master"] = master
    t.ids["sub_name"] = f"{tag}sub00001"
    _, sub = env.sub(master, t.ids["sub_name"])
    t.signers["sub"] = sub
    t.ids["sub_key"] = sub.api_key
    moved = ok(
        master.post(
            f"{BSUB}/universalTransfer",
            toAccount=t.ids["sub_name"],
            fromAccountType="SPOT",
            toAccountType="SPOT",
            asset="USDT",
            amount="100",
            clientTranId=f"{tag}-tr-1",
        )
    )
    t.ids["transfer_cid"] = f"{tag}-tr-1"
    t.ids["transfer_tran"] = str(moved["tranId"])
    # a plain master (the normal sub-account API) with a sub-account and its key
    um = t.signers["umaster"]
    t.ids["msub_name"] = f"{tag}msub0001"
    ok(um.post(f"{SUB}/virtualSubAccount", subAccount=t.ids["msub_name"], note="n"))
    mkey = ok(
        um.post(f"{SUB}/apiKey", subAccount=t.ids["msub_name"], permissions="SPOT_DEAL_READ",
                note="k", ip="127.0.0.1")
    )  # fmt: skip
    t.ids["msub_key"] = mkey["apiKey"]
    ok(
        um.post(
            "/api/v3/capital/sub-account/universalTransfer",
            toAccount=t.ids["msub_name"],
            fromAccountType="SPOT",
            toAccountType="SPOT",
            asset="USDT",
            amount="10",
            clientTranId=f"{tag}-mtr-1",
        )
    )
    t.ids["mtransfer_cid"] = f"{tag}-mtr-1"
    # an OAuth broker with a client and a redirect URI
    owner = plat.engine.execute(c.OpenAccount(AccountKind.BROKER_MASTER, name=f"OAuth {tag}")).id
    key, secret = plat.apikeys.create_key(owner, ["SPOT_ACCOUNT_READ", "SPOT_ACCOUNT_WRITE"])
    t.signers["oauth"] = Signer(env.http, key, secret)
    b = plat.brokers.registry.apply(
        owner, "OAUTH", f"OAuth {tag}", callback_url="https://x.example/cb"
    )
    out = invoke(plat, "brokers.approve", {"broker": b.id}, actor="test", source="test")
    t.ids["oauth_client"] = out["clientId"]
    t.ids["oauth_uri"] = f"https://{tag}.example/cb"
    ok(
        t.signers["oauth"].post(
            f"{OA}/client/redirectUri", clientId=out["clientId"], redirectUri=t.ids["oauth_uri"]
        )
    )
    # an open order, and a trade against user2
    placed = ok(
        user.post("/api/v3/order", symbol="BTCUSDT", side="BUY", type="LIMIT",
                  quantity="0.001", price="1000", newClientOrderId=f"{tag}-order-1")
    )  # fmt: skip
    t.ids["order_id"] = placed["orderId"]
    t.ids["order_cid"] = f"{tag}-order-1"
    ok(
        t.signers["user2"].post("/api/v3/order", symbol="BTCUSDT", side="SELL", type="LIMIT",
                                quantity="0.002", price="90000")
    )  # fmt: skip
    took = ok(
        user.post("/api/v3/order", symbol="BTCUSDT", side="BUY", type="LIMIT",
                  quantity="0.001", price="90000")
    )  # fmt: skip
    t.ids["trade_order_id"] = took["orderId"]
    # an STP group with the user in it
    grp = ok(user.post("/api/v3/strategy/group", tradeGroupName=f"{tag}group"))
    t.ids["group"] = grp["data"]["tradeGroupId"]
    t.ids["group_name"] = f"{tag}group"
    # a withdrawal waiting for review, a listen key, an internal transfer, a refer code
    scale = plat.engine.wallet.assets["USDT"].scale
    w = plat.wallet.withdraw(
        t.ids["user_uid"], "USDT", "ETH", "0x" + "ab" * 20, to_units("20", scale)
    )
    t.ids["withdrawal"] = str(w.id)
    t.ids["listen_key"] = ok(user.post("/api/v3/userDataStream"))["listenKey"]
    internal = ok(
        user.post("/api/v3/capital/transfer/internal", toAccountType="UID",
                  toAccount=str(t.ids["user2_uid"]), asset="USDT", amount="1")
    )  # fmt: skip
    t.ids["internal_tran"] = str(internal.get("tranId", ""))
    t.ids["refer_code"] = ok(user.get("/api/v3/rebate/referCode")).get("referCode", "")
    return t


@pytest.fixture
def tenants(migrated_url: str, tmp_path: Any) -> Iterator[tuple[IEnv, Tenant, Tenant]]:
    for env in open_ienv(migrated_url, tmp_path):
        yield env, _tenant(env, "ta"), _tenant(env, "tb")


def _snapshot(env: IEnv) -> dict[str, list[tuple[Any, ...]]]:
    out = {}
    with env.platform.db.connect() as conn:
        for name, table in sorted(schema_metadata().tables.items()):
            if name in VOLATILE_TABLES:
                continue
            rows = conn.execute(select(table)).all()
            out[name] = sorted((tuple(r) for r in rows), key=repr)
    return out


def _call(signer: Signer, method: str, path: str, params: dict[str, Any]) -> httpx.Response:
    return signer.request(method, path, params)


def test_tenant_b_with_tenant_a_ids_gets_errors_and_changes_nothing(
    tenants: tuple[IEnv, Tenant, Tenant],
) -> None:
    env, a, b = tenants
    failures: list[str] = []
    for case in CASES:
        value = a.ids[case.a_id]
        assert value not in (None, ""), f"tenant A has no {case.a_id}"
        params = {**(case.extra(a, b) if case.extra else {}), case.param: value}
        before = _snapshot(env)
        r = _call(b.signers[case.role], case.method, case.path, params)
        after = _snapshot(env)
        label = f"{case.method} {case.path} {case.param}={value} as B's {case.role}"
        changed = [n for n in before if before[n] != after[n]]
        if changed:
            failures.append(f"{label}: changed {changed} (answered {r.status_code} {r.text[:200]})")
            continue
        if r.status_code == 200 and case.filter:
            if str(value) in r.text:
                failures.append(f"{label}: a filter showed A's data: {r.text[:200]}")
            continue
        body = r.json()
        if r.status_code < 400 or set(body) != {"code", "msg"}:
            failures.append(f"{label}: answered {r.status_code} {r.text[:200]}")
    assert not failures, "\n".join(failures)
