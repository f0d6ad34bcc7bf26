"""An operation's parameters as its signature declares them: JSON values checked (and a whole
number sent as text read) before the operation runs.

A value of the wrong type could never succeed, so it is refused as such (400, ``account:
expected a whole number, got 'abc'``) rather than reaching the operation, where ``"abc"`` would
only name no account (404). The kinds are those of the registry: int, str, bool, lists of
strings, each possibly optional. Text must be storable as it is (``domain.text``): a NUL or a
lone surrogate (from a JSON escape, or a command line's bytes that are not UTF-8) would fail
the engine's whole batch at its commit, with every other command in it.
"""

from __future__ import annotations

import functools
import inspect
import json
import re
import types
import typing
from collections.abc import Callable
from typing import Any

from bourse.domain.text import storable

#: a whole number as text (``"105"``); its range is checked once read
_WHOLE = re.compile(r"[+-]?\d{1,40}")
#: the bound of every whole-number parameter (ids and counts are 64-bit in the database)
LIMIT = 2**63
#: the most of a refused value a message shows
SHOWN = 40


class ParamError(ValueError):
    """A parameter's value is not of its declared type; ``str(exc)`` says which and why."""


@functools.cache
def kinds(fn: Callable[..., Any]) -> dict[str, Any]:
    """The declared type of each keyword-only parameter of ``fn``."""
    hints = typing.get_type_hints(fn)
    return {
        name: hints.get(name, Any)
        for name, p in inspect.signature(fn).parameters.items()
        if p.kind is p.KEYWORD_ONLY
    }


def shown(value: Any) -> str:
    """``value`` as a message quotes it: ``'abc'``, ``1.5``, ``null``, ``[1]``; cut when long."""
    text = repr(value) if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= SHOWN else text[: SHOWN - 3] + "..."


def coerce(name: str, value: Any, kind: Any) -> Any:
    """``value`` as the parameter ``name`` of type ``kind`` takes it; ``ParamError`` when it
    cannot be (see the module docstring)."""
    args = typing.get_args(kind)
    if typing.get_origin(kind) in (typing.Union, types.UnionType) and type(None) in args:
        if value is None:
            return None
        rest = [a for a in args if a is not type(None)]
        kind = rest[0] if len(rest) == 1 else Any
    if kind is int:
        return _whole(name, value)
    if kind is bool:
        if isinstance(value, bool):
            return value
        raise ParamError(f"{name}: expected true or false, got {shown(value)}")
    if kind is str:
        if isinstance(value, str):
            return _text(name, value)
        if isinstance(value, int) and not isinstance(value, bool):  # a tx reference 123
            return str(value)
        raise ParamError(f"{name}: expected a string, got {shown(value)}")
    if typing.get_origin(kind) is list and typing.get_args(kind) == (str,):
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return [_text(name, v) for v in value]
        raise ParamError(f"{name}: expected a list of strings, got {shown(value)}")
    _texts(name, value)
    return value


def _text(name: str, value: str) -> str:
    if not storable(value):
        raise ParamError(f"{name}: holds a NUL character or text that is not UTF-8")
    return value


def _texts(name: str, value: Any) -> None:
    """Every string in a JSON value of an undeclared kind (keys too) storable."""
    if isinstance(value, str):
        _text(name, value)
    elif isinstance(value, list):
        for v in value:
            _texts(name, v)
    elif isinstance(value, dict):
        for k, v in value.items():
            _texts(name, k)
            _texts(name, v)


def _whole(name: str, value: Any) -> int:
    if isinstance(value, str) and _WHOLE.fullmatch(value.strip()):
        number = int(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        raise ParamError(f"{name}: expected a whole number, got {shown(value)}")
    if not -LIMIT <= number < LIMIT:
        raise ParamError(f"{name}: {shown(number)} is out of range")
    return number
