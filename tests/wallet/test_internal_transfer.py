"""Internal transfer to another user over HTTP (``capital/transfer/internal``), on SQLite and
PostgreSQL: UID and e-mail recipients, exact balances, refusals, concurrency, replay of one
signed request, and the paged history of both sides."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from alembic import command

from bourse.api.mexc.errors import PARAM_ERROR
from bourse.domain.accounts import AccountKind
from bourse.engine import commands as c
from bourse.engine.clock import now_ms
from bourse.store.db import alembic_config, make_engine, migrate
from bourse.store.oauth_tables import users
from bourse.store.repositories.internal_transfers import InternalTransferRow
from tests.support.mexc import Signer, err, ok
from tests.support.platforms import Env, open_env

PATH = "/api/v3/capital/transfer/internal"
PERMS = ["SPOT_WITHDRAW_READ", "SPOT_WITHDRAW_WRITE", "SPOT_ACCOUNT_READ"]
PASSWORD = "correct horse battery staple"
UNIT = 10**8  # USDT has 8 decimals in the default listings


@pytest.fixture
def env(migrated_url: str, tmp_path: Any) -> Iterator[Env]:
    yield from open_env(migrated_url, tmp_path)


def available(env: Env, account: int, asset: str = "USDT") -> int:
    return int(env.platform.engine.read(lambda e: e.wallet.ledger.available(account, asset)))


def user(env: Env, email: str, **funds: str) -> int:
    """A web user (with its exchange account) holding ``funds``."""
    acc = env.platform.users.create_user(email, PASSWORD).account_id
    for i, (asset, amount) in enumerate(funds.items()):
        units = int(amount) * UNIT
        env.platform.engine.execute(c.CreditDeposit(acc, asset, units, f"u-{acc}-{i}"))
    return acc


def send(s: Signer, to_type: str, to: str, amount: str, asset: str = "USDT") -> httpx.Response:
    return s.post(PATH, toAccountType=to_type, toAccount=to, asset=asset, amount=amount)


def history(s: Signer, **params: Any) -> dict[str, Any]:
    body: dict[str, Any] = ok(s.get(PATH, **params))
    return body


def test_uid_and_email_recipients_exact_balances(env: Env) -> None:
    alice = env.open_account(USDT="100")
    bob = user(env, "bob@example.com")
    carol = env.open_account()
    a = env.signer(alice, PERMS)
    assert ok(a.get("/api/v3/uid"))["uid"] == str(alice)

    t1 = ok(send(a, "UID", str(carol), "12.5"))
    t2 = ok(send(a, "EMAIL", "  Bob@Example.COM ", "0.00000001"))
    assert set(t1) == {"tranId"} and t1["tranId"].isdigit() and t1["tranId"] != t2["tranId"]
    assert available(env, carol) == 12 * UNIT + UNIT // 2
    assert available(env, bob) == 1
    assert available(env, alice) == 100 * UNIT - (12 * UNIT + UNIT // 2) - 1

    # the recipient can send it on, by UID too
    b = env.signer(bob, PERMS)
    ok(send(b, "UID", str(alice), "0.00000001"))
    assert available(env, bob) == 0
    assert available(env, alice) + available(env, carol) == 100 * UNIT


def test_refusals_move_nothing(env: Env) -> None:
    alice = user(env, "alice@example.com", USDT="10")
    bob = env.open_account()
    a = env.signer(alice, PERMS)
    engine = env.platform.engine
    sub = engine.execute(c.OpenAccount(AccountKind.BROKER_SUB, parent=bob)).id
    frozen = env.open_account()
    engine.execute(c.SetAccountFrozen(frozen, True))

    err(send(a, "UID", str(bob), "10.00000001"), 10101)  # insufficient balance
    err(send(a, "UID", "999999", "1"), 10001)  # unknown UID
    err(send(a, "UID", "not-a-number", "1"), 10001)
    err(send(a, "UID", "3", "1"), 10001)  # a system account is nobody
    err(send(a, "UID", str(sub), "1"), 10001)  # a sub-account is not a recipient
    err(send(a, "EMAIL", "nobody@example.com", "1"), 10001)
    err(send(a, "EMAIL", "not an e-mail", "1"), 10001)
    err(send(a, "UID", str(alice), "1"), 10103)  # oneself, by UID
    err(send(a, "EMAIL", "ALICE@example.com", "1"), 10103)  # oneself, by e-mail
    err(send(a, "UID", str(frozen), "1"), 10103)  # frozen recipient
    err(send(a, "MOBILE", "5551234", "1"), 10103)  # no phone numbers here
    err(send(a, "PHONE", "5551234", "1"), PARAM_ERROR)  # not a MEXC type
    err(send(a, "UID", str(bob), "0"), 10097)  # zero
    err(send(a, "UID", str(bob), "-1"), PARAM_ERROR)
    err(send(a, "UID", str(bob), "abc"), PARAM_ERROR)
    err(send(a, "UID", str(bob), "0.000000001"), 10096)  # more decimals than USDT has
    err(send(a, "UID", str(bob), "1", asset="NOPE"), 10232)  # unknown asset
    # the permission: SPOT_WITHDRAW_WRITE to send, SPOT_WITHDRAW_READ for the history
    reader = env.signer(alice, ["SPOT_ACCOUNT_READ"])
    err(send(reader, "UID", str(bob), "1"), 700007, 401)
    err(reader.get(PATH), 700007, 401)
    # a sub-account may not send to outsiders
    engine.execute(c.CreditDeposit(sub, "USDT", UNIT, "sub-fund"))
    s = env.signer(sub, PERMS)
    err(send(s, "UID", str(alice), "1"), 10103)

    # a frozen sender is refused by the engine (nothing moved, no history row)
    engine.execute(c.SetAccountFrozen(alice, True))
    err(send(a, "UID", str(bob), "1"), 30018)
    engine.execute(c.SetAccountFrozen(alice, False))

    assert available(env, alice) == 10 * UNIT
    assert available(env, bob) == 0 and available(env, sub) == UNIT
    assert history(a)["totalRecords"] == 0


def test_emails_stored_before_receive_by_either_spelling(env: Env, migrated_url: str) -> None:
    """Users stored before e-mails had one form, in a database at 0024, migrated (0025): the
    full-width row, rewritten, receives typed as stored and as its one form; a full-width row
    left beside the plain one it looks like receives typed as stored, the plain one otherwise."""
    alice = user(env, "alice@example.com", USDT="100")
    ann = user(env, "ann@example.com")
    bob = user(env, "bob@example.com")
    look_alike = env.open_account()
    engine = make_engine(migrated_url)
    try:
        with engine.begin() as conn:  # as stored before the rule: lower-cased only
            conn.execute(
                users.update().where(users.c.account_id == ann).values(email="\uff41nn@example.com")
            )
            conn.execute(
                users.insert().values(
                    email="\uff42ob@example.com", password_hash="h", account_id=look_alike,
                    totp_last_step=0, created=1,
                )
            )  # fmt: skip
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0024")
        migrate(engine)
    finally:
        engine.dispose()
    a = env.signer(alice, PERMS)
    ok(send(a, "EMAIL", "\uff41nn@example.com", "1"))
    ok(send(a, "EMAIL", "ann@example.com", "2"))
    ok(send(a, "EMAIL", "\uff42ob@example.com", "4"))
    ok(send(a, "EMAIL", "Bob@example.com", "8"))
    assert available(env, ann) == 3 * UNIT
    assert available(env, look_alike) == 4 * UNIT
    assert available(env, bob) == 8 * UNIT
    assert available(env, alice) == (100 - 15) * UNIT


def test_concurrent_transfers_never_overdraw(env: Env) -> None:
    alice = env.open_account(USDT="10")
    others = [env.open_account() for _ in range(4)]
    a = env.signer(alice, PERMS)
    results: list[tuple[int, int]] = []  # (HTTP status, MEXC code or 0)
    lock = threading.Lock()

    def worker(i: int) -> None:
        with httpx.Client(base_url=env.url, timeout=60) as http:
            s = Signer(http, a.api_key, a.secret)
            for j in range(4):
                to = str(others[(i + j) % 4])
                params = {"toAccountType": "UID", "toAccount": to, "asset": "USDT", "amount": "0.5"}
                # the longest recvWindow: a loaded test machine must not turn into 700003; a
                # timestamp of its own per request, or two threads sending the same transfer in
                # the same millisecond would sign the same request, which counts as a replay
                ts = base - (i * 4 + j)  # 40 distinct timestamps
                r = s.request("POST", PATH, params, timestamp=ts, recv_window=60000)
                code = 0 if r.status_code == 200 else r.json().get("code", -1)
                with lock:
                    results.append((r.status_code, code))

    base = now_ms()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # 10 USDT in 0.5 steps: exactly 20 succeed, every other one is "Insufficient balance"
    assert sorted(results) == [(200, 0)] * 20 + [(400, 10101)] * 20, results
    assert available(env, alice) == 0
    assert sum(available(env, o) for o in others) == 10 * UNIT
    assert all(available(env, o) >= 0 for o in others)
    assert history(a, limit=100)["totalRecords"] == 20


def test_replayed_signed_request_moves_money_once(env: Env) -> None:
    alice = env.open_account(USDT="10")
    bob = env.open_account()
    a = env.signer(alice, PERMS)
    ts = now_ms()
    params = {"toAccountType": "UID", "toAccount": str(bob), "asset": "USDT", "amount": "1"}
    first = ok(a.request("POST", PATH, params, timestamp=ts, recv_window=60000))
    again = ok(a.request("POST", PATH, params, timestamp=ts, recv_window=60000))
    assert again == first
    assert available(env, alice) == 9 * UNIT and available(env, bob) == UNIT

    # replays racing each other still move it once
    ts2 = now_ms() + 1
    answers: list[dict[str, Any]] = []

    def replay() -> None:
        with httpx.Client(base_url=env.url, timeout=30) as http:
            s = Signer(http, a.api_key, a.secret)
            r = s.request("POST", PATH, params, timestamp=ts2, recv_window=60000)
            answers.append(ok(r))

    threads = [threading.Thread(target=replay) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({x["tranId"] for x in answers}) == 1 and answers[0] != first
    assert available(env, alice) == 8 * UNIT and available(env, bob) == 2 * UNIT

    # a new timestamp is a new request
    ok(send(a, "UID", str(bob), "1"))
    assert available(env, bob) == 3 * UNIT

    # parameters (and the signature) in a form body: the replay is recognised the same way
    ts3 = now_ms() + 2
    form = [a.request("POST", PATH, body=params, timestamp=ts3, recv_window=60000) for _ in "ab"]
    assert ok(form[0]) == ok(form[1])
    assert available(env, bob) == 4 * UNIT and available(env, alice) == 6 * UNIT
    assert history(a)["totalRecords"] == 4


def test_history_pages_both_sides(env: Env) -> None:
    alice = env.open_account(USDT="100")
    bob = user(env, "bob@example.com")
    eve = env.open_account()
    a, b, e = (env.signer(x, PERMS) for x in (alice, bob, eve))
    ids = [ok(send(a, "EMAIL", "bob@example.com", f"{i}"))["tranId"] for i in range(1, 6)]
    back = ok(send(b, "UID", str(alice), "2"))["tranId"]

    page1 = history(a, limit=2)
    assert (page1["page"], page1["totalRecords"], page1["totalPageNum"]) == (1, 6, 3)
    assert [r["tranId"] for r in page1["data"]] == [back, ids[4]]
    incoming, outgoing = page1["data"]
    assert incoming == {
        "tranId": back,
        "asset": "USDT",
        "amount": "2",
        "toAccountType": "UID",
        "toAccount": str(alice),
        "fromAccount": str(bob),
        "status": "SUCCESS",
        "timestamp": incoming["timestamp"],
    }
    assert outgoing["toAccountType"] == "EMAIL" and outgoing["toAccount"] == "bob@example.com"
    assert outgoing["fromAccount"] == str(alice) and outgoing["amount"] == "5"
    assert isinstance(outgoing["timestamp"], int)
    page3 = history(a, limit=2, page=3)
    assert page3["page"] == 3 and [r["tranId"] for r in page3["data"]] == [ids[1], ids[0]]
    assert history(a, limit=2, page=4)["data"] == []
    default = history(a)
    assert len(default["data"]) == 6 and default["totalPageNum"] == 1

    # the recipient sees the same transfers; one by id; an outsider sees none of them
    assert history(b)["totalRecords"] == 6
    one = history(b, tranId=ids[2])
    assert one["totalRecords"] == 1 and one["data"][0]["amount"] == "3"
    assert history(e)["totalRecords"] == 0
    assert history(e, tranId=ids[2])["data"] == []
    # a window that ends before them holds none
    assert history(a, startTime=now_ms() - 60_000, endTime=now_ms() - 30_000)["data"] == []
    assert available(env, bob) == 13 * UNIT


def test_a_crash_between_engine_and_history_is_repaired(env: Env) -> None:
    """A row left WAIT (the engine committed, the history write did not) is settled from the
    engine's transfers; one whose transfer never ran is dropped."""
    svc = env.platform.internal_transfers
    alice = env.open_account(USDT="10")
    bob = env.open_account()
    old = now_ms() - 120_000
    row = InternalTransferRow(0, alice, bob, "UID", str(bob), "USDT", UNIT, "WAIT", old)
    svc.repo.begin("itx!committed", row)
    tid = env.platform.engine.execute(
        c.Transfer(alice, bob, "USDT", UNIT, client_id="itx!committed", initiator=alice)
    )
    svc.repo.begin("itx!never-ran", row)
    rows = history(env.signer(bob, PERMS))
    assert [r["tranId"] for r in rows["data"]] == [str(tid)]
    assert rows["data"][0]["status"] == "SUCCESS"
    assert history(env.signer(alice, PERMS))["totalRecords"] == 1
