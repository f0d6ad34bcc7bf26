"""A key acting on keys (creating one, for its account or a sub-account; renewing, deleting,
binding or unbinding another) against a change of that signing key racing it (revoked by
another key or by the owner, bound to a broker), over real HTTP on SQLite and PostgreSQL.

The signer's right and the write it allows are one decision: a change of the signer either
commits first, and the request is refused, or waits until the request's write is stored.
Never does the request's write land after the change has returned. The pausing tests hold
the request between its scope check (``domain.keyscope``, as ``services.brokers.keys`` calls
it) and its write, for as long as it takes the change to return or ``PAUSE_S``; the last test
races many creations against a revoke with nothing held.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from bourse.engine.clock import now_ms
from bourse.services.brokers import keys as key_rules
from bourse.store import tables as t
from tests.support.mexc import err, ok
from tests.support.platforms import IEnv, open_ienv

KEYS = "/api/v3/user/apiKey"
ALL = ["SPOT_ACCOUNT_READ", "SPOT_ACCOUNT_WRITE", "SPOT_DEAL_READ", "SPOT_DEAL_WRITE"]
LOCAL = ["127.0.0.1"]
#: seconds a paused request waits for the racing change to return
PAUSE_S = 1.0
DAY = 86_400_000


@pytest.fixture
def ienv(migrated_url: str, tmp_path: Any) -> Iterator[IEnv]:
    yield from open_ienv(migrated_url, tmp_path)


class Pause:
    """Holds the first call of the scope check ``name`` (``check_creates``,
    ``check_renews``, ``check_manages``) until the racing change has returned, or
    ``PAUSE_S``; ``changed_meanwhile`` says which."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
        real = getattr(key_rules, name)
        self.reached = threading.Event()
        self.changed = threading.Event()
        self.changed_meanwhile = False
        calls = [0]

        def held(*args: Any) -> None:
            calls[0] += 1
            if calls[0] == 1:
                self.reached.set()
                self.changed_meanwhile = self.changed.wait(PAUSE_S)
            real(*args)

        monkeypatch.setattr(key_rules, name, held)

    def race(self, act: Callable[[], httpx.Response], change: Callable[[], Any]) -> httpx.Response:
        """``act``'s answer, with ``change`` made while ``act`` is held."""

        def changing() -> None:
            change()
            self.changed.set()

        with ThreadPoolExecutor(2) as pool:
            acting = pool.submit(act)
            assert self.reached.wait(15), "the request never reached its scope check"
            changed = pool.submit(changing)
            answer = acting.result(timeout=60)
            changed.result(timeout=60)
        return answer

    def check(self, answer: httpx.Response) -> bool:
        """Whether ``act`` was done: it may be only if the change could not return while the
        request stood between its check and its write (then the change waited for it);
        when the change did return meanwhile, the request is refused (700007)."""
        if self.changed_meanwhile:
            err(answer, 700007, 401)
            return False
        ok(answer)
        return True


def _broker_id(ienv: IEnv) -> int:
    """An approved API broker of another account."""
    other = ienv.open_account()
    osig = ienv.signer(other, ALL, ip_whitelist=LOCAL)
    bid = int(ok(osig.post("/api/v3/broker/apply", brokerType="API", name="Acme"))["brokerId"])
    ienv.platform.brokers.registry.approve(bid)
    return bid


def _labelled(ienv: IEnv, account: int, prefix: str) -> int:
    """How many keys of ``account`` labelled ``prefix...`` are stored (revoked ones too)."""
    k = t.api_keys.c
    q = select(func.count()).where(k.account_id == account, k.label.like(f"{prefix}%"))
    with ienv.platform.db.connect() as conn:
        return int(conn.execute(q).scalar_one())


