"""Reading a whole-number id (order, broker, UID, page) that a client typed or sent."""

from __future__ import annotations

#: digits of the largest id kept (ids are signed 64-bit integers in the store)
ID_DIGITS = 18


def whole_id(text: str, digits: int = ID_DIGITS) -> int | None:
    """``text`` as a non-negative int of at most ``digits`` ASCII digits, else ``None``.

    ``str.isdigit`` alone admits "²" and "١" (``int`` then fails or reads a different script)
    and any length (an id past 64 bits overflows the store; past 4300 digits ``int`` raises).
    """
    if not text or len(text) > digits or not (text.isascii() and text.isdigit()):
        return None
    return int(text)
