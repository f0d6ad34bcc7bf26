"""MEXC signature rules (reference section 2.1), pure functions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bourse.api.mexc.auth import broker_query
from bourse.api.mexc.signing import sign, strip_request, strip_signature, verify

SECRET = "45d0b3c26f2644f19bfb98b07741b2f5"
QUERY = (
    "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=11&recvWindow=5000&timestamp=1644489390087"
)


def test_doc_example_2_vector() -> None:
    expected = "fd3e4e8543c5188531eb7279d68ae7d26a573d0fc5ab0d18eb692451654d837a"
    assert sign(SECRET, QUERY) == expected


def test_query_plus_body_is_joined_without_separator() -> None:
    query = b"symbol=BTCUSDT&side=BUY&type=LIMIT"
    body = b"quantity=1&price=11&recvWindow=5000&timestamp=1644489390087"
    q, b, sigs = strip_request(query, body, body_is_form=True)
    payload = q + b  # what MEXC's rule signs
    assert (
        payload
        == b"symbol=BTCUSDT&side=BUY&type=LIMITquantity=1&price=11&recvWindow=5000&timestamp=1644489390087"
    )
    assert sigs == []
    assert (
        sign(SECRET, payload) == "d1a676610ceb39174c8039b3f548357994b2a34139a8addd33baadba65684592"
    )


def test_signature_is_stripped_from_query_and_form_body() -> None:
    raw, sigs = strip_signature(QUERY.encode() + b"&signature=abc")
    assert raw == QUERY.encode() and sigs == [b"abc"]
    q, b, sigs = strip_request(b"a=1", b"b=2&signature=def", body_is_form=True)
    assert q + b == b"a=1b=2" and sigs == [b"def"]
    # a JSON body is signed as sent; a "signature=" inside it is not cut out
    q, b, sigs = strip_request(b"a=1&signature=x", b'{"b":"signature=y"}', body_is_form=False)
    assert q + b == b'a=1{"b":"signature=y"}' and sigs == [b"x"]


def test_verify_is_exact_and_case_insensitive_hex() -> None:
    good = sign(SECRET, QUERY)
    assert verify(SECRET, QUERY.encode(), good.encode())
    assert verify(SECRET, QUERY.encode(), good.upper().encode())
    assert not verify(SECRET, QUERY.encode() + b"&x=1", good.encode())
    assert not verify(SECRET, QUERY.encode(), b"\xff" * 64)
    # the wrong value printed as the doc's example 1
    assert not verify(SECRET, QUERY.encode(), b"323c96ab")


def test_python_booleans_signed_lowercase_on_the_wire() -> None:
    """pymexc signs ``mxDeductEnable=True`` and requests sends ``true``: the same value
    verifies; the other boolean, or another parameter changed, does not."""
    from bourse.api.mexc.signing import verify_request

    secret = "s3cret"
    sig = sign(secret, "mxDeductEnable=True&recvWindow=5000&timestamp=1").encode()
    wire = b"mxDeductEnable=true&recvWindow=5000&timestamp=1&signature=" + sig
    assert verify_request(secret, wire, b"", False, sig)
    for changed in (b"mxDeductEnable=false", b"mxDeductEnable=yes"):
        other = wire.replace(b"mxDeductEnable=true", changed)
        assert not verify_request(secret, other, b"", False, sig)
    assert not verify_request(secret, wire.replace(b"5000", b"6000"), b"", False, sig)


def _strip_reference(raw: bytes) -> tuple[bytes, list[bytes]]:
    kept = [p for p in raw.split(b"&") if not p.startswith(b"signature=")]
    found = [p[len(b"signature=") :] for p in raw.split(b"&") if p.startswith(b"signature=")]
    return b"&".join(kept), found


@given(st.lists(st.sampled_from([b"a=1", b"", b"signature=", b"signature=ab", b"x", b"signature"])))
def test_strip_signature_wherever_it_stands(parts: list[bytes]) -> None:
    # the one-signature-last shortcut and the general split answer alike
    raw = b"&".join(parts)
    assert strip_signature(raw) == _strip_reference(raw)
    assert strip_signature(raw + b"&signature=f0") == _strip_reference(raw + b"&signature=f0")


# --- what a signature covers: the attacks of tests/api/test_signature_coverage.py, bytes only ---

TS = "1644489390087"
VICTIM = (
    "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=0.001&price=20050"
    f"&newClientOrderId=victim1&recvWindow=60000&timestamp={TS}"
)


def _accepts(query: str, body: bytes = b"", signed: str = VICTIM, form: bool = True) -> bool:
    from bourse.api.mexc.signing import verify_request

    sig = sign(SECRET, signed).encode()
    wire = query.encode() + b"&signature=" + sig
    return verify_request(SECRET, wire, body, form and bool(body), sig)


@pytest.mark.parametrize(
    ("query", "taken"),
    [
        (b"timestamp=1700000000000&recvWindow=5000", True),  # ccxt's broker writes
        (b"timestamp=1700000000000", True),
        (b"recvWindow=5000&timestamp=1700000000000", True),
        (b"", True),  # no timestamp: 700004 from the time window's check
        (b"symbol=BTCUSDT&timestamp=1700000000000", False),  # a captured openOrders
        (b"timestamp=1700000000000&recvWindow=5000&symbol=BTCUSDT", False),
        (b"timestamp=1&timestamp=2", False),
        (b"timestamp=1&recvWindow=5000&", False),
        (b"timestamp=1&&recvWindow=5000", False),
        (b"timestamp=%31", False),
        (b"timestamp=1&recvWindow=", False),
        (b"Timestamp=1", False),
        (b"timestamp", False),
    ],
)
def test_a_body_outside_the_signature_comes_with_a_time_window_alone(
    query: bytes, taken: bool
) -> None:
    assert broker_query(query) is taken


def test_a_json_body_is_inside_the_signature() -> None:
    """The query's signature does not vouch for a JSON body sent with it (F1): neither the
    query alone nor any re-encoding of it, however the body is spelled."""
    query = f"recvWindow=60000&timestamp={TS}"
    order = b'{"symbol":"BTCUSDT","side":"BUY","type":"LIMIT","quantity":"1","price":"1"}'
    assert _accepts(query, signed=query)  # the GET it was captured from
    assert not _accepts(query, order, signed=query, form=False)
    assert not _accepts(query.replace("60000", "6%30000"), order, signed=query, form=False)
    # an empty query signs "": that signature vouches for nothing either
    assert not _accepts("", b'{"timestamp":' + TS.encode() + b"}", signed="", form=False)
    # a JSON body signed as MEXC says (query + body as sent) verifies
    assert _accepts(query, order, signed=query + order.decode(), form=False)


def test_resegmented_query_does_not_verify() -> None:
    """F2: percent-encoding the ``=`` and ``&`` around a client id folds it into a parameter
    name; the unencoded candidate must not re-join it into the bytes the victim signed."""
    assert _accepts(VICTIM)
    folded = VICTIM.replace(
        "newClientOrderId=victim1&recvWindow", "newClientOrderId%3Dvictim1%26recvWindow"
    )
    assert folded != VICTIM and not _accepts(folded)
    # a value that swallows the next pair
    swallowed = VICTIM.replace("price=20050&newClientOrderId", "price=20050%26newClientOrderId")
    assert not _accepts(swallowed)
    # '+' and '%' unencoded: a space or an escape signed, another value sent
    assert not _accepts("note=a%2Bb&timestamp=1", signed="note=a+b&timestamp=1")
    assert not _accepts("note=%2541&timestamp=1", signed="note=%41&timestamp=1")
    # what clients do still verifies: '%20' signed, '+' sent; '/' and ',' raw or escaped
    assert _accepts("note=a+b&timestamp=1", signed="note=a%20b&timestamp=1")
    assert _accepts("ids=a%2Cb%2Fc&timestamp=1", signed="ids=a,b/c&timestamp=1")
    assert _accepts("ids=a,b/c&timestamp=1", signed="ids=a%2Cb%2Fc&timestamp=1")
    assert _accepts("tag=x%3Dy&timestamp=1", signed="tag=x=y&timestamp=1")  # '=' in a value


def test_query_and_body_split_only_between_pairs() -> None:
    """MEXC joins query and body with nothing between them, so a captured request could be
    split again elsewhere: inside a pair, that pair becomes two (a client id cut short, a price
    cut short). A split is accepted where both sides end and begin with a whole ``name=``."""
    cut = VICTIM.index("victim1") + len("vic")
    assert not _accepts(VICTIM[:cut], VICTIM[cut:].encode())  # newClientOrderId=vic, tim1=
    cut = VICTIM.index("newClientOrderId") + len("newClientOrderId")
    assert not _accepts(VICTIM[:cut], VICTIM[cut:].encode())  # newClientOrderId dropped
    cut = VICTIM.index("price=") + len("price=2005")
    assert not _accepts(VICTIM[:cut], VICTIM[cut:].encode())  # price=2005
    cut = VICTIM.index("price=")
    assert _accepts(VICTIM[:cut], VICTIM[cut:].encode())  # MEXC's example 3: between pairs
    assert _accepts("", VICTIM.encode())  # all in the body
    assert _accepts(VICTIM, b"")  # all in the query


_CHARS = "ab12=&%+ /"


def _respelled(draw: st.DrawFn, text: str) -> str:
    """``text`` with any of its characters percent-encoded (either case), spaces as '+'."""
    out = []
    for ch in text:
        how = draw(st.sampled_from(("as is", "upper", "lower", "plus")))
        if how == "plus" and ch == " ":
            out.append("+")
        elif how in ("upper", "lower"):
            code = "".join(f"%{b:02X}" for b in ch.encode())
            out.append(code if how == "upper" else code.lower())
        else:
            out.append(ch)
    return "".join(out)


@st.composite
def _resent(draw: st.DrawFn) -> tuple[str, str, int]:
    signed = draw(st.text(_CHARS, max_size=14))
    return signed, _respelled(draw, signed), draw(st.integers(0, 40))


def _params(text: str) -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl

    return parse_qsl(text, keep_blank_values=True)


@given(_resent())
def test_an_accepted_request_means_what_was_signed(case: tuple[str, str, int]) -> None:
    """Whatever bytes were signed, and however a copy respells and splits them between query
    and form body: if the copy verifies, the server reads exactly the parameters the signed
    bytes say (same names, values, order). A value holding a raw '=' is the one exception of a
    split (MEXC's rule cannot tell ``a=x`` + ``y=z`` from ``a=xy=z``): no client sends one."""
    signed, wire, at = case
    at = min(at, len(wire))
    query, body = wire[:at], wire[at:]
    if body.lstrip()[:1] in ("{", "["):
        return
    if not _accepts(query, body.encode(), signed=signed):
        return
    got = _params(query) + _params(body)
    if body and "=" in "".join(v for _, v in _params(signed)):
        return  # the documented exception, checked by test_query_and_body_split_only_between_pairs
    assert got == _params(signed)


def test_query_and_form_body_are_stripped_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """``verify_request`` takes the signature out of the query and of the form body once each,
    whichever rule decides (MEXC's raw rule, a re-encoding, a refusal after trying them all),
    and not at all when the caller stripped them already (``bourse.api.mexc.auth``)."""
    from bourse.api.mexc import signing

    seen: list[bytes] = []
    strip = signing.strip_signature

    def counted(raw: bytes) -> tuple[bytes, list[bytes]]:
        seen.append(raw)
        return strip(raw)

    monkeypatch.setattr(signing, "strip_signature", counted)
    cut = VICTIM.index("price=")
    for signed, query, body, verifies in [
        (VICTIM, VICTIM[:cut], VICTIM[cut:], True),  # the raw rule
        ("ids=a,b/c&timestamp=1", "ids=a%2Cb%2Fc", "timestamp=1", True),  # a re-encoding
        (VICTIM, VICTIM[:cut], VICTIM[cut:].replace("20050", "20051"), False),  # every rule
        (VICTIM, VICTIM, "", True),  # a query alone
    ]:
        sig = sign(SECRET, signed).encode()
        wire = query.encode() + b"&signature=" + sig
        form = body.encode()
        seen.clear()
        assert signing.verify_request(SECRET, wire, form, bool(form), sig) is verifies
        assert seen == ([wire, form] if form else [wire]), (signed, seen)
        stripped = signing.strip_request(wire, form, bool(form))
        seen.clear()
        assert signing.verify_request(SECRET, wire, form, bool(form), sig, stripped) is verifies
        assert seen == []
