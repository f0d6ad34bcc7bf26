"""Which text a client sent can be stored as it is (``bourse.domain.text``)."""

from __future__ import annotations

import pytest

from bourse.domain.text import storable, storable_encoded, storable_fields


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("", True),
        ("plain ascii", True),
        ("café ∑ 😀 \ufffd", True),
        ("a\x00b", False),
        ("\x00", False),
        ("lone \ud800 surrogate", False),
        ("\udfff", False),
    ],
)
def test_storable(text: str, ok: bool) -> None:
    assert storable(text) is ok


@pytest.mark.parametrize(
    ("raw", "ok"),
    [
        (b"", True),
        (b"a=1&b=two+words", True),
        (b"a=caf%C3%A9&b=%F0%9F%98%80", True),
        ("a=café".encode(), True),  # raw UTF-8, not percent-encoded
        (b"a=%00", False),
        (b"a=\x00", False),
        (b"%00=1", False),
        (b"a=%FF", False),
        (b"a=\xff", False),
        (b"a=%ED%A0%80", False),  # an encoded surrogate is not UTF-8
        (b"a=%C3&b=%A9", False),  # each half alone is not UTF-8, whatever the other holds
        (b"a=%2", True),  # a stray % is a character
    ],
)
def test_storable_encoded(raw: bytes, ok: bool) -> None:
    assert storable_encoded(raw) is ok


def test_storable_fields_checks_every_name_and_every_text_value() -> None:
    upload = object()  # a file's value is not text: only its field's name is checked
    assert storable_fields([("a", "1"), ("b", "café"), ("file", upload)])
    assert storable_fields([])
    assert not storable_fields([("a", "1"), ("b", "x\x00")])
    assert not storable_fields([("a\x00", "1")])
    assert not storable_fields([("a", "\ud800")])
    assert not storable_fields([("f\x00", upload)])
