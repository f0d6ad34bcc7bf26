"""Every fenced block of README.md and docs/*.md, run as written (tests/support/snippets.py says
how): one session and one real server per page, blocks in page order, a few pages at once. A page cannot drift from
what the platform does: its commands and snippets must succeed, and where the page promises an
output, ``PROMISED`` checks it.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.support import snippets
from tests.support.snippets import PAGES, ROOT, RUN, SHOW

# What a page's blocks must print, as regexes over the page's output (in order of the page).
PROMISED: dict[str, list[str]] = {
    "README.md": [r"\[\[\d", r"^open\ncanceled$", r'^(\{\})?\{"url": "http://127\.0\.0\.1:9000"'],
    "docs/clients.md": [
        r"^placed (\d+) open\ncanceled \1 canceled$",
        r"^async: USDT free \d",
        r"^placed (\d+) NEW\ncanceled \1 CANCELED$",
        r"^placed (\d+) NEW\ncanceled \1 CANCELED$",
        r"^placed (\d+) NEW\ncanceled \1 CANCELED$",
    ],
    "docs/brokers.md": [
        r'"status":"PENDING"',
        r"broker \d+ is APPROVED",
        r'"bindTime"',
        r'"status":"FILLED"',
        r'"asset":"BTC",.*"rate":"0\.4","status":"pending"',
        r"paid 1 payout",
        r'"asset":"BTC",.*"rate":"0\.4","status":"settled"',
        r'"data":\[\{"asset":"BTC","amount":"0\.\d+","type":"spot"',
        r'"clientSecret":"bcs_[^"]+","previousSecretExpireTime":\d+',
        r'"redirectUris":\["https://copytrader\.example/oauth/callback2"\]',
        r'"scopes":"read"',
        r'"clientSecret":"bcs_',
        r"OAuth clients of broker \d+",
    ],
    "docs/oauth.md": [
        r'"code_challenge_methods_supported": ?\[\s*"S256"\s*\]',
        r"^303 to http://127\.0\.0\.1:8765/callback$",
        r"^scope read trade expires in 3600$",
        r"^order \d+ NEW$",
        r'"active": ?true',
        r'"code": ?10072.* HTTP 401$',
    ],
    "docs/independent-brokers.md": [
        r'"data":\[\{"subAccount":"alice2024","note":"Alice"',
        r'^\{"tranId":"\d+"\}$',
        r'"status":"FILLED"',
        r'^\{"balances":\[\{"asset":"BTC","free":"0\.\d+"',
        r'"toAccount":"alice2024",.*"amount":"500",.*"status":"SUCCESS"',
        r'^\{"code":30018,.*\}\nrefused while frozen$',
        r'"status":"1"',
    ],
    "docs/wallet.md": [
        r"^credited 250 USDT to T\S+ \(TRX, tx \S+, 3/3 confirmations\)$",
        r'^\[\{"amount":"250","coin":"USDT","network":"TRX","status":5',
        r'^\{"id":"\d+"\}$',
        r'"amount":"20",.*"transactionFee":"1",.*"withdrawOrderId":"doc-1"',
        r'^\{"tranId":"\d+"\}\n\{"tranId":"\d+"\}$',
        r'"amount":"1","toAccountType":"UID",.*"status":"SUCCESS"',
    ],
    "docs/operations.md": [
        r"^running at http://127\.0\.0\.1:\d+",
        r"^credited 1000 USDT to \d+",
        r"operator \(\S+\) +│ 127\.0\.0\.1 +│ demo\.credentials",
        r"^error: amount cannot be negative\nexit 1\n"
        r"error: No such option: --bogus \(see bourse deposit --help\)\nexit 2$",
        r'^\{"account": ?\d+, ?"asset": ?"USDT", ?"amount": ?"5"',
        r"^401$",
        r'^\{"code":700003,"msg":"account 999999 does not exist"\} 404$',
        r'^\{"code":700003,"msg":"account 3, chain deposits/withdrawals clearing, is a system '
        r'account and takes no deposit"\} 400$',
        r'^\{"code":700003,"msg":"account: expected a whole number, got \'abc\'"\} 400$',
        r'^\{"code":700003,"msg":"transaction reference \'docs-1\' was already credited with '
        r'another account, asset or amount"\} 409$',
        r'^\{"status": ?"ok"\}$',
        r'^\{"ready": ?true,',
        r"^x-request-id: docs-ping-1",
        r'route="/api/v3/ping",status="200"\} [1-9]',
        r"^bourse_engine_commands_total \d+",
        r"CreditDeposit .*operator:operator",
        r"^credited 0\.5 BTC to \d+; available 0\.5; the faucet can still give 4\.5 BTC today",
        r'"asset": ?"USDT", ?"amount": ?"250"',
        r"^stopped the server at http://127\.0\.0\.1:\d+",
        r"^stopped: no server runs",
        r"local \(\S+\) +│ local +│ accounts\.list",
        r"^backed up sqlite:///\S+ to \S+/bourse\.backup \(sqlite, schema \d+",
        r"^restored sqlite:///\S+/trial/bourse\.db from ",
        r"^ledger sound: ",
        r"^error: a server runs for .* stop it first with bourse stop\nrefused while",
        r"^stopped the server at http://127\.0\.0\.1:\d+",
        r"^restored sqlite:///\S+ from \S+ \(backup of ",
        r"^ledger sound: ",
    ],
    "docs/sandbox.md": [
        r"^credited 5000 USDT to \d+; available 5000;",
        r"^already credited \(same request id\): 5000 USDT to \d+; available 5000;",
        r"^replaying 4 trades on BTCUSDT over 1\.5 s$",
        r"^HTTP/1\.1 429 .*\n^retry-after: 5",
        r"^throttled: RateLimitExceeded$",
        r"^order book after (0\.[7-9]|[1-9]\.\d) s$",
        r'^\{"code": ?801, .*\} HTTP 503$',
        r"^\{\} HTTP 200$",
        r"^reset: \d+ orders cancelled, \d+ balances back to the seed",
        r"^ledger sound: ",
    ],
    "docs/referrals.md": [
        r"account \d+ is invited by account \d+",
        r'"data":\[\{"asset":"BTC","type":"spot","rate":"0\.2","amount":"0\.\d+"',
        r'"futures":"0","total":"0\.\d+","uid":"\d+","account":"fri\*\*\*\*end@example\.com"',
        r'"success":true,"code":0,"message":null',
    ],
    "docs/streams.md": [
        r"best bid \S+ best ask",
        r"book \[\[",
        r"^USDT \{",
        r'^\{"lastUpdateId":\d+,"bids":\[\["[\d.]+","[\d.]+"\]\]',
        r'^\{"lastUpdateId":\d+,"bids":\[\["[\d.]+","[\d.]+"\]\]',
        r"^follower: best bid \d\S* best ask \d",
    ],
    "docs/security.md": [
        r"^failed log-ins and OAuth client checks 30/60s per IP",
        r"^credential throttle off; back-off",
        r"^(401\n){5}429 retry-after \d+\n401$",
        r"^error: no server key at \S+/config/bourse\.key: create it with",
        r"^exit 1\n",
        r"^600 config/bourse\.key$",
        r"^re-encrypted 1 API and 0 TOTP secrets of sqlite:///\S+ under the new server key in "
        r"config/bourse\.key$",
        r"^600 data/bourse\.db$",
        r"^first 200\nagain 400 \{'code': 26, 'msg': 'Duplicate request",
        r"^ledger sound: \d+ balances of \d+ accounts",
    ],
}

# What a page's output must never show.
NEVER: dict[str, list[str]] = {
    "docs/clients.md": [r"!!"],  # jsii's node warnings: the SDK snippet silences them as written
}


def _name(page: Path) -> str:
    return str(page.relative_to(ROOT))


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_every_fence_is_tagged(page: Path) -> None:
    for block in snippets.parse(page):
        assert block.lang in RUN | SHOW, (
            f"{block.where}: tag every fence with one of {sorted(RUN | SHOW)} "
            "(run: bash, sh, console, python; shown: the others)"
        )


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_relative_links_resolve(page: Path) -> None:
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
        if "://" in target or target.startswith("mailto:"):
            continue
        assert (page.parent / target).exists(), f"{_name(page)}: link to {target} resolves nowhere"


RUNNABLE = [p for p in PAGES if any(b.lang in RUN for b in snippets.parse(p))]
# pages run this many at a time (each has its own server and home; most of a page's time is
# spent waiting on its processes)
AT_ONCE = 3


@pytest.fixture(scope="module")
def sessions(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[Path, snippets.Page | BaseException]:
    """Every selected page's session, the pages run AT_ONCE at a time: its Page, or what it
    raised."""
    chosen = [
        item.callspec.params["page"]
        for item in request.session.items
        if getattr(item, "originalname", "") == "test_the_page_runs"
    ]
    with ThreadPoolExecutor(max_workers=AT_ONCE) as pool:
        futures = {
            p: pool.submit(snippets.run_page, p, tmp_path_factory.mktemp(p.stem)) for p in chosen
        }
        return {p: f.exception() or f.result() for p, f in futures.items()}


@pytest.mark.slow
@pytest.mark.timeout(900)  # the first one waits for all the pages
@pytest.mark.parametrize("page", RUNNABLE, ids=_name)
def test_the_page_runs(page: Path, sessions: dict[Path, snippets.Page | BaseException]) -> None:
    session = sessions[page]
    if isinstance(session, BaseException):
        raise session
    out = "".join(session.output)
    at = 0
    for promise in PROMISED.get(_name(page), []):
        found = re.compile(promise, re.M).search(out, at)
        assert found is not None, f"{_name(page)} promises /{promise}/ after offset {at}:\n{out}"
        at = found.end()
    for never in NEVER.get(_name(page), []):
        assert re.search(never, out) is None, f"{_name(page)} shows /{never}/:\n{out}"


def test_the_lists_name_pages() -> None:
    for name in [*PROMISED, *NEVER]:
        assert (ROOT / name).exists(), name