@pytest.mark.parametrize("change", ["revoked by a key", "revoked by the owner", "bound"])
def test_a_key_creation_never_lands_after_its_signer_lost_the_right(
    ienv: IEnv, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    acc = ienv.open_account()
    admin = ienv.signer(acc, ALL, ip_whitelist=LOCAL)
    signer = ienv.signer(acc, ALL, ip_whitelist=LOCAL)
    bid = _broker_id(ienv)
    changes: dict[str, Callable[[], Any]] = {
        "revoked by a key": lambda: ok(admin.delete(KEYS, apiKey=signer.api_key)),
        "revoked by the owner": lambda: ienv.platform.apikeys.delete_key(signer.api_key, acc),
        "bound": lambda: ienv.platform.brokers.bindings.bind(signer.api_key, bid, acc),
    }
    pause = Pause(monkeypatch, "check_creates")
    answer = pause.race(
        lambda: signer.post(KEYS, permissions="SPOT_DEAL_READ", note="raced"), changes[change]
    )
    made = pause.check(answer)
    assert _labelled(ienv, acc, "raced") == int(made)
    # the change stands, and the signer creates nothing more
    refused = signer.post(KEYS, permissions="SPOT_DEAL_READ", note="raced")
    assert refused.status_code == 401, refused.text
    assert _labelled(ienv, acc, "raced") == int(made)


@pytest.mark.parametrize("api", ["broker", "normal"])
def test_a_sub_account_key_creation_never_lands_after_the_master_key_is_revoked(
    ienv: IEnv, monkeypatch: pytest.MonkeyPatch, api: str
) -> None:
    """The new key is the sub-account's, the signer the master's: the creation's account
    lock is not the one a revoke of the signer takes, only the signer's row lock is."""
    if api == "broker":
        _, acc, admin = ienv.broker()
        prefix = "/api/v3/broker/sub-account"
    else:
        acc = ienv.open_account()
        admin = ienv.signer(acc, ALL, ip_whitelist=LOCAL)
        prefix = "/api/v3/sub-account"
    ok(admin.post(f"{prefix}/virtualSubAccount", subAccount="raced001", note="n"))
    signer = ienv.signer(acc, ALL, ip_whitelist=LOCAL)
    pause = Pause(monkeypatch, "check_creates")
    answer = pause.race(
        lambda: signer.post(
            f"{prefix}/apiKey", subAccount="raced001", permissions="SPOT_DEAL_READ", note="raced"
        ),
        lambda: ok(admin.delete(KEYS, apiKey=signer.api_key)),
    )
    made = pause.check(answer)
    tenant = (
        ienv.platform.subaccounts.tenant_for_broker(acc)
        if api == "broker"
        else ienv.platform.subaccounts.tenant_for_master(acc)
    )
    sub, keys = ienv.platform.subaccounts.keys.list(tenant, "raced001")
    assert len(keys) == int(made)
    assert _labelled(ienv, sub.account_id, "raced") == int(made)


@pytest.mark.parametrize("action", ["renew", "rotate", "delete", "bind", "unbind"])
def test_a_key_acting_on_another_never_acts_after_it_is_revoked(
    ienv: IEnv, monkeypatch: pytest.MonkeyPatch, action: str
) -> None:
    """Renewals and deletions decide in their write's transaction already; the revoke by the
    owner takes no account lock, so only the signer's row lock keeps it from returning
    between their check and their write (PostgreSQL). Binds and unbinds checked the signer
    before their transaction at all."""
    acc = ienv.open_account()
    signer = ienv.signer(acc, ALL, ip_whitelist=LOCAL)
    target = ienv.signer(acc, ["SPOT_DEAL_READ"], ip_whitelist=LOCAL, expires=now_ms() + DAY)
    bid = _broker_id(ienv)
    if action == "unbind":
        ienv.platform.brokers.bindings.bind(target.api_key, bid, acc)
    requests: dict[str, tuple[str, Callable[[], httpx.Response]]] = {
        "renew": ("check_renews", lambda: signer.post(f"{KEYS}/renew", apiKey=target.api_key)),
        "rotate": (
            "check_renews",
            lambda: signer.post(f"{KEYS}/renew", apiKey=target.api_key, rotateSecret="true"),
        ),
        "delete": ("check_manages", lambda: signer.delete(KEYS, apiKey=target.api_key)),
        "bind": (
            "check_manages",
            lambda: signer.post(f"{KEYS}/bind", apiKey=target.api_key, brokerId=bid),
        ),
        "unbind": ("check_manages", lambda: signer.delete(f"{KEYS}/bind", apiKey=target.api_key)),
    }
    check, act = requests[action]
    before = ienv.platform.apikeys.repository.get_bound(target.api_key)
    pause = Pause(monkeypatch, check)
    answer = pause.race(act, lambda: ienv.platform.apikeys.delete_key(signer.api_key, acc))
    done = pause.check(answer)
    after = ienv.platform.apikeys.repository.get_bound(target.api_key)
    changed = {
        "renew": after.expires != before.expires,
        "rotate": after.secret_enc != before.secret_enc,
        "delete": bool(after.revoked),
        "bind": after.broker_id is not None,
        "unbind": after.unbound_at is not None,
    }[action]
    assert changed == done, (action, done)


def _swarm(ienv: IEnv, n: int, delay_s: float) -> tuple[list[int], int, int]:
    """``n`` creations signed by one key, sent together with its revoke (by another key,
    ``delay_s`` later): their statuses, the keys stored when the revoke returned, and at the
    end."""
    acc = ienv.open_account()
    admin = ienv.signer(acc, ALL, ip_whitelist=LOCAL)
    signer = ienv.signer(acc, ALL, ip_whitelist=LOCAL)
    barrier = threading.Barrier(n + 1, timeout=30)

    def create(i: int) -> httpx.Response:
        barrier.wait()
        return signer.post(KEYS, permissions="SPOT_DEAL_READ", note=f"swarm{i}")

    def revoke() -> int:
        barrier.wait()
        time.sleep(delay_s)
        ok(admin.delete(KEYS, apiKey=signer.api_key))
        return _labelled(ienv, acc, "swarm")

    with ThreadPoolExecutor(n + 1) as pool:
        revoking = pool.submit(revoke)
        answers = list(pool.map(create, range(n), timeout=120))
        at_revoke = revoking.result(timeout=120)
    statuses = [r.status_code for r in answers]
    assert set(statuses) <= {200, 401, 503}, [r.text for r in answers]
    return statuses, at_revoke, _labelled(ienv, acc, "swarm")


def test_many_creations_racing_a_revoke_all_land_before_it(ienv: IEnv) -> None:
    """Creations sent together, a revoke of their signer among them: every key stored was
    stored before the revoke returned (none appears after), and each one answered 200."""
    rng = random.Random(7)
    for attempt in range(4):
        statuses, at_revoke, stored = _swarm(ienv, 12, rng.uniform(0.0, 0.05))
        assert stored == at_revoke, (attempt, statuses, at_revoke, stored)
        assert stored == statuses.count(200), (attempt, statuses)
