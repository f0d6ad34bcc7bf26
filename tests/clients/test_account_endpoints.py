"""Account endpoints through stock clients, unmodified: pymexc's own methods and ccxt's implicit
API methods (``spotPrivateGetUid`` ...). MEXC's official SDK has no method for any of them (its
generic ``signRequest`` hands back the raw HTTP response object, not the JSON)."""

from __future__ import annotations

from typing import Any

import pymexc


def pymexc_client(live_server: Any, role: str = "user") -> Any:
    creds = live_server.credentials[role]
    spot = pymexc.spot.HTTP(api_key=creds["api_key"], api_secret=creds["secret"])
    spot.base_url = live_server.url
    return spot


def test_uid(live_server) -> None:  # type: ignore[no-untyped-def]
    uid = str(live_server.accounts["user"])
    assert pymexc_client(live_server).get_uid() == {"uid": uid}
    assert live_server.mexc().spotPrivateGetUid() == {"uid": uid}
