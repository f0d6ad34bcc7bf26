"""The server's logs: one line per event, as JSON (for a log pipeline) or text (for a person).

``log_config(fmt, level)`` is a ``logging.config.dictConfig`` for uvicorn (``bourse serve
--log-format json|text``) covering uvicorn's own loggers, its access log and Bourse's
(``bourse.*``). Every record carries the request id of the request it was logged for
(``engine.trace``; empty for background work), so an access line, a warning of the engine
handling that request and its ``X-Request-Id`` answer can be joined.

A JSON line: ``{"ts": "2026-12-03T08:00:00.123Z", "level": "info", "logger": "uvicorn.access",
"msg": "...", "request_id": "..."}``, plus ``client``, ``method``, ``path``, ``status`` on
access lines and ``exc`` (the traceback) when there is one.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from uvicorn.logging import DefaultFormatter

from bourse.engine.trace import current

FORMATS = ("json", "text")


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` (the current request's, else empty) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current.get().request_id
        return True


class TextFormatter(DefaultFormatter):
    """uvicorn's look; a line logged for a request ends with its id, as an access line does
    (before the traceback, if there is one)."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        line = super().formatMessage(record)
        request_id = getattr(record, "request_id", "")
        return f"{line} {request_id}" if request_id else line


class JsonFormatter(logging.Formatter):
    """One JSON object per record (see the module docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        out: dict[str, Any] = {
            "ts": f"{ts}.{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        args = record.args
        if record.name == "uvicorn.access" and isinstance(args, tuple) and len(args) == 5:
            client, method, path, _version, status = args
            out["msg"] = f"{method} {path} {status}"
            out.update(client=client, method=method, path=path, status=status)
        else:
            out["msg"] = record.getMessage()
        out["request_id"] = getattr(record, "request_id", "")
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, separators=(",", ":"))


def log_config(fmt: str, level: str = "info") -> dict[str, Any]:
    """The ``dictConfig`` of ``bourse serve --log-format fmt --log-level level``."""
    if fmt not in FORMATS:
        raise ValueError(f"{fmt!r}: expected json or text")
    lvl = level.upper()
    if fmt == "json":
        formatters: dict[str, Any] = {
            "default": {"()": JsonFormatter},
            "access": {"()": JsonFormatter},
        }
    else:  # uvicorn's own look, with the request id on access lines and Bourse's lines
        formatters = {
            "default": {"()": TextFormatter, "fmt": "%(levelprefix)s %(name)s: %(message)s"},
            "access": {
                "()": "uvicorn.logging.AccessFormatter",
                "fmt": '%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s '
                "%(request_id)s",
            },
        }
    handler = {"class": "logging.StreamHandler", "filters": ["request_id"]}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": formatters,
        "handlers": {
            "default": {**handler, "formatter": "default", "stream": "ext://sys.stderr"},
            "access": {**handler, "formatter": "access", "stream": "ext://sys.stdout"},
        },
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": lvl, "propagate": False},
            "uvicorn.error": {"level": lvl},
            "uvicorn.access": {"handlers": ["access"], "level": lvl, "propagate": False},
            "bourse": {"handlers": ["default"], "level": lvl, "propagate": False},
        },
    }
