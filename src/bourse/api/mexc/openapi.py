"""The OpenAPI 3 document of every endpoint we serve, built from the endpoint declarations.

Parameters are documented in the query string (where MEXC clients put them; POST/DELETE
bodies may carry them too). SIGNED endpoints take ``timestamp``, ``recvWindow`` and
``signature`` as well and the ``X-MEXC-APIKEY`` header. Errors are ``{"code","msg"}``.
"""

from __future__ import annotations

from typing import Any

from bourse.api.mexc import schemas as s
from bourse.api.mexc.context import Endpoint
from bourse.api.mexc.openapi_links import LINKS, operation_id
from bourse.api.mexc.params import INT64_MAX, P


def _param_schema(p: P) -> dict[str, Any]:
    if p.kind == "int":
        out: dict[str, Any] = {"type": "integer", "format": "int64"}
        out["minimum"] = p.minimum if p.minimum is not None else -INT64_MAX
        out["maximum"] = p.maximum if p.maximum is not None else INT64_MAX
        return out
    if p.kind == "decimal":
        return {"type": "string", "pattern": r"^[0-9]{1,20}(\.[0-9]{1,20})?$"}
    if p.kind == "enum":
        return {"type": "string", "enum": list(p.enum)}
    if p.kind == "symbol":
        return {"type": "string", "pattern": "^[A-Za-z0-9_]{1,32}$"}
    if p.kind == "symbols":
        return {"type": "string", "pattern": "^[A-Za-z0-9_]{1,32}(,[A-Za-z0-9_]{1,32}){0,4}$"}
    if p.kind == "client_id":
        return {"type": "string", "pattern": r"^[A-Za-z0-9_\-.:/@#]{1,64}$"}
    if p.kind == "json":
        return {"type": "string", "description": "JSON text"}
    return {"type": "string", "maxLength": 256}


def _parameter(p: P) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": p.name,
        "in": "query",
        "required": p.required,
        "schema": _param_schema(p),
    }
    if p.description:
        out["description"] = p.description
    return out


_SIGNED = [
    {
        "name": "timestamp",
        "in": "query",
        "required": True,
        "schema": {"type": "integer", "format": "int64", "minimum": 0, "maximum": INT64_MAX},
        "description": "ms since the epoch",
    },
    {
        "name": "recvWindow",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 1, "maximum": 60000},
    },
    {
        "name": "signature",
        "in": "query",
        "required": True,
        "schema": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "description": "hex HMAC-SHA256 of the query string + body (without signature)",
    },
]

_JSON_ERROR = {"application/json": {"schema": s.ERROR}}


def build(endpoints: list[Endpoint], server_url: str | None = None) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for ep in endpoints:
        params = [_parameter(p) for p in ep.params]
        op: dict[str, Any] = {
            "operationId": operation_id(ep.method, ep.path),
            "summary": ep.summary or ep.path,
            "parameters": params + (list(_SIGNED) if ep.signed else []),
            "responses": {
                "200": {
                    "description": "OK",
                    "content": {"application/json": {"schema": ep.response or {}}},
                },
                "400": {"description": "Invalid request", "content": _JSON_ERROR},
                "429": {
                    "description": "Rate limited",
                    "headers": {"Retry-After": {"schema": {"type": "integer"}}},
                    "content": _JSON_ERROR,
                },
                "default": {"description": "MEXC error", "content": _JSON_ERROR},
            },
        }
        links = {
            f"{m.capitalize()}{p.replace('/api/v3', '').replace('/', '_')}": {
                "operationId": operation_id(m, p),
                "parameters": {f"query.{k}": f"$response.body#{v}" for k, v in args.items()},
            }
            for m, p, args in LINKS.get((ep.method, ep.path), [])
        }
        if links:
            op["responses"]["200"]["links"] = links
        if ep.signed:
            op["security"] = [{"ApiKey": []}]
            op["responses"]["401"] = {
                "description": "Authentication or permission error",
                "content": _JSON_ERROR,
            }
            if ep.permission:
                op["description"] = f"SIGNED; permission {ep.permission}."
            else:
                op["description"] = "SIGNED; any valid API key."
        paths.setdefault(ep.path, {})[ep.method.lower()] = op
    doc: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {
            "title": "Bourse: MEXC Spot V3 compatible API",
            "version": "1.0.0",
            "description": "Wire-compatible with MEXC Spot V3. Errors are {code, msg}.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "ApiKey": {"type": "apiKey", "in": "header", "name": "X-MEXC-APIKEY"}
            }
        },
    }
    if server_url:
        doc["servers"] = [{"url": server_url}]
    return doc
