"""The wire form of engine commands, their results and their errors between a gateway and the
engine (``bus.gateway`` sends, ``bus.engine_server`` applies): tagged JSON.

``bus/codec.py`` writes committed events field by field in a fixed order; commands and results
are many more types (every ``engine.commands`` class, what each handler returns, every
``DomainError``), so this codec is generic instead: an object is its class's qualified name and
its fields (``__slots__`` along the class hierarchy, ``__mypyc_attrs__`` for a class compiled
by mypyc, or ``__dict__``), rebuilt without calling its constructor (a compiled class: through
it, ``bourse.native``). Only classes of ``bourse.domain`` and ``bourse.engine`` are ever
rebuilt, so a message cannot name an arbitrary class. Integers stay integers of any size (money is exact),
tuples, sets and dicts keep their kind (a dict's keys may be tuples).

A message is one JSON array: ``[FORMAT, kind, ...]``; ``FORMAT`` changes when the layout does,
and a process refuses a format it does not know (``codec.CodecError``).
"""

from __future__ import annotations

import enum
import hashlib
import importlib
import inspect
import json
import uuid
from typing import Any

from bourse.bus.codec import CodecError
from bourse.engine import commands as c
from bourse.engine.trace import Trace

FORMAT = 1
#: the only modules whose classes a message may name
_TRUSTED = ("bourse.domain.", "bourse.engine.")
_classes: dict[str, type] = {}


