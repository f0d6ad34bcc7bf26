"""money: the one parser (to_units) and formatter (format_units) of decimal amounts."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bourse.domain.errors import AmountOutOfRange, InvalidParameter, PrecisionError
from bourse.domain.money import MAX_UNITS, format_units, pow10, to_units


@pytest.mark.parametrize(
    ("text", "scale", "units"),
    [
        ("0", 8, 0),
        ("1", 8, 100_000_000),
        ("0.00000001", 8, 1),
        ("1.5", 2, 150),
        ("1.50", 2, 150),  # trailing zeros within the scale are fine
        ("1.500000000", 2, 150),  # ... and beyond it, as long as they are zeros
        ("  2.25 ", 2, 225),
        ("12", 0, 12),
        ("1e2", 0, 100),  # a small exponent is just another spelling
        ("1.5E1", 1, 150),
        ("92233720368.54775807", 8, MAX_UNITS),
    ],
)
def test_to_units_exact(text, scale, units):
    assert to_units(text, scale) == units


def test_to_units_accepts_int_and_decimal():
    assert to_units(3, 8) == 300_000_000
    assert to_units(Decimal("0.1"), 2) == 10
    with pytest.raises(InvalidParameter):
        to_units(True, 8)  # a bool is not an amount


@pytest.mark.parametrize("text", ["0.001", "1.234", "0.0000000001", "1e-3"])
def test_to_units_refuses_extra_decimals(text):
    with pytest.raises(PrecisionError):
        to_units(text, 2)


@pytest.mark.parametrize(
    "text", ["", " ", "abc", "1.2.3", "0x10", "NaN", "nan", "sNaN", "Infinity", "-Infinity", "inf"]
)
def test_to_units_refuses_non_numbers(text):
    with pytest.raises(InvalidParameter):
        to_units(text, 8)


def test_to_units_refuses_overlong_strings():
    with pytest.raises(InvalidParameter):
        to_units("1" + "0" * 70, 0)


@pytest.mark.parametrize("text", ["-1", "-0.01", "-1e2"])
def test_to_units_refuses_negatives(text):
    with pytest.raises(AmountOutOfRange):
        to_units(text, 8)


def test_negative_zero_is_zero():
    assert to_units("-0", 8) == 0


@pytest.mark.parametrize(
    "text", ["1e31", "1E+999999999", "9" * 40, "92233720368.54775808", "100000000000"]
)
def test_to_units_refuses_huge(text):
    with pytest.raises(AmountOutOfRange):
        to_units(text, 8)


def test_error_names_the_field():
    with pytest.raises(PrecisionError, match="quantity"):
        to_units("0.123", 2, field="quantity")


def test_to_units_never_rounds_long_inputs():
    with pytest.raises(PrecisionError):
        to_units("1.00000000000000000000000000001", 8)


def test_to_units_refuses_tiny_exponent():
    with pytest.raises(PrecisionError):
        to_units("1e-999999999", 8)


@pytest.mark.parametrize(
    ("units", "scale", "text"),
    [
        (0, 8, "0"),
        (1, 8, "0.00000001"),
        (100_000_000, 8, "1"),
        (150, 2, "1.5"),
        (123_456_789, 8, "1.23456789"),
        (-150, 2, "-1.5"),
        (-1, 8, "-0.00000001"),
        (12, 0, "12"),
        (10**30, 8, "1" + "0" * 22),
        (MAX_UNITS, 8, "92233720368.54775807"),
    ],
)
def test_format_units(units, scale, text):
    assert format_units(units, scale) == text


@given(st.integers(min_value=0, max_value=MAX_UNITS), st.integers(min_value=0, max_value=18))
def test_round_trip(units, scale):
    text = format_units(units, scale)
    assert "e" not in text.lower()
    assert to_units(text, scale) == units


def test_pow10():
    assert [pow10(i) for i in range(4)] == [1, 10, 100, 1000]
    assert pow10(30) == 10**30


def _outcome(text: str, scale: int) -> object:
    try:
        return to_units(text, scale, field="qty")
    except (InvalidParameter, PrecisionError, AmountOutOfRange) as exc:
        return type(exc), str(exc)


@given(
    st.from_regex(r"[0-9]{1,33}(\.[0-9]{0,45})?", fullmatch=True)
    | st.text(alphabet="0123456789.", max_size=70),
    st.integers(min_value=0, max_value=18),
)
def test_plain_fast_path_answers_as_decimal(text: str, scale: int) -> None:
    # a leading space takes the Decimal path (the text is stripped there): same value or error
    assert _outcome(text, scale) == _outcome(" " + text, scale)
