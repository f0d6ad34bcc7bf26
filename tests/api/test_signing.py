"""MEXC signature rules (reference section 2.1), pure functions."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bourse.api.mexc.signing import sign, signed_payload, strip_signature, verify

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
    payload, sigs = signed_payload(query, body, body_is_form=True)
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
    payload, sigs = signed_payload(b"a=1", b"b=2&signature=def", body_is_form=True)
    assert payload == b"a=1b=2" and sigs == [b"def"]
    # a JSON body is signed as sent; a "signature=" inside it is not cut out
    payload, sigs = signed_payload(b"a=1&signature=x", b'{"b":"signature=y"}', body_is_form=False)
    assert payload == b'a=1{"b":"signature=y"}' and sigs == [b"x"]


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
