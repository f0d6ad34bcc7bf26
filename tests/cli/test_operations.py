"""Every operator command against a running server (through the operator API) and against a
stopped one (on the database directly), on SQLite and PostgreSQL: the same output both ways.

One module-scoped exchange per backend: a ``bourse serve`` subprocess on one database (the live
side) and a second database whose server was started and stopped (the stopped side). The same
scenario runs on both; their outputs must match once the random parts (API keys, secrets,
times, the server's URL) are named.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from sqlalchemy import delete, insert, select
from typer.testing import CliRunner

from bourse.cli import app
from bourse.operations import OPERATIONS
from bourse.operations.dburl import safe_url
from bourse.operations.home import read_token
from bourse.operations.runtime import running_server
from bourse.store.audit_tables import operator_audit
from bourse.store.broker_tables import rebate_settlements, rebates
from bourse.store.db import make_engine
from bourse.store.referral_tables import referral_kickbacks
from tests.support.pg_pool import PgPool
from tests.support.served import COMMAND_S, Served


class Side(Served):
    """One database with its BOURSE_HOME; ``server`` while a server runs on it."""

    def bourse(self, *args: str, code: int = 0, **env: str) -> str:
        """Run ``bourse ARGS`` as the operator would, in a process of its own; its stdout, or
        its stderr when ``code`` is not 0 (no traceback either way)."""
        t0 = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "bourse.cli", *args],
            env=self.env(PYTHONUNBUFFERED="1", **env),
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=COMMAND_S,
        )
        assert time.monotonic() - t0 < COMMAND_S
        assert proc.returncode == code, (args, proc.stdout, proc.stderr)
        assert "Traceback" not in proc.stderr, proc.stderr
        return proc.stdout if code == 0 else proc.stderr


@dataclass
class Exchange:
    live: Side
    stopped: Side


def _side(backend: str, root: Path, name: str, pg: PgPool | None) -> Side:
    home = root / name / ".bourse"  # as scripts/run keeps it
    home.mkdir(parents=True)
    if backend == "sqlite":
        return Side(f"sqlite:///{home / 'bourse.db'}", home)
    assert pg is not None
    return Side(pg.empty(), home)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def exchange(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Exchange]:
    pg = request.getfixturevalue("pg_pool") if request.param == "postgresql" else None
    root = tmp_path_factory.mktemp(f"cli-{request.param}")
    live, stopped = (
        _side(request.param, root, "live", pg),
        _side(request.param, root, "stopped", pg),
    )
    stopped.start()
    stopped.stop()
    live.start()
    try:
        yield Exchange(live, stopped)
    finally:
        live.stop()
        if pg is not None:
            pg.release(live.url)
            pg.release(stopped.url)


def scenario(side: Side) -> list[tuple[str, str]]:
    """Every operator command once (reads in text and JSON), in an order that makes sense;
    ``[(command, output with the random parts named)]``."""
    out: list[tuple[str, str]] = []
    names: dict[str, str] = {}

    def run(*args: str, code: int = 0) -> str:
        text = side.cli(*args, code=code)
        out.append((" ".join(args), text))
        return text

    master = json.loads(
        run(
            "accounts",
            "open",
            "--kind",
            "BROKER_MASTER",
            "--name",
            "Acme Trading Company Limited (operations desk)",
            "--json",
        )
    )["account"]
    user = json.loads(run("accounts", "open", "--name", "a user", "--json"))["account"]
    run("accounts", "open", "--kind", "BROKER_SUB", "--parent", str(master))
    run("accounts", "open", "--kind", "BROKER_SUB", code=1)  # a sub-account needs a parent
    run("accounts", "open", "--kind", "USER", "--parent", str(master), code=1)
    run("deposit", str(user), "usdt", "1000.5", "--tx-ref", "t1")
    run("deposit", str(user), "USDT", "1000.5", "--tx-ref", "t1", "--json")  # credited once
    run("deposit", str(user), "NOPE", "1", code=1)
    run("deposit", "3", "USDT", "1", code=1)  # chain clearing: it would credit itself
    run("deposit", str(user), "USDT", "2", "--tx-ref", "t1", code=1)  # t1 credited 1000.5
    run("accounts", "open", "--kind", "BROKER_SUB", "--parent", "999999", code=1)
    created = json.loads(
        run(
            "keys",
            "create",
            "--account",
            str(user),
            "--permissions",
            "SPOT_DEAL_READ,SPOT_DEAL_WRITE",
            "--label",
            "bot",
            "--json",
        )
    )
    names[created["api_key"]] = "<KEY>"
    names[created["secret"]] = "<SECRET>"
    panel = run("keys", "create", "--account", str(user), "--symbols", "BTCUSDT")
    (second,) = re.findall(r"mx0v[0-9a-f]+", panel)
    names[second] = "<KEY2>"
    (secret,) = re.findall(r"secret +([0-9a-f]{32})", panel)
    names[secret] = "<SECRET2>"
    run("keys", "list", "--account", str(user))
    run("keys", "list", "--account", str(user), "--json")
    run("keys", "list", "--account", "999999", code=1)
    bid = json.loads(
        run(
            "brokers",
            "apply",
            str(master),
            "--type",
            "API",
            "--name",
            "Acme bots",
            "--code",
            "acme",
            "--json",
        )
    )["brokerId"]
    run("brokers", "approve", str(bid))
    run("brokers", "apply", str(master), code=1)  # once per account
    run("brokers", "reject", str(bid), code=1)  # approved: no longer an application
    run("brokers", "set-rate", str(bid), "25%", "--json")
    run("brokers", "set-rate", str(bid), code=1)  # neither a rate nor --ppm
    run("brokers", "set-rate", str(bid), "250%", code=1)  # above 100%, in the units typed
    run("brokers", "set-rate", str(bid), "2.5", code=1)
    run("brokers", "set-rate", str(bid), "--ppm", "2000000", code=1)
    run("brokers", "bind", created["api_key"], str(bid))
    run("brokers", "bind", created["api_key"], str(bid), code=1)  # once per key, ever
    run("brokers", "keys", str(bid))
    run("brokers", "list")
    run("brokers", "list", "--status", "approved", "--json")
    run("brokers", "accrue", "--json")
    run("brokers", "settle", "--json")
    run("brokers", "settle", "--broker", "999", code=1)
    run("brokers", "unbind", created["api_key"], "--json")
    run("brokers", "unbind", "mx0vnosuchkey", code=1)
    run("brokers", "suspend", str(bid), "--reason", "a test")
    other = json.loads(run("brokers", "apply", str(user), "--json"))["brokerId"]
    run("brokers", "reject", str(other), "--reason", "no", "--json")
    # an OAuth broker's clients: explicit redirect URIs, rotation, scopes, another app
    oauth_owner = json.loads(
        run("accounts", "open", "--kind", "BROKER_MASTER", "--name", "Copy Trader", "--json")
    )["account"]
    oid = json.loads(
        run(
            "brokers", "apply", str(oauth_owner), "--type", "OAUTH", "--name", "Copy Trader",
            "--callback-url", "https://ct.example/cb", "--json",
        )
    )["brokerId"]  # fmt: skip
    run("brokers", "show", str(oid))
    run("brokers", "show", str(oid), "--json")
    run("brokers", "show", "999", code=1)
    run("brokers", "approve", str(oid), "--redirect-uri", "http://ct.example/cb", code=1)
    approved = json.loads(
        run("brokers", "approve", str(oid), "--redirect-uri", "https://ct.example/oauth", "--json")
    )
    cid = approved["clientId"]
    names[cid] = "<CLIENT>"
    names[approved["clientSecret"]] = "<CLIENT_SECRET>"
    run("brokers", "oauth", "clients", str(oid))
    rotated = json.loads(run("brokers", "oauth", "rotate-secret", str(oid), cid, "--json"))
    names[rotated["clientSecret"]] = "<CLIENT_SECRET2>"
    run("brokers", "oauth", "add-redirect", str(oid), cid, "https://ct.example/cb2")
    run("brokers", "oauth", "remove-redirect", str(oid), cid, "https://ct.example/oauth", "--json")
    run("brokers", "oauth", "set-scopes", str(oid), cid, "read transfer", code=1)
    run("brokers", "oauth", "approve-scopes", str(oid), "read trade transfer", "--json")
    run("brokers", "oauth", "set-scopes", str(oid), cid, "read transfer")
    app2 = json.loads(
        run(
            "brokers", "oauth", "register", str(oid), "--name", "Mobile",
            "--redirect-uri", "https://m.ct.example/cb", "--json",
        )
    )  # fmt: skip
    names[app2["clientId"]] = "<CLIENT2>"
    names[app2["clientSecret"]] = "<CLIENT2_SECRET>"
    run("brokers", "oauth", "clients", str(oid), "--json")
    run("keys", "delete", second)
    run("keys", "delete", second, code=1)  # already revoked
    run("accounts", "search", "a user")
    run("accounts", "freeze", str(user))
    run("accounts", "show", str(user))
    run("accounts", "unfreeze", str(user), "--json")
    run("accounts", "show", str(user), "--json")
    run("accounts", "show", "999999", code=1)
    run("accounts", "show", "99999999999999999999999", code=1)  # no id is that large
    run("listings", "add-asset", "opw", "8", "--name", "Operator Web")
    run("listings", "add-asset", "OPW", "6", code=1)  # a scale never changes
    run(
        "listings", "add-symbol", "OPW", "USDT", "--price-scale", "2", "--qty-scale", "4",
        "--min-qty", "0.001", "--max-qty", "1000", "--min-notional", "1",
        "--max-notional", "100000", "--paused", "--json",
    )  # fmt: skip
    run("listings", "assets")
    run("listings", "symbols", "--json")
    run("withdrawals", "pending")
    run("withdrawals", "approve", "999", code=1)
    run("withdrawals", "reject", "999", code=1)
    run("referrals", "code", "999999", code=1)
    run("referrals", "invite", "999999", "AAAAAAAA", code=1)
    refer = json.loads(run("referrals", "code", str(master), "--json"))["referCode"]
    names[refer] = "<REFER>"
    run("referrals", "invite", str(user), refer)
    run("referrals", "invite", str(user), refer, code=1)  # once
    run("referrals", "invite", str(master), refer, code=1)  # one's own code
    run("referrals", "invite", str(user), "ZZZZZZZZ", code=1)
    run("accounts", "list")
    run("accounts", "list", "--kind", "broker_sub", "--json")
    run("demo-credentials", code=1)  # not a demo database
    run("demo-credentials", "--json", code=1)

    def name(text: str) -> str:
        for raw, alias in names.items():
            text = text.replace(raw, alias)
        text = re.sub(r"http://127\.0\.0\.1:\d+", "<URL>", text)
        text = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d(:\d\d)?", "<TIME>", text)
        return re.sub(r"\b1[5-9]\d{11}\b", "<MS>", text)  # ms timestamps in JSON

    return [(cmd, name(text)) for cmd, text in out]


def test_every_command_same_output_live_and_stopped(exchange: Exchange) -> None:
    live = scenario(exchange.live)
    assert running_server(exchange.stopped.home, exchange.stopped.url) is None
    stopped = scenario(exchange.stopped)
    for (cmd, a), (_, b) in zip(live, stopped, strict=True):
        assert a == b, f"`bourse {cmd}` differs:\nlive:\n{a}\nstopped:\n{b}"
    outputs = dict(live)
    # the table keeps whole keys and names in a narrow terminal
    assert "<KEY>" in outputs["keys list --account 101"]
    assert "Acme Trading Company Limited (operations desk)" in outputs["accounts list"]
    assert (
        "frozen" in outputs["accounts show 101"]
        and '"frozen": false' in outputs["accounts show 101 --json"]
    )
    assert '"symbol": "OPWUSDT"' in outputs["listings symbols --json"]
    # an unknown id is named as unknown, in one line (not "not in review", not an empty list)
    for cmd, what in [
        ("withdrawals approve 999", "withdrawal 999 does not exist"),
        ("withdrawals reject 999", "withdrawal 999 does not exist"),
        ("keys list --account 999999", "account 999999 does not exist"),
        ("referrals code 999999", "account 999999 does not exist"),
        ("referrals invite 999999 AAAAAAAA", "account 999999 does not exist"),
        ("brokers settle --broker 999", "broker 999 does not exist"),
        ("brokers unbind mx0vnosuchkey", "no API key mx0vnosuchkey"),
        (
            "deposit 3 USDT 1",
            "account 3, chain deposits/withdrawals clearing, is a system account and takes no "
            "deposit",
        ),
        ("accounts open --kind BROKER_SUB", "a BROKER_SUB account needs a parent account"),
        (
            "accounts open --kind USER --parent 100",
            "a USER account takes no parent (only BROKER_SUB does)",
        ),
        ("accounts open --kind BROKER_SUB --parent 999999", "account 999999 does not exist"),
        (
            "deposit 101 USDT 2 --tx-ref t1",
            "transaction reference 't1' was already credited with another account, asset or amount",
        ),
        ("brokers set-rate 1 250%", "rebate rate must be between 0 and 100% (got 250%)"),
        (
            "brokers set-rate 1 2.5",
            "rebate rate must be between 0 and 1, that is 100% (got 2.5, that is 250%)",
        ),
        (
            "brokers set-rate 1 --ppm 2000000",
            "rebate rate must be between 0 and 1000000 ppm (got 2000000)",
        ),
        (
            "accounts show 99999999999999999999999",
            "account: 99999999999999999999999 is out of range",
        ),
        ("brokers apply 100", "account 100 has already applied as a broker"),
        ("brokers reject 1", "cannot reject a broker that is APPROVED"),
        ("referrals invite 101 ZZZZZZZZ", "Refer code does not exist."),
    ]:
        assert outputs[cmd] == f"error: {what}\n", (cmd, outputs[cmd])
    # a database never seeded with the demo has no demo credentials to print, JSON or not
    for cmd in ("demo-credentials", "demo-credentials --json"):
        assert outputs[cmd].startswith("error: no demo credentials in this database")
        assert outputs[cmd].count("\n") == 1 and "bourse serve --demo" in outputs[cmd]
    # the live side went through the operator API: its audit rows say so
    rows = _audit(exchange.live.url)
    assert {r["operation"] for r in rows} >= {"accounts.open", "keys.create", "brokers.settle"}
    assert {r["source"] for r in rows} == {"127.0.0.1"}
    assert all(r["actor"].startswith("operator (") for r in rows)
    refused = [r for r in rows if r["outcome"] == "refused"]
    assert {r["operation"] for r in refused} >= {"accounts.deposit", "keys.delete"}
    assert all("secret" not in r["params"] for r in rows)
    # the stopped side wrote its own rows, as the local operator
    assert {r["source"] for r in _audit(exchange.stopped.url)} == {"local"}


def _audit(url: str) -> list[dict[str, Any]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return [dict(r) for r in conn.execute(select(operator_audit)).mappings()]
    finally:
        engine.dispose()


def test_every_operation_has_a_command() -> None:
    """The registry and the CLI stay one: each operation's verb appears in `bourse --help`s
    (``group.sub-verb`` as the command ``bourse group sub verb``)."""
    side = Side("sqlite:///unused.db", Path.cwd())
    groups = [
        [],
        ["keys"],
        ["accounts"],
        ["brokers"],
        ["brokers", "oauth"],
        ["referrals"],
        ["sandbox"],
        ["listings"],
        ["withdrawals"],
    ]
    text = "\n".join(side.cli(*g, "--help") for g in groups)
    for name in OPERATIONS:
        group, verb = name.split(".")
        command = {
            "demo.credentials": "demo-credentials",
            "accounts.deposit": "deposit",
            "audit.list": "audit",
            "audit.money": "audit",  # bourse audit --money
        }.get(name, verb)
        assert command in text or command.partition("-")[2] in text, name
    assert "<bool>" not in text and "<str>" not in text and "<int>" not in text


def test_operator_credential_required(exchange: Exchange) -> None:
    base = exchange.live.base
    token = read_token(exchange.live.home)
    assert token and token.startswith("bop_")
    assert (exchange.live.home / "operator.token").stat().st_mode & 0o777 == 0o600
    with httpx.Client(base_url=base, timeout=10) as client:
        ok = client.post(
            "/admin/v1/accounts/list", json={}, headers={"Authorization": f"Bearer {token}"}
        )
        assert ok.status_code == 200 and isinstance(ok.json(), list)
        absent = client.post("/admin/v1/accounts/open", json={})
        assert (absent.status_code, absent.json()) == (
            401,
            {"code": 700001, "msg": "operator credential required"},
        )
        # a user's API key is not an operator credential, whatever header carries it; a wrong
        # credential is refused as such (its sender knows it sent one: nothing new to learn)
        wrong = client.post(
            "/admin/v1/accounts/open",
            json={},
            headers={"Authorization": "Bearer bop_wrong", "X-MEXC-APIKEY": "x"},
        )
        assert (wrong.status_code, wrong.json()) == (
            401,
            {"code": 700001, "msg": "operator credential refused"},
        )
        unknown = client.post(
            "/admin/v1/accounts/nothing", json={}, headers={"Authorization": f"Bearer {token}"}
        )
        assert unknown.status_code == 404 and "no operation" in unknown.json()["msg"]
        bad = client.post(
            "/admin/v1/accounts/open",
            json={"colour": "red"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert bad.status_code == 400 and "colour" in bad.json()["msg"]
    refused = [r for r in _audit(exchange.live.url) if r["actor"] == "unauthenticated"]
    assert len(refused) >= 2 and all(r["outcome"] == "refused" for r in refused)


def test_refusals_answer_400_404_or_409(exchange: Exchange) -> None:
    """Through the running server's operator API: an id that names nothing is a 404, a request
    that could never succeed a 400, one the current state refuses a 409, each in MEXC's shape
    with the operation's own message; of concurrent conflicting calls one is done and every
    other one is a 409."""
    side = exchange.live
    auth = {"Authorization": f"Bearer {read_token(side.home)}"}
    home = side.home.resolve()

    def call(op: str, /, **params: Any) -> httpx.Response:
        group, _, verb = op.partition(".")
        return httpx.post(f"{side.base}/admin/v1/{group}/{verb}", json=params, headers=auth)

    def ok(op: str, /, **params: Any) -> Any:
        r = call(op, **params)
        assert r.status_code == 200, (op, r.text)
        return r.json()

    user = ok("accounts.open", name="statuses")["account"]
    master = ok("accounts.open", kind="BROKER_MASTER", name="statuses master")["account"]
    broker = ok("brokers.apply", account=master, name="statuses")["brokerId"]
    ok("brokers.approve", broker=broker)
    key = ok("keys.create", account=user, permissions=["SPOT_DEAL_READ"])["api_key"]
    ok("brokers.bind", api_key=key, broker=broker)
    refer = ok("referrals.code", account=master)["referCode"]
    ok("accounts.deposit", account=user, asset="USDT", amount="1", tx_ref=f"st-{user}")
    oauth_master = ok("accounts.open", kind="BROKER_MASTER", name="statuses oauth")["account"]
    oauth = ok(
        "brokers.apply", account=oauth_master, type="OAUTH", callback_url="https://st.example/cb"
    )["brokerId"]
    client = ok("brokers.approve", broker=oauth, redirect_uri=["https://st.example/a"])["clientId"]
    cases: list[tuple[int, str, dict[str, Any], str]] = [
        # an id that names nothing
        (404, "keys.list", {"account": 999999}, "account 999999 does not exist"),
        (404, "accounts.open", {"kind": "BROKER_SUB", "parent": 999999},
         "account 999999 does not exist"),
        (404, "accounts.deposit", {"account": user, "asset": "NOPE", "amount": "1"},
         "unknown asset NOPE"),
        (404, "withdrawals.approve", {"withdrawal": 999999}, "withdrawal 999999 does not exist"),
        (404, "brokers.suspend", {"broker": 999999}, "broker 999999 does not exist"),
        (404, "brokers.unbind", {"api_key": "mx0vnosuchkey"}, "no API key mx0vnosuchkey"),
        (404, "referrals.invite", {"account": user, "code": "ZZZZZZZZ"},
         "Refer code does not exist."),
        (404, "brokers.oauth-remove-redirect",
         {"broker": oauth, "client": client, "uri": "https://st.example/b"},
         "this redirect URI is not registered"),
        # a request that could never succeed
        (400, "accounts.deposit", {"account": 3, "asset": "USDT", "amount": "1"},
         "account 3, chain deposits/withdrawals clearing, is a system account and takes no "
         "deposit"),
        (400, "accounts.deposit", {"account": user, "asset": "USDT", "amount": "lots"},
         "amount is not a valid number"),
        (400, "accounts.deposit", {"account": user, "asset": "USDT", "amount": "1e-30"},
         "amount has too many decimals (at most 8)"),
        (400, "accounts.open", {"kind": "BROKER_SUB"},
         "a BROKER_SUB account needs a parent account"),
        (400, "referrals.invite", {"account": master, "code": refer},
         "You cannot use your own refer code."),
        (400, "brokers.set-rate", {"broker": broker}, "give a rate or --ppm"),
        (400, "brokers.oauth-clients", {"broker": broker}, "only an OAuth broker has OAuth clients"),
        (400, "db.backup", {"path": "x.backup"}, "the backup path must be absolute, not 'x.backup'"),
        (400, "db.backup", {"path": f"{home}/none/x.backup"}, f"no directory {home}/none"),
        (400, "db.backup", {"path": str(home)}, f"{home} is a directory: name the backup file"),
        (400, "db.backup", {"path": "/sys/x.backup"},
         "cannot write in /sys: Operation not permitted"),  # even as root
        # a conflict with the current state
        (409, "accounts.deposit",
         {"account": user, "asset": "USDT", "amount": "2", "tx_ref": f"st-{user}"},
         f"transaction reference 'st-{user}' was already credited with another account, asset "
         "or amount"),
        (409, "brokers.apply", {"account": master},
         f"account {master} has already applied as a broker"),
        (409, "brokers.reject", {"broker": broker}, "cannot reject a broker that is APPROVED"),
        (409, "brokers.bind", {"api_key": key, "broker": broker},
         "this API key is already bound to a broker"),
        (409, "brokers.oauth-add-redirect",
         {"broker": oauth, "client": client, "uri": "https://st.example/a"},
         "this redirect URI is already registered"),
    ]  # fmt: skip
    if side.url.startswith("sqlite:///"):
        db = Path(side.url.removeprefix("sqlite:///")).resolve()
        cases.append((400, "db.backup", {"path": str(db)},
                      f"{db} is the database itself: back it up to another file"))  # fmt: skip
    for status, name, params, msg in cases:
        r = call(name, **params)
        assert (r.status_code, r.json()) == (status, {"code": 700003, "msg": msg}), (name, r.text)

    # racing calls of which only one can be done: the others are conflicts, not errors
    invitee = ok("accounts.open", name="raced")["account"]
    raced_key = ok("keys.create", account=invitee, permissions=["SPOT_DEAL_READ"])["api_key"]
    for name, params, msg in [
        ("referrals.invite", {"account": invitee, "code": refer},
         f"account {invitee}: This account already has an inviter."),
        ("brokers.bind", {"api_key": raced_key, "broker": broker},
         "this API key is already bound to a broker"),
    ]:  # fmt: skip
        with ThreadPoolExecutor(8) as pool:
            answers = [f.result() for f in [pool.submit(call, name, **params) for _ in range(8)]]
        codes = sorted(r.status_code for r in answers)
        assert codes == [200] + [409] * 7, (name, [r.text for r in answers])
        assert all(
            r.json() == {"code": 700003, "msg": msg} for r in answers if r.status_code == 409
        )
    # a limit the account's keys reach: 40 racing creations, exactly the 30 that fit are done
    keyholder = ok("accounts.open", name="many keys")["account"]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: call("keys.create", account=keyholder), range(40)))
    assert sorted(r.status_code for r in answers) == [200] * 30 + [409] * 10
    assert all(
        r.json() == {"code": 700003, "msg": "at most 30 API keys per account"}
        for r in answers
        if r.status_code == 409
    )


def test_cli_with_a_wrong_credential_fails_in_one_line(exchange: Exchange, tmp_path: Path) -> None:
    side = exchange.live
    path = side.home / "operator.token"
    good = path.read_text()
    path.write_text("bop_not_the_servers\n")
    try:
        err = side.bourse("accounts", "list", code=1)
    finally:
        path.write_text(good)
    # refused, not "required": it was sent, and the file it came from is named
    assert err == f"error: the running server refused the operator credential in {path}\n"
    # a stopped server's database needs no credential: the same file changes nothing there
    stopped = exchange.stopped.home / "operator.token"
    kept = stopped.read_text()
    stopped.write_text("bop_not_the_servers\n")
    try:
        listed = exchange.stopped.bourse("accounts", "list", "--json")  # exits 0
        assert isinstance(json.loads(listed), list)
    finally:
        stopped.write_text(kept)


def test_a_value_of_the_wrong_type_is_one_plain_line_live_and_stopped(exchange: Exchange) -> None:
    """On the command line (exit 2, before any server or database is asked), the same either
    way: which parameter, what it takes, what it got, and where to look."""
    for side in (exchange.live, exchange.stopped):
        err = side.bourse("deposit", "abc", "USDT", "5", code=2)
        assert err == (
            "error: account: expected a whole number, got 'abc' (see python -m bourse.cli "
            "deposit --help)\n"
        ), err


UNSTORABLE = "holds a NUL character or text that is not UTF-8"


def test_an_operation_refuses_a_parameter_of_the_wrong_type_live_and_stopped(
    exchange: Exchange, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """What the operator API (and the stopped database) is sent is checked against the
    operation's signature: a value of the wrong type could never succeed, so it is a 400 that
    says so, never "account abc does not exist" (404); a whole number sent as text is read."""
    live = exchange.live
    auth = {"Authorization": f"Bearer {read_token(live.home)}"}
    user = json.loads(live.bourse("accounts", "open", "--name", "typed", "--json"))["account"]
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("accounts.deposit", {"account": "abc", "asset": "USDT", "amount": "1"},
         "account: expected a whole number, got 'abc'"),
        ("accounts.show", {"account": 1.5}, "account: expected a whole number, got 1.5"),
        ("accounts.show", {"account": True}, "account: expected a whole number, got true"),
        ("accounts.show", {"account": 10**20}, "account: 100000000000000000000 is out of range"),
        ("accounts.deposit", {"account": user, "asset": ["USDT"], "amount": "1"},
         'asset: expected a string, got ["USDT"]'),
        ("keys.create", {"account": user, "permissions": "SPOT_DEAL_READ"},
         "permissions: expected a list of strings, got 'SPOT_DEAL_READ'"),
        ("accounts.search", {"limit": "ten"}, "limit: expected a whole number, got 'ten'"),
        # text the store cannot hold (a NUL; a lone surrogate, from a JSON escape or a command
        # line's bytes that are not UTF-8) failed the engine's whole batch at its commit (503)
        ("accounts.open", {"name": "a\x00b"}, f"name: {UNSTORABLE}"),
        ("accounts.open", {"name": "a\ud800b"}, f"name: {UNSTORABLE}"),
        ("keys.create", {"account": user, "permissions": ["SPOT_DEAL_READ\x00"]},
         f"permissions: {UNSTORABLE}"),
    ]  # fmt: skip
    for name, params, msg in cases:
        group, _, verb = name.partition(".")
        r = httpx.post(
            f"{live.base}/admin/v1/{group}/{verb}",
            content=json.dumps(params).encode(),  # "\ud800" as JSON writes it, escaped
            headers={**auth, "content-type": "application/json"},
        )
        assert (r.status_code, r.json()) == (400, {"code": 700003, "msg": msg}), (name, r.text)
    # the same refusals through the command's runner, to the server and on the stopped database
    from bourse.cli.runner import run

    for side in (exchange.live, exchange.stopped):
        for key, value in side.env().items():
            if key.startswith("BOURSE_"):
                monkeypatch.setenv(key, value)
        for name, params, msg in cases:
            capsys.readouterr()
            with pytest.raises(typer.Exit) as ended:
                run(side.url, name, params, quiet=True)
            assert ended.value.exit_code == 1
            assert capsys.readouterr().err == f"error: {msg}\n", (side.home, name)
        mine = json.loads(side.bourse("accounts", "open", "--json"))["account"]
        shown = run(side.url, "accounts.show", {"account": str(mine)}, quiet=True)  # text is read
        assert shown["account"] == mine, side.home


def test_unexpected_error_is_one_line_unless_debug(exchange: Exchange) -> None:
    side = exchange.stopped
    err = side.bourse(
        "accounts", "list", code=1, BOURSE_DATABASE_URL="postgresql://nobody@127.0.0.1:1/x"
    )
    assert err.count("\n") == 1 and err.startswith("error:")


def test_chain_deposit_without_a_running_server_names_the_database(exchange: Exchange) -> None:
    """The stopped side: no demo runs for its database, so nothing is sent anywhere (not to
    another exchange's demo on port 8080)."""
    side = exchange.stopped
    err = side.bourse("chain-deposit", "USDT", "100", "--account", "999999", code=1)
    assert err == (
        f"error: no server runs for {safe_url(side.url)}: chain deposits go to a running "
        "`bourse serve --demo` (scripts/run), or give --url\n"
    ), err


def test_commands_find_the_running_server_from_a_subdirectory(
    exchange: Exchange, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No flag, no variable: the nearest .bourse/ names the server and its database."""
    side = exchange.live
    sub = side.home.parent / "a" / "b"
    sub.mkdir(parents=True, exist_ok=True)
    monkeypatch.chdir(sub)
    unset: dict[str, str | None] = {k: None for k in os.environ if k.startswith("BOURSE_")}
    unset.update(BOURSE_DATABASE_URL=None, BOURSE_HOME=None, BOURSE_SECRET_KEY=None)

    def cli(*args: str, code: int = 0) -> str:
        res = CliRunner().invoke(app, list(args), env=unset)
        assert res.exit_code == code, (args, res.stdout, res.stderr)
        return res.stdout if code == 0 else res.stderr

    assert "no demo credentials in this database" in cli("demo-credentials", "--json", code=1)
    data = json.loads(cli("status", "--json"))
    assert data["running"] and data["url"] == side.base and data["home"] == str(side.home)
    # chain-deposit sends to that server too (not to port 8080): without --demo it has no sandbox
    err = cli("chain-deposit", "USDT", "1", "--account", "100", code=1)
    assert err == (
        f"error: the server at {side.base} has no sandbox: chain deposits need `bourse serve "
        "--demo`\n"
    ), err


def test_a_server_nobody_announced_refuses_writes_in_seconds(
    exchange: Exchange, tmp_path: Path
) -> None:
    """A home without the runtime file: the command opens the database itself, and the running
    engine's writer lock makes it refuse in one line, quickly (PostgreSQL: no hang)."""
    side = exchange.live
    # an account of its own, opened through the server (the test does not rely on the order
    # the module's tests run in, nor on a worker having run the others)
    mine = json.loads(side.bourse("accounts", "open", "--name", "unannounced", "--json"))
    t0 = time.monotonic()
    err = side.bourse("accounts", "open", code=1, BOURSE_HOME=str(tmp_path))
    assert time.monotonic() - t0 < 15
    assert err.count("\n") == 1 and "server running on this database" in err, err
    listed = side.bourse("accounts", "list", "--json", BOURSE_HOME=str(tmp_path))  # reads work
    assert mine["account"] in [a["account"] for a in json.loads(listed)], listed


def test_demo_credentials_of_the_demo_live_and_stopped(tmp_path: Path) -> None:
    """On the demo's database (seeded by ``bourse serve --demo``, as scripts/run does) the
    credentials are the same from the running server and from the stopped database."""
    home = tmp_path / ".bourse"
    home.mkdir()
    side = Side(f"sqlite:///{home / 'bourse.db'}", home)
    side.start("--demo")
    try:
        live = json.loads(side.bourse("demo-credentials", "--json"))
        banner = side.bourse("demo-credentials")
    finally:
        side.stop()
    assert running_server(side.home, side.url) is None
    stopped = json.loads(side.bourse("demo-credentials", "--json"))
    assert live == stopped and live["url"] == side.base
    assert {"user", "api_broker", "independent_broker"} <= set(live["accounts"])
    assert live["accounts"]["user"]["api_key"] in banner
    assert live["accounts"]["user"]["api_key"] in side.bourse("demo-credentials")


#: more than the fee revenue of any test exchange: the engine refuses to pay it
UNPAYABLE = 10**15


def test_a_failed_payout_exits_1_in_one_line_live_and_stopped(exchange: Exchange) -> None:
    """A payout the engine refuses (fee revenue cannot cover it, made so by rows written
    straight into the store) is a refusal: exit 1, not click's 2 for a bad command line, and
    one line on stderr saying why, after the run's summary on stdout; live and stopped."""
    for side in (exchange.live, exchange.stopped):
        master = json.loads(
            side.cli("accounts", "open", "--kind", "BROKER_MASTER", "--name", "unpaid", "--json")
        )["account"]
        broker = json.loads(side.cli("brokers", "apply", str(master), "--json"))["brokerId"]
        side.cli("brokers", "approve", str(broker))
        engine = make_engine(side.url)
        try:
            with engine.begin() as conn:
                conn.execute(
                    insert(rebates).values(
                        trade_id=-master, side=0, order_id=0, account_id=master,
                        broker_id=broker, symbol="BTCUSDT", asset="USDT", fee=UNPAYABLE,
                        rebate=UNPAYABLE, rate_ppm=1_000_000, maker=False, trade_time=0,
                        status="pending", created=0,
                    )
                )  # fmt: skip
                conn.execute(
                    insert(referral_kickbacks).values(
                        trade_id=-master, side=0, kind="inviter", earner_account=master,
                        invitee_account=master, symbol="BTCUSDT", asset="USDT", fee=UNPAYABLE,
                        amount=UNPAYABLE, rate_ppm=1_000_000, usdt=UNPAYABLE, trade_time=0,
                        payout_key=f"unpayable-{master}", status="pending", created=0,
                    )
                )  # fmt: skip
            settled = side.bourse("brokers", "settle", "--broker", str(broker), code=1)
            assert settled == (
                "error: 1 payout failed: fee revenue cannot cover USDT rebates "
                "(`bourse brokers settle --retry-failed` tries again)\n"
            ), (side.home, settled)
            # the failed group stays failed: the next run has nothing to pay, and says so
            again = json.loads(side.bourse("brokers", "settle", "--broker", str(broker), "--json"))
            assert again["failed"] == [] and again["paid"] == []
            retried = side.bourse(
                "brokers", "settle", "--broker", str(broker), "--retry-failed", "--json", code=1
            )
            assert retried.startswith("error: 1 payout failed: "), retried
            accrued = side.bourse("referrals", "accrue", code=1)
            assert accrued == (
                "error: 1 payout failed: fee revenue cannot cover USDT rebates "
                "(the next run tries again)\n"
            ), (side.home, accrued)
        finally:
            with engine.begin() as conn:  # the other tests of the module run `accrue`s of their own
                conn.execute(delete(rebates).where(rebates.c.broker_id == broker))
                conn.execute(
                    delete(rebate_settlements).where(rebate_settlements.c.broker_id == broker)
                )
                conn.execute(
                    delete(referral_kickbacks).where(referral_kickbacks.c.earner_account == master)
                )
            engine.dispose()


def test_failed_credentials_are_throttled(exchange: Exchange) -> None:
    """Last in the module: the address's wrong credentials are refused for a minute afterwards
    (the right one is not: nobody sharing an address locks the operator out)."""
    token = read_token(exchange.live.home)
    with httpx.Client(base_url=exchange.live.base, timeout=10) as client:
        codes = [
            client.post(
                "/admin/v1/accounts/list", headers={"Authorization": f"Bearer bop_{i}"}
            ).status_code
            for i in range(8)
        ]
        # earlier tests of this module failed some already: at most 5 in a minute get a 401
        first = codes.index(429)
        assert 1 <= first <= 5 and set(codes[:first]) == {401} and set(codes[first:]) == {429}
        right = client.post("/admin/v1/accounts/list", headers={"Authorization": f"Bearer {token}"})
        assert right.status_code == 200
        wrong = client.post("/admin/v1/accounts/list", headers={"Authorization": "Bearer bop_x"})
        assert wrong.status_code == 429
