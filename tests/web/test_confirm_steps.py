"""Binding a key to a broker (once, ever) and deleting a key cannot be taken back: the first
POST of either form only asks (a page that says what will happen, binding's "cannot be
undone" in bold), and only the confirming POST acts. No JavaScript is needed for either step."""

from __future__ import annotations

import re

from tests.web.conftest import Demo
from tests.web.test_console import _account, _create_key, _csrf, _signup


def test_binding_a_key_asks_first_and_says_it_cannot_be_undone(demo: Demo) -> None:
    http = _signup(demo)
    key = _create_key(http)
    keys = http.get("/account/keys").text
    assert "cannot be undone" in keys.split(f'data-key="{key}"')[1]  # said beside the button
    form = {"csrf_token": _csrf(keys), "api_key": key, "broker_id": str(demo.broker_id)}
    r = http.post("/account/keys/bind", data=form)
    assert r.status_code == 200 and "Demo API Broker" in r.text, r.text
    warning = re.search(r'id="cannot-undo"><strong>([^<]+)<', r.text)
    assert warning and "cannot be undone" in warning.group(1) and "once" in warning.group(1)
    assert demo.platform.brokers.bindings.get(key) is None  # asked, nothing bound
    confirm = r.text.split('<section class="confirm"')[1]
    sent = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', confirm))
    assert sent == {**form, "confirmed": "1"}
    r = http.post("/account/keys/bind", data=sent)
    assert r.status_code == 303 and r.headers["location"] == "/account/keys?done=bound"
    assert demo.platform.brokers.bindings.bound_broker(key) == demo.broker_id
    # bound once: a second ask is refused at once, in words, before any confirmation
    r = http.post("/account/keys/bind", data=form)
    assert r.status_code == 400 and "can be bound only once" in r.text


def test_deleting_a_key_asks_first(demo: Demo) -> None:
    http, other = _signup(demo), _signup(demo)
    key = _create_key(http)
    account = _account(demo, http)
    csrf = _csrf(http.get("/account/keys").text)
    r = http.post("/account/keys/delete", data={"csrf_token": csrf, "api_key": key})
    assert r.status_code == 200 and "stops working at once" in r.text and key in r.text
    assert [k["apiKey"] for k in demo.platform.apikeys.list_keys(account)] == [key]
    # another account's key: refused in words, not asked about (nor named)
    r = other.post("/account/keys/delete", data={"csrf_token": _csrf(other.get(
        "/account/keys").text), "api_key": key, "confirmed": "1"})  # fmt: skip
    assert r.status_code == 400 and "belongs to another account" in r.text
    r = http.post("/account/keys/delete", data={"csrf_token": csrf, "api_key": key,
                                                "confirmed": "1"})  # fmt: skip
    assert r.status_code == 303 and r.headers["location"] == "/account/keys?done=deleted"
    assert demo.platform.apikeys.list_keys(account) == []


def test_releasing_a_key_asks_first_and_says_it_cannot_be_bound_again(demo: Demo) -> None:
    http = _signup(demo)
    key = _create_key(http)
    csrf = _csrf(http.get("/account/keys").text)
    r = http.post("/account/keys/bind", data={"csrf_token": csrf, "api_key": key,
                                              "broker_id": str(demo.broker_id), "confirmed": "1"})  # fmt: skip
    assert r.status_code == 303
    assert "Release…" in http.get("/account/keys").text.split(f'data-key="{key}"')[1]
    form = {"csrf_token": csrf, "api_key": key}
    r = http.post("/account/keys/release", data=form)
    assert r.status_code == 200 and "Demo API Broker" in r.text, r.text
    warning = re.search(r'id="cannot-undo"><strong>([^<]+)<', r.text)
    assert warning and "stops earning" in warning.group(1)
    assert "can never be bound again" in warning.group(1)
    assert demo.platform.brokers.bindings.bound_broker(key) == demo.broker_id  # asked only
    confirm = r.text.split('<section class="confirm"')[1]
    sent = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', confirm))
    assert sent == {**form, "confirmed": "1"}
    r = http.post("/account/keys/release", data=sent)
    assert r.status_code == 303 and r.headers["location"] == "/account/keys?done=released"
    assert demo.platform.brokers.bindings.bound_broker(key) is None
    # released: asking again is refused in words, before any confirmation
    r = http.post("/account/keys/release", data=form)
    assert r.status_code == 400 and "nothing to release" in r.text


def test_binding_to_ones_own_broker_is_refused_before_the_confirmation(demo: Demo) -> None:
    """The ask step makes every check the binding makes that needs no write: a crafted form
    binding a key to the broker that would rebate its own account is not asked about."""
    http = _signup(demo)
    key = _create_key(http)
    demo.platform.brokers.registry.set_rebate_account(demo.broker_id, _account(demo, http))
    form = {"csrf_token": _csrf(http.get("/account/keys").text), "api_key": key,
            "broker_id": str(demo.broker_id)}  # fmt: skip
    r = http.post("/account/keys/bind", data=form)
    assert r.status_code == 400 and "own account" in r.text, r.text
    assert demo.platform.brokers.bindings.get(key) is None
