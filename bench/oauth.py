"""OAuth throughput: Bearer-authenticated orders and the refresh_token grant, against API keys.

Modelled on ``bench/rest.py`` and reusing its helpers (``rest.seed``, ``rest.drive``,
``rest.order_requests``, ``rest.serve``, ``rest.wait_up``, ``rest.free_port``,
``rest.pg_create``/``rest.pg_drop``). For each backend (SQLite file, PostgreSQL database
created for the run) the bench migrates a fresh database and, BEFORE the server starts, opens
funded API-key accounts (``rest.seed``), creates funded web users (``bourse.services.users``) and
registers one OAuth client (``client_secret_basic``, scopes ``read trade``, no broker). It
then starts the real server in a child process (``uvicorn`` on 127.0.0.1, one worker, rate
limits off, ``BOURSE_PUBLIC_URL`` = the server's URL so the issuer matches) and gets every
user's tokens through the real HTTP flow: ``/login`` (CSRF form), ``GET /oauth/authorize``
with PKCE S256, the consent form (approve, CSRF field), the ``code`` from the 303
``Location``, ``POST /oauth/token`` (``authorization_code`` + ``code_verifier``). Then, at a
fixed concurrency (one ``httpx.AsyncClient`` and connection per worker):

1. ``apikey``: signed ``POST /api/v3/order`` (exactly ``rest.py``'s order phase);
2. ``bearer``: ``POST /api/v3/order`` with ``Authorization: Bearer <access_token>`` (no
   signature or timestamp), same order mix (sellers and buyers are different accounts at the
   same price, so about half the orders trade);
3. ``token``: ``POST /oauth/token`` with ``grant_type=refresh_token`` and
   ``client_secret_basic``. Refresh tokens rotate on every use, so each worker owns one token
   family and always sends the refresh token its previous call returned (a worker stops at
   its first non-200, since its family may then be revoked).

Each phase stops after ``--count`` requests or ``--seconds``, whichever comes first. Reported:
requests/s, p50/p99 latency, non-200 answers, and the ratios bearer/apikey and token/apikey.

    .venv/bin/python bench/oauth.py
    .venv/bin/python bench/oauth.py --backends sqlite --count 1500 --seconds 8

Not part of the pytest suite.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import html
import json
import os
import platform
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

# run as a script, this folder comes first on sys.path, and bench/http.py would hide the
# standard library's ``http`` package: take the folder off
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.append(str(Path(__file__).resolve().parent))  # for rest, behind the standard library

import httpx  # noqa: E402

import rest  # noqa: E402  (also puts src/ on sys.path)
from bourse.bootstrap import open_platform  # noqa: E402
from bourse.config import AuthLimits, Config, RateLimits  # noqa: E402
from bourse.domain.money import to_units  # noqa: E402
from bourse.engine import commands as c  # noqa: E402
from bourse.oauth.clients import register_client  # noqa: E402
from bourse.services.apikeys import generate_server_key  # noqa: E402

REDIRECT = "http://127.0.0.1:9/cb"
PASSWORD = "correct horse battery staple"
FLOW_TIMEOUT = 60.0  # seconds for the whole token set-up of one backend


# --- set-up (before the server starts) ----------------------------------------------------------
def seed_users(url: str, n: int) -> tuple[list[tuple[str, str]], str, str]:
    """``n`` funded web users (first half sellers, second half buyers) and one OAuth client.

    Returns ``([(side, email)], client_id, client_secret)``.
    """
    p = open_platform(
        Config(database_url=url, rate_limits=RateLimits.off(), auth_limits=AuthLimits.off())
    )
    try:
        users = []
        for i in range(n):
            side = "SELL" if i < n // 2 else "BUY"
            email = f"bench-oauth-{i}@example.com"
            user = p.users.create_user(email, PASSWORD)
            if side == "SELL":
                p.engine.execute(
                    c.CreditDeposit(user.account_id, "BTC", to_units("100000", 8), f"os{i}")
                )
            else:
                p.engine.execute(
                    c.CreditDeposit(user.account_id, "USDT", to_units("5000000000", 8), f"ob{i}")
                )
            users.append((side, email))
        reg = register_client(
            p.oauth, name="Bench App", redirect_uris=[REDIRECT], broker_id=None, scopes="read trade"
        )
        return users, reg.client.client_id, reg.client_secret
    finally:
        p.close()


# --- the OAuth flow over HTTP (server running) --------------------------------------------------
def _form_value(page: str, name: str) -> str:
    m = re.search(rf'name="{name}" value="([^"]*)"', page)
    if not m:
        raise RuntimeError(f"no {name} in page")
    return html.unescape(m.group(1))


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def obtain_tokens(base: str, email: str, client_id: str, client_secret: str) -> dict:
    """Log in, authorise (PKCE S256, consent form) and exchange the code: the token response."""
    with httpx.Client(base_url=base, timeout=30, follow_redirects=False) as http:
        page = http.get("/login")
        page.raise_for_status()
        r = http.post(
            "/login",
            data={
                "email": email,
                "password": PASSWORD,
                "totp": "",
                "next": "/account/apps",
                "csrf_token": _form_value(page.text, "csrf_token"),
            },
        )
        if r.status_code != 303:
            raise RuntimeError(f"login: {r.status_code} {r.text[:200]}")
        verifier, challenge = pkce_pair()
        state = secrets.token_urlsafe(8)
        params = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": REDIRECT,
            "scope": "read trade",
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        page = http.get("/oauth/authorize?" + urllib.parse.urlencode(params))
        if page.status_code != 200:
            raise RuntimeError(f"authorize: {page.status_code} {page.text[:200]}")
        data = {
            k: html.unescape(v)
            for k, v in re.findall(
                r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text
            )
        }
        data["decision"] = "approve"
        r = http.post("/oauth/authorize", data=data)
        if r.status_code != 303:
            raise RuntimeError(f"consent: {r.status_code} {r.text[:200]}")
        q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(r.headers["location"]).query))
        if "code" not in q or q.get("state") != state or q.get("iss") != base:
            raise RuntimeError(f"consent redirect: {r.headers['location']}")
        r = http.post(
            "/oauth/token",
            data={
                "grant_type": "authorization_code",
                "code": q["code"],
                "redirect_uri": REDIRECT,
                "code_verifier": verifier,
            },
            auth=(client_id, client_secret),
        )
        if r.status_code != 200:
            raise RuntimeError(f"token: {r.status_code} {r.text[:200]}")
        return r.json()


# --- load ------------------------------------------------------------------------------------
def bearer_requests(tokens: list[tuple[str, str]]):  # type: ignore[no-untyped-def]
    """``rest.order_requests``'s order mix, authenticated with access tokens."""
    sellers = [t for side, t in tokens if side == "SELL"]
    buyers = [t for side, t in tokens if side == "BUY"]

    def make(w: int, n: int) -> tuple[str, str, dict]:
        side = "SELL" if n % 2 == 0 else "BUY"
        token = (sellers if n % 2 == 0 else buyers)[(n // 2 + w) % len(sellers)]
        q = urllib.parse.urlencode(
            {
                "symbol": "BTCUSDT",
                "side": side,
                "type": "LIMIT",
                "quantity": "0.001",
                "price": "30000",
            }
        )
        return "POST", "/api/v3/order?" + q, {"Authorization": "Bearer " + token}

    return make


async def drive_refresh(
    base: str,
    refresh: list[str],
    client: tuple[str, str],
    concurrency: int,
    count: int,
    seconds: float,
) -> dict:
    """``rest.drive_calls`` for ``POST /oauth/token`` (refresh_token grant). Worker ``w`` owns
    the token family of ``refresh[w]`` and replaces it with each answer's rotated refresh token;
    it stops at its first failure (resending an old token would revoke the family)."""
    auth = httpx.BasicAuth(*client)

    async def call(http: httpx.AsyncClient, w: int, n: int) -> httpx.Response:
        r = await http.post(
            "/oauth/token",
            data={"grant_type": "refresh_token", "refresh_token": refresh[w]},
            auth=auth,
        )
        if r.status_code == 200:
            refresh[w] = r.json()["refresh_token"]
        return r

    return await rest.drive_calls(base, call, concurrency, count, seconds, stop_on_error=True)


def run_backend(name: str, url: str, args: argparse.Namespace) -> dict:
    conc = args.concurrency
    creds = rest.seed(url)
    users, client_id, client_secret = seed_users(url, 2 * ((conc + 1) // 2))
    port = rest.free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", url, "--port", str(port)],
        env={**os.environ, "BOURSE_PUBLIC_URL": base},
    )
    try:
        rest.wait_up(base, proc)
        t0 = time.perf_counter()
        tokens = []
        for side, email in users:
            if time.perf_counter() - t0 > FLOW_TIMEOUT:
                raise RuntimeError("the OAuth flow took too long")
            tokens.append((side, obtain_tokens(base, email, client_id, client_secret)))
        flow_s = time.perf_counter() - t0
        access = [(side, t["access_token"]) for side, t in tokens]
        refresh = [t["refresh_token"] for _, t in tokens]
        client = (client_id, client_secret)
        apikey_orders = rest.order_requests(creds)
        bearer_orders = bearer_requests(access)
        # warm-up: connections, caches, the first batches (one refresh per worker)
        asyncio.run(rest.drive(base, apikey_orders, conc, 200, 5))
        asyncio.run(rest.drive(base, bearer_orders, conc, 200, 5))
        asyncio.run(drive_refresh(base, refresh, client, conc, conc, 10))
        apikey = asyncio.run(rest.drive(base, apikey_orders, conc, args.count, args.seconds))
        bearer = asyncio.run(rest.drive(base, bearer_orders, conc, args.count, args.seconds))
        token = asyncio.run(drive_refresh(base, refresh, client, conc, args.count, args.seconds))
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
    return {
        "backend": name,
        "flow_s": flow_s,
        "users": len(users),
        "apikey": apikey,
        "bearer": bearer,
        "token": token,
    }


PATHS = (
    ("apikey", "POST /api/v3/order (signed, API key)"),
    ("bearer", "POST /api/v3/order (Bearer)"),
    ("token", "POST /oauth/token (refresh_token, basic)"),
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--count", type=int, default=3000, help="requests per phase (max)")
    ap.add_argument("--seconds", type=float, default=10.0, help="time per phase (max)")
    ap.add_argument("--serve", metavar="URL", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        rest.serve(args.serve, args.port)
        return
    if args.concurrency < 1:
        raise SystemExit("--concurrency must be >= 1")
    os.environ.setdefault("BOURSE_SECRET_KEY", generate_server_key())

    results = []
    for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
        if backend == "sqlite":
            tmp = tempfile.mkdtemp(prefix="bourse-bench-oauth-")
            try:
                results.append(run_backend("sqlite", f"sqlite:///{tmp}/bench.db", args))
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        elif backend == "postgresql":
            url = rest.pg_create()
            try:
                results.append(run_backend("postgresql", url, args))
            finally:
                rest.pg_drop(url)
        else:
            raise SystemExit(f"unknown backend {backend}")

    cmd = ".venv/bin/python bench/oauth.py " + shlex.join(sys.argv[1:])
    print()
    print(
        f"## OAuth bench: Bearer orders and refresh_token grant vs API-key orders ({cmd.strip()})"
    )
    print(
        f"host: {platform.machine()} {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"uvicorn 1 worker, rate limits off, httpx clients, concurrency {args.concurrency}, "
        f"max {args.count} requests / {args.seconds:g} s per phase"
    )
    print()
    print("| backend | path | requests | req/s | p50 ms | p99 ms | non-200 | ratio vs apikey |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        base_rps = r["apikey"]["rps"]
        for key, label in PATHS:
            m = r[key]
            ratio = m["rps"] / base_rps if base_rps else float("nan")
            print(
                f"| {r['backend']} | {label} | {m['n']} | {m['rps']:.0f} | {m['p50_ms']:.2f} | "
                f"{m['p99_ms']:.2f} | {json.dumps(m['errors']) if m['errors'] else 0} | "
                f"{ratio:.2f} |"
            )
    print()
    for r in results:
        b = r["apikey"]["rps"]
        print(
            f"{r['backend']}: bearer/apikey {r['bearer']['rps'] / b:.2f}, "
            f"token/apikey {r['token']['rps'] / b:.2f} "
            f"(token set-up: {r['users']} users through login/authorize/consent/token "
            f"in {r['flow_s']:.1f} s)"
        )


if __name__ == "__main__":
    main()
