"""``bourse brokers approve --redirect-uri`` and ``bourse brokers oauth ...`` on SQLite and
PostgreSQL: the operator's side of an OAuth broker's clients, with the same rules as the Broker
API (explicit exact redirect URIs, rotation with a grace period, scopes within the approval,
a bounded number of apps)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from bourse.bootstrap import open_platform
from bourse.cli.brokers import brokers_app
from bourse.config import Config
from bourse.domain.accounts import AccountKind
from bourse.engine import commands as c
from bourse.oauth import clients as cl
from bourse.oauth.management import MAX_CLIENTS_PER_BROKER
from bourse.services.apikeys import generate_server_key
from bourse.store.db import make_engine
from bourse.store.repositories.oauth import OAuthRepository

runner = CliRunner()
CB = "https://copytrader.example/cb"


def _run(db: str, *args: str, code: int = 0) -> Any:
    res = runner.invoke(brokers_app, [*args, "--db", db, "--json"])
    assert res.exit_code == code, res.output
    if code:
        return res.output
    return json.loads(res.stdout.strip().splitlines()[-1])


@pytest.fixture
def db(migrated_url: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("BOURSE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("BOURSE_SECRET_KEY", generate_server_key())
    return migrated_url


def _client(db: str, client_id: str) -> cl.OAuthClient:
    engine = make_engine(db)
    try:
        got = cl.get_client(OAuthRepository(engine), client_id)
    finally:
        engine.dispose()
    assert got is not None
    return got


def test_operator_manages_an_oauth_brokers_clients(db: str) -> None:
    with open_platform(Config(database_url=db, rebate_settle_at=None)) as p:
        owner = p.engine.execute(c.OpenAccount(AccountKind.BROKER_MASTER)).id
    bid = _run(db, "apply", str(owner), "--type", "OAUTH", "--name", "CT", "--callback-url", CB)[
        "brokerId"
    ]
    # a bad redirect URI refuses the approval before anything changes
    out = _run(db, "approve", str(bid), "--redirect-uri", "http://evil.example/cb", code=1)
    assert "https" in out
    assert _run(db, "list")[0]["status"] == "PENDING"
    approved = _run(db, "approve", str(bid), "--redirect-uri", "https://ct.example/oauth")
    assert approved["status"] == "APPROVED" and approved["oauthScopes"] == "read trade"
    assert approved["redirectUris"] == ["https://ct.example/oauth"] and "hint" not in approved
    cid, secret = approved["clientId"], approved["clientSecret"]
    first = _client(db, cid)
    assert first.redirect_uris == ("https://ct.example/oauth",)  # not the callback URL
    assert not first.check_redirect_uri(CB) and first.check_client_secret(secret)

    (listed,) = _run(db, "oauth", "clients", str(bid))
    assert listed["clientId"] == cid and "clientSecret" not in listed
    rot = _run(db, "oauth", "rotate-secret", str(bid), cid, "--grace", "60")
    now = _client(db, cid)
    assert now.check_client_secret(rot["clientSecret"]) and now.check_client_secret(secret)
    now.clock = lambda: rot["previousSecretExpireTime"]  # the grace period is over
    assert not now.check_client_secret(secret) and now.check_client_secret(rot["clientSecret"])
    _run(db, "oauth", "rotate-secret", str(bid), cid, "--grace", "86401", code=1)

    got = _run(db, "oauth", "add-redirect", str(bid), cid, CB)
    assert got["redirectUris"] == ["https://ct.example/oauth", CB]
    got = _run(db, "oauth", "remove-redirect", str(bid), cid, "https://ct.example/oauth")
    assert got["redirectUris"] == [CB]
    _run(db, "oauth", "remove-redirect", str(bid), cid, CB + "/", code=1)  # exact only

    assert _run(db, "oauth", "set-scopes", str(bid), cid, "read")["scopes"] == "read"
    _run(db, "oauth", "set-scopes", str(bid), cid, "read transfer", code=1)
    assert _run(db, "oauth", "approve-scopes", str(bid), "read trade transfer")["oauthScopes"] == (
        "read trade transfer"
    )
    assert _run(db, "oauth", "set-scopes", str(bid), cid, "read transfer")["scopes"] == (
        "read transfer"
    )

    for i in range(MAX_CLIENTS_PER_BROKER - 1):
        app = _run(
            db, "oauth", "register", str(bid), "--name", f"app{i}",
            "--redirect-uri", f"https://app{i}.example/cb",
        )  # fmt: skip
        assert app["clientSecret"].startswith("bcs_") and app["scopes"] == "read trade transfer"
    out = _run(
        db, "oauth", "register", str(bid), "--name", "one too many",
        "--redirect-uri", "https://x.example/cb", code=1,
    )  # fmt: skip
    assert "at most" in out
    assert len(_run(db, "oauth", "clients", str(bid))) == MAX_CLIENTS_PER_BROKER

    # the table at 80 columns, piped: every column keeps its data (none squeezed to nothing),
    # even beside a redirect URI that alone takes most of the width
    long_uri = "https://copytrader.example/oauth/callback/for/the/mobile/app/v2"
    _run(db, "oauth", "add-redirect", str(bid), cid, long_uri)
    res = runner.invoke(
        brokers_app, ["oauth", "clients", str(bid), "--db", db], env={"COLUMNS": "80"}
    )
    assert res.exit_code == 0, res.output
    text = res.stdout
    assert "┃┃" not in text and "││" not in text and "┳┳" not in text, text
    header = next(line for line in text.splitlines() if "client id" in line)
    assert all(f" {col} " in header for col in ("name", "scopes", "redirect URIs", "disabled"))
    rows = [line for line in text.splitlines() if "│ bc_" in line]
    assert len(rows) == MAX_CLIENTS_PER_BROKER, text
    first = next(line for line in rows if cid in line)
    cells = [cell.strip() for cell in first.split("│")[1:-1]]
    assert cells[1:] == ["CT", "read", CB, "False"], first
    assert long_uri in text and "transfer" in text, text  # the URI whole, the scopes folded
    for i in range(MAX_CLIENTS_PER_BROKER - 1):  # each row: its name, scopes, URI, flag
        row = next(line for line in rows if f"https://app{i}.example/cb" in line)
        cells = [cell.strip() for cell in row.split("│")[1:-1]]
        assert cells[1:3] == [f"app{i}", "read"] and cells[4] == "False", row


def test_list_keeps_to_the_terminal_and_prints_no_control_character(db: str) -> None:
    """An applicant's long callback URL is shortened in ``list`` (as the note is; ``show``
    gives it whole), and the control characters of its texts (a terminal's escapes) are not
    printed by ``list`` nor ``show``: only the newlines of the note."""
    with open_platform(Config(database_url=db, rebate_settle_at=None)) as p:
        owner = p.engine.execute(c.OpenAccount(AccountKind.BROKER_MASTER)).id
    url = "https://copytrader.example/" + "callback/" * 40 + "\x1b[2J"
    bid = _run(
        db, "apply", str(owner), "--type", "OAUTH", "--name", "Evil\x1b]0;pwned\x07Co",
        "--callback-url", url, "--note", "line one\x1b[31m\nline two\x01\x9b",
    )["brokerId"]  # fmt: skip
    res = runner.invoke(brokers_app, ["list", "--db", db], env={"COLUMNS": "120"})
    assert res.exit_code == 0, res.output
    # the URL's 40 characters, not its 400 (the name and code columns never fold)
    assert max(len(line) for line in res.stdout.splitlines()) < 150, res.stdout
    assert "https://copytrader.example/callback/" in res.stdout and "…" in res.stdout
    assert "Evil]0;pwnedCo" in res.stdout
    assert "whole notes and callback URLs: bourse brokers show ID" in res.stdout
    res = runner.invoke(brokers_app, ["show", str(bid), "--db", db], env={"COLUMNS": "80"})
    assert res.exit_code == 0 and url[:-4] + "[2J" in res.stdout, res.output
    assert "line one[31m\nline two\n" in res.stdout
    for shown in (res.stdout, runner.invoke(brokers_app, ["list", "--db", db]).stdout):
        assert not set(shown) & {chr(i) for i in (*range(32), *range(127, 160))} - {"\n"}


def test_api_brokers_have_no_oauth_clients(db: str) -> None:
    with open_platform(Config(database_url=db, rebate_settle_at=None)) as p:
        owner = p.engine.execute(c.OpenAccount(AccountKind.BROKER_MASTER)).id
    bid = _run(db, "apply", str(owner), "--type", "API", "--name", "A")["brokerId"]
    _run(db, "approve", str(bid))
    out = _run(db, "oauth", "clients", str(bid), code=1)
    assert "OAuth broker" in out


def test_operator_sees_the_application_and_how_to_add_a_redirect_uri(db: str) -> None:
    """``list`` (table and JSON) and ``show`` give what the applicant wrote; an approval
    without ``--redirect-uri`` says /oauth/authorize refuses the client and offers the
    command with the callback URL, which it did not register."""
    with open_platform(Config(database_url=db, rebate_settle_at=None)) as p:
        owners = [p.engine.execute(c.OpenAccount(AccountKind.BROKER_MASTER)).id for _ in "ab"]
    note = "Since 2019 [b]40k[/b] users; " + "x" * 60
    bid = _run(
        db, "apply", str(owners[0]), "--type", "OAUTH", "--name", "CT", "--callback-url", CB,
        "--note", note,
    )["brokerId"]  # fmt: skip
    (listed,) = _run(db, "list")
    assert listed["callbackUrl"] == CB and listed["note"] == note
    shown = _run(db, "show", str(bid))
    assert (shown["callbackUrl"], shown["note"], shown["oauthScopes"]) == (CB, note, "read trade")
    assert "does not exist" in _run(db, "show", "999", code=1)
    res = runner.invoke(brokers_app, ["list", "--db", db], env={"COLUMNS": "200"})
    assert res.exit_code == 0 and CB in res.stdout, res.output
    assert "[b]40k[/b]" in res.stdout  # text, not markup
    assert "whole notes and callback URLs: bourse brokers show ID" in res.stdout
    res = runner.invoke(brokers_app, ["show", str(bid), "--db", db], env={"COLUMNS": "80"})
    assert res.exit_code == 0 and f"callback URL: {CB}" in res.stdout and note in res.stdout

    res = runner.invoke(brokers_app, ["approve", str(bid), "--db", db], env={"COLUMNS": "80"})
    assert res.exit_code == 0, res.output
    (client,) = [w for w in res.stdout.split() if w.startswith("bc_")][:1]
    assert _client(db, client).redirect_uris == ()  # offered, not registered
    (hint,) = [line for line in res.stdout.splitlines() if "no redirect URI" in line]
    assert hint.endswith(
        f"refuses this client until one is added: bourse brokers oauth add-redirect {bid} "
        f"{client} {CB} (the callback URL it applied with)"
    ), res.stdout
    # a callback URL that could not be a redirect URI is not offered
    other = _run(
        db, "apply", str(owners[1]), "--type", "OAUTH", "--name", "Plain",
        "--callback-url", "http://plain.example/cb",
    )["brokerId"]  # fmt: skip
    approved = _run(db, "approve", str(other))
    assert approved["redirectUris"] == [] and approved["hint"].endswith(
        f"add-redirect {other} {approved['clientId']} URI"
    )