def _name(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _class(name: str) -> type:
    cls = _classes.get(name)
    if cls is not None:
        return cls
    module, _, qual = name.partition(":")
    if not module.startswith(_TRUSTED) or not qual or "." in qual:
        raise CodecError(f"{name!r} is not a Bourse domain or engine class")
    found = getattr(importlib.import_module(module), qual, None)
    if not isinstance(found, type) or found.__module__ != module:
        raise CodecError(f"no class {name!r}")
    _classes[name] = found
    return found


def _state(obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for cls in type(obj).__mro__:
        # a class compiled by mypyc (``bourse.native``) lists its fields in __mypyc_attrs__
        for slot in getattr(cls, "__slots__", ()) or getattr(cls, "__mypyc_attrs__", ()):
            if slot not in out and hasattr(obj, slot):
                out[slot] = getattr(obj, slot)
    if hasattr(obj, "__dict__"):
        out.update(vars(obj))
    return out


def _out(v: Any) -> Any:
    """``v`` as JSON-able data (see the module doc for the tags)."""
    if isinstance(v, enum.Enum):  # before str and int: a StrEnum is a str too
        return {"e": _name(type(v)), "v": v.value}
    if v is None or isinstance(v, bool | int | str | float):
        return v
    if isinstance(v, list):
        return [_out(x) for x in v]
    if isinstance(v, tuple) and not hasattr(v, "_fields"):
        return {"t": [_out(x) for x in v]}
    if isinstance(v, set | frozenset):
        return {"s": [_out(x) for x in v], "f": isinstance(v, frozenset)}
    if isinstance(v, dict):
        return {"d": [[_out(k), _out(x)] for k, x in v.items()]}
    if isinstance(v, BaseException):
        return {"x": _name(type(v)), "a": [_out(a) for a in v.args], "f": _out(_state(v))}
    if hasattr(v, "_fields"):  # a NamedTuple
        return {"n": _name(type(v)), "a": [_out(x) for x in v]}
    return {"o": _name(type(v)), "f": {k: _out(x) for k, x in _state(v).items()}}


def _in(v: Any) -> Any:
    """What ``_out`` wrote, rebuilt."""
    if isinstance(v, list):
        return [_in(x) for x in v]
    if not isinstance(v, dict):
        return v
    if "e" in v:
        return _class(v["e"])(v["v"])
    if "t" in v:
        return tuple(_in(x) for x in v["t"])
    if "s" in v:
        items = (_in(x) for x in v["s"])
        return frozenset(items) if v["f"] else set(items)
    if "d" in v:
        return {_in(k): _in(x) for k, x in v["d"]}
    if "n" in v:
        return _class(v["n"])(*(_in(x) for x in v["a"]))
    if "x" in v:
        cls = _class(v["x"])
        if not issubclass(cls, BaseException):
            raise CodecError(f"{v['x']} is not an error")
        exc = cls.__new__(cls)
        exc.args = tuple(_in(a) for a in v["a"])
        for k, x in _in(v["f"]).items():
            object.__setattr__(exc, k, x)
        return exc
    if "o" in v:
        cls = _class(v["o"])
        fields = {k: _in(x) for k, x in v["f"].items()}
        obj: Any
        if hasattr(cls, "__mypyc_attrs__"):
            # compiled by mypyc: object.__new__ refuses it, so its constructor builds it from
            # the fields its parameters name (the fields are then all set, as below)
            params = inspect.signature(cls).parameters
            obj = cls(**{k: fields[k] for k in params if k in fields})
        else:
            obj = object.__new__(cls)
        for k, x in fields.items():
            object.__setattr__(obj, k, x)
        return obj
    raise CodecError(f"untagged object {sorted(v)}")


def _dump(body: list[Any]) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def _load(data: bytes, kind: str) -> list[Any]:
    try:
        body = json.loads(data)
    except ValueError as exc:
        raise CodecError(f"not JSON: {exc}") from exc
    if not isinstance(body, list) or len(body) < 2 or body[0] != FORMAT or body[1] != kind:
        raise CodecError(f"not a Bourse {kind} of format {FORMAT}")
    return body


# --- commands ------------------------------------------------------------------------------------
def encode_command(command: c.Command, trace: Trace, deadline_ms: int) -> bytes:
    """``command`` with the request it serves (``trace``) and the time (ms) after which the
    engine must no longer apply it: the gateway has answered "try again" by then."""
    return _dump([FORMAT, "cmd", _out(command), trace.request_id, trace.origin, deadline_ms])


def decode_command(data: bytes) -> tuple[c.Command, Trace, int]:
    try:
        _, _, command, request_id, origin, deadline = _load(data, "cmd")
        cmd = _in(command)
    except CodecError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, ImportError) as exc:
        raise CodecError(f"undecodable command: {exc}") from exc
    if not isinstance(cmd, c.Command):
        raise CodecError(f"{type(cmd).__name__} is not an engine command")
    return cmd, Trace(request_id, origin), int(deadline)


def message_id(command: c.Command) -> str:
    """The command's ``Nats-Msg-Id``: the same for the same retried command, so the stream
    keeps one copy. A command a client may retry (it carries a client id or a signed request's
    replay key) is named by its content; any other gets a fresh id, sent again only by the
    gateway's own publish retries."""
    client_id = getattr(getattr(command, "request", command), "client_id", "") or ""
    if client_id or getattr(command, "replay", ""):
        digest = hashlib.sha256(_dump(_out(command))).hexdigest()[:40]
        return f"{type(command).__name__}:{digest}"
    return message_id_fresh()


def message_id_fresh() -> str:
    """A ``Nats-Msg-Id`` no other command has."""
    return uuid.uuid4().hex


# --- replies -------------------------------------------------------------------------------------
def encode_reply(result: Any, error: BaseException | None, commits: int) -> bytes:
    """The outcome of a command: its result or its error, and the store's commit count once it
    was committed (a gateway's read models wait until they hold that batch)."""
    if error is not None:
        return _dump([FORMAT, "err", _out(error), commits])
    return _dump([FORMAT, "ok", _out(result), commits])


def decode_reply(data: bytes) -> tuple[Any, BaseException | None, int]:
    try:
        body = json.loads(data)
        if not isinstance(body, list) or body[0] != FORMAT or body[1] not in ("ok", "err"):
            raise CodecError(f"not a Bourse reply of format {FORMAT}")
        value = _in(body[2])
        if body[1] == "err":
            if not isinstance(value, BaseException):
                raise CodecError("an error reply without an error")
            return None, value, int(body[3])
        return value, None, int(body[3])
    except CodecError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, ImportError) as exc:
        raise CodecError(f"undecodable reply: {exc}") from exc
