"""Exact money: assets, integer smallest units, and the one parser/formatter for decimal strings.

Every amount inside Bourse is an ``int`` counted in some fixed scale (10**-scale of a unit).
Decimal strings from the wire become integers here and integers become strings here; nothing
else converts. There is no float anywhere in the money path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from bourse.domain.errors import AmountOutOfRange, InvalidParameter, PrecisionError

#: Largest amount we accept in any scale: fits a signed 64-bit column in SQLite and PostgreSQL.
MAX_UNITS = 2**63 - 1

_POW10: list[int] = [10**i for i in range(40)]

#: a plain decimal number in ASCII (Python's Decimal would also take "1_000" and other scripts'
#: digits, which no client means to send)
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
#: the common shape, parsed without ``Decimal``: at most 31 whole digits, so never "too large"
#: by magnitude before the ``MAX_UNITS`` check (as ``Decimal.adjusted() > 30`` would say)
_PLAIN = re.compile(r"([0-9]{1,31})(?:\.([0-9]*))?")


@dataclass(frozen=True, slots=True)
class Asset:
    """A coin or token; balances of it are integers in units of 10**-scale."""

    code: str
    scale: int
    name: str = ""


def to_units(value: str | Decimal | int, scale: int, *, field: str = "amount") -> int:
    """Parse a decimal string into integer units of 10**-scale, exactly.

    Refuses non-numbers, NaN/Infinity, exponents that hide huge values, negative numbers and
    anything with more decimals than ``scale`` (no silent rounding).
    """
    if type(value) is str and len(value) <= 64 and scale < len(_POW10):
        plain = _PLAIN.fullmatch(value)
        if plain is not None:  # digits[.digits]: the same answer in int arithmetic, 2x faster
            whole, frac = plain.group(1), (plain.group(2) or "").rstrip("0")
            if len(frac) > scale:
                raise PrecisionError(f"{field} has too many decimals (at most {scale})")
            plain_units = int(whole) * _POW10[scale]
            if frac:
                plain_units += int(frac) * _POW10[scale - len(frac)]
            if plain_units > MAX_UNITS:
                raise AmountOutOfRange(f"{field} is too large")
            return plain_units
    if isinstance(value, int) and not isinstance(value, bool):
        d = Decimal(value)
    elif isinstance(value, Decimal):
        d = value
    else:
        text = str(value).strip()
        if not text or len(text) > 64 or not _NUMBER.fullmatch(text):
            raise InvalidParameter(f"{field} is not a valid number")
        try:
            d = Decimal(text)
        except InvalidOperation:  # pragma: no cover - the pattern admits only valid numbers
            raise InvalidParameter(f"{field} is not a valid number") from None
    if not d.is_finite():
        raise InvalidParameter(f"{field} is not a valid number")
    if d < 0:
        raise AmountOutOfRange(f"{field} cannot be negative")
    if d.adjusted() > 30:
        raise AmountOutOfRange(f"{field} is too large")
    # exact integer arithmetic on the digits (Decimal.scaleb would round to 28 digits)
    _, digits, exponent = d.as_tuple()
    coefficient = int("".join(map(str, digits))) if digits else 0
    shift = int(exponent) + scale
    units: int  # (int ** int is typed Any: the exponent could be negative)
    if shift >= 0:
        units = coefficient * 10**shift
    elif coefficient == 0:
        units = 0
    elif -shift > len(digits):
        raise PrecisionError(f"{field} has too many decimals (at most {scale})")
    else:
        units, rest = divmod(coefficient, 10**-shift)
        if rest:
            raise PrecisionError(f"{field} has too many decimals (at most {scale})")
    if units > MAX_UNITS:
        raise AmountOutOfRange(f"{field} is too large")
    return units


def format_units(units: int, scale: int) -> str:
    """Format integer units as a plain decimal string without trailing zeros ("0.1", "12")."""
    if scale == 0:
        return str(units)
    neg = units < 0
    s = str(-units if neg else units).rjust(scale + 1, "0")
    whole, frac = s[:-scale], s[-scale:].rstrip("0")
    out = f"{whole}.{frac}" if frac else whole
    return f"-{out}" if neg else out


def pow10(n: int) -> int:
    """10**n from a table (n >= 0)."""
    return _POW10[n]
