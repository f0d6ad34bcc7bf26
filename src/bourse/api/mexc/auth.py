"""Authentication of SIGNED requests, in MEXC's order of checks.

1. ``X-MEXC-APIKEY`` present (code 400 "api key required"), known and not revoked (10072),
   not expired (402);
2. the caller's IP is on the key's whitelist, if it has one (700006);
3. ``signature`` and ``timestamp`` present (700004), ``recvWindow`` at most 60000 (700005);
4. the HMAC matches one of the equivalent encodings of the parameters received, body
   included (700002; constant-time comparison, ``bourse.api.mexc.signing``);
5. ``timestamp < server + 1000`` and ``server - timestamp <= recvWindow`` (700003);
6. the key holds the endpoint's permission (700007).

The symbol whitelist (70011) is checked by the handlers, which know the symbol.

One exception to "body included": ccxt's ``broker`` API section signs only
``timestamp=..&recvWindow=..`` in the query of its POST/PUT/DELETE calls and sends their
parameters as a JSON body, which MEXC accepts. So the endpoints ccxt calls that way
(``BODY_OUTSIDE_SIGNATURE``, and only those) also take a JSON body next to a signature of the
query alone, when that query holds nothing but what ccxt puts there (``timestamp`` and
``recvWindow``, ``broker_query``): a signature of a query with any other parameter (a captured
``openOrders?symbol=..``) is 700002 there, as it would be for a body it does not cover. Such a
request reads ``timestamp`` and ``recvWindow`` from the signed query only (never from the
body), and its signature is good for one request: whoever saw it could send it again with
another body (``bourse.api.mexc.replay.claim``), and none that a read over the same time
window already showed (``replay.remember_read``).
"""

from __future__ import annotations

import re
from typing import NamedTuple

from bourse.api.mexc import errors as e
from bourse.api.mexc.errors import ApiError
from bourse.api.mexc.params import parse_int, query_params
from bourse.api.mexc.signing import strip_request, verify_query, verify_request
from bourse.services.apikeys import ApiKey, ApiKeys

DEFAULT_RECV_WINDOW = 5000
MAX_RECV_WINDOW = 60000
FUTURE_TOLERANCE_MS = 1000
#: parameters every signed endpoint takes on top of its own
SIGNED_PARAMS = ("timestamp", "recvWindow", "signature")

#: (method, path) of the endpoints that take a JSON body outside the signature: the
#: POST/PUT/DELETE calls of ccxt's ``broker`` API section (``'broker': {`` in ccxt/mexc.py)
#: that we serve (``tests/independent/test_ccxt.py`` derives the list from ccxt). Never an
#: order, a spot withdrawal or transfer, or the spot key management.
BODY_OUTSIDE_SIGNATURE = frozenset(
    {
        ("POST", "/api/v3/broker/sub-account/virtualSubAccount"),
        ("POST", "/api/v3/broker/sub-account/apiKey"),
        ("DELETE", "/api/v3/broker/sub-account/apiKey"),
        ("POST", "/api/v3/broker/sub-account/universalTransfer"),
        ("POST", "/api/v3/broker/sub-account/futures"),
        ("POST", "/api/v3/broker/capital/deposit/subAddress"),
        ("POST", "/api/v3/broker/capital/withdraw/apply"),
    }
)

#: one pair of the only query a body outside the signature may come with: ccxt's
#: ``urlencode({"timestamp": nonce, "recvWindow": n})`` (both integers), then its signature
_BROKER_PAIR = re.compile(rb"(timestamp|recvWindow)=[0-9]+")


class Signed(NamedTuple):
    """A request ``authenticate`` let through."""

    key: ApiKey
    #: stripped and lower-cased, as ``signing.verify`` compares it: the replay key's part
    #: (``bourse.api.mexc.replay``)
    signature: str
    #: whether the signature covers the body (False: one of ``BODY_OUTSIDE_SIGNATURE``)
    body_signed: bool
    #: the last ms the signature authenticates: its timestamp plus recvWindow
    until: int
    #: the signature covers the time window alone (``broker_query``'s query, no body inside
    #: it): what a read and a write with a body outside it may equally be signed over
    window_only: bool


def authenticate(
    keys: ApiKeys,
    api_key: str | None,
    ip: str,
    query: bytes,
    body: bytes,
    body_is_form: bool,
    params: dict[str, str],
    permission: str | None,
    now_ms: int,
    body_may_be_unsigned: bool = False,
) -> Signed:
    """The request's key after all checks and what its signature covers; raises ``ApiError``
    on the first failure. ``body_may_be_unsigned``: the endpoint is one of
    ``BODY_OUTSIDE_SIGNATURE``."""
    if not api_key:
        raise ApiError(e.API_KEY_REQUIRED, "api key required", 401)
    key = keys.lookup(api_key.strip())
    if key is None or key.revoked:
        raise ApiError(e.INVALID_KEY, "Api key info invalid", 401)
    if key.expired(now_ms):
        raise ApiError(e.KEY_EXPIRED, "API key expired, please apply again", 401)
    if not key.ip_allowed(ip):
        raise ApiError(e.IP_NOT_WHITELISTED, f"IP [{ip}] not in the whitelist", 401)

    stripped = strip_request(query, body, body_is_form)
    sigs = stripped[2]
    if len(sigs) != 1 or not sigs[0]:
        raise e.missing("signature", e.MANDATORY_PARAM)
    ts, recv_window = _time_window(params)  # refusals only: what counts is read once verified
    body_signed = True
    if not verify_request(key.secret, query, body, body_is_form, sigs[0], stripped):
        body_signed = False
        json_body = bool(body) and not body_is_form
        if not (
            body_may_be_unsigned
            and json_body
            and broker_query(stripped[0])
            and verify_query(key.secret, stripped, sigs[0])
        ):
            raise ApiError(e.BAD_SIGNATURE, "Signature for this request is not valid.", 401)
        # the body is outside the signature: the time window is the signed query's alone
        ts, recv_window = _time_window(query_params(query))
    if ts >= now_ms + FUTURE_TOLERANCE_MS or now_ms - ts > recv_window:
        raise ApiError(e.BAD_TIMESTAMP, "Timestamp for this request is outside of the recvWindow.")
    if permission is not None and permission not in key.permissions:
        raise ApiError(e.NO_PERMISSION, "No permission to access the endpoint.", 401)
    # as ``verify`` read it: blanks around it or a hex digit's case make no other request
    signature = sigs[0].strip().decode("ascii", "replace").lower()
    # what the signature covers is the time window alone: the signed query's, or the query
    # and a form body together (a read's query resent as a form body signs the same bytes)
    window_only = broker_query(stripped[0]) and (
        not body_signed or not stripped[1] or (body_is_form and broker_query(stripped[1]))
    )
    return Signed(key, signature, body_signed, ts + recv_window, window_only)


def broker_query(query: bytes) -> bool:
    """Whether ``query`` (without its signature) holds nothing but what ccxt's broker writes
    sign: ``timestamp`` and ``recvWindow``, each at most once, digits only, nothing else (no
    other parameter, no empty pair). Its signature is then of no other request than one sent
    in its query alone with exactly that time window (a GET of the key's account, say), which
    limits what a captured signature can be spent on here (docs/security.md). A missing
    ``timestamp`` is left to the time window's check (700004)."""
    if not query:
        return True
    names: list[bytes] = []
    for pair in query.split(b"&"):
        found = _BROKER_PAIR.fullmatch(pair)
        if found is None:
            return False
        names.append(found[1])
    return len(names) == len(set(names))


def _time_window(params: dict[str, str]) -> tuple[int, int]:
    """``timestamp`` (700004 when missing) and ``recvWindow`` (700005 above 60000) of
    ``params``."""
    ts_raw = params.get("timestamp")
    if not ts_raw:
        raise e.missing("timestamp", e.MANDATORY_PARAM)
    try:
        ts = parse_int("timestamp", ts_raw, 0)
    except ApiError:
        raise e.missing("timestamp", e.MANDATORY_PARAM) from None
    rw_raw = params.get("recvWindow")
    recv_window = DEFAULT_RECV_WINDOW
    if rw_raw:
        recv_window = parse_int("recvWindow", rw_raw, 1)
        if recv_window > MAX_RECV_WINDOW:
            raise ApiError(e.RECV_WINDOW_TOO_LARGE, "recvWindow must less than 60000")
    return ts, recv_window


def check_symbol(key: ApiKey | None, symbol: str) -> None:
    """70011 unless the key may trade ``symbol``."""
    if key is not None and not key.symbol_allowed(symbol):
        raise ApiError(e.SYMBOL_NOT_ALLOWED, "Pair user ban trade apikey.", 401)
