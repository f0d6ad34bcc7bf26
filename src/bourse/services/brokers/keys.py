"""API key renewal (MEXC advertises "API Key renewal"; it has no public API).

Renewing keeps the access key, so a key bound to a broker stays bound. It can:

* extend the expiry: a key without an IP whitelist gets at most ``ttl_ms`` (90 days, MEXC's
  rule) from now; a whitelisted key may be renewed to never expire;
* rotate the secret: a new secret is returned once; the old one stops working at once.

An expired key is renewed by its owner through another key, the web or the CLI: the API never
lets a key renew itself (``renew_via_api``), or a stolen no-IP key could live forever.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from bourse.domain.brokers import NotKeyOwner
from bourse.domain.errors import InvalidParameter
from bourse.services.apikeys import NO_IP_TTL_MS, ApiKeys, split_csv

_UNSET = object()


@dataclass(frozen=True, slots=True)
class Renewal:
    api_key: str
    expires: int | None
    secret: str | None  # the new secret when rotated (shown once), else None


def renew_key(
    keys: ApiKeys,
    api_key: str,
    account_id: int,
    now_ms: int,
    *,
    expires: int | None | object = _UNSET,
    rotate_secret: bool = False,
    ttl_ms: int = NO_IP_TTL_MS,
) -> Renewal:
    """Renew ``api_key`` of ``account_id``; see the module docstring for the rules.

    ``expires`` left out: ``now + ttl_ms`` for a key without IPs, never for one with IPs.
    """
    new_exp: int | None = None
    secret = None

    def decide(row: Any | None) -> dict[str, Any]:
        nonlocal new_exp, secret
        if row is None or bool(row.revoked) or int(row.account_id) != account_id:
            raise NotKeyOwner("the API key does not exist or is not yours")
        has_ip = bool(split_csv(row.ip_whitelist))
        limit = None if has_ip else now_ms + ttl_ms
        if expires is _UNSET:
            new_exp = limit
        else:
            new_exp = expires  # type: ignore[assignment]
            if new_exp is not None and new_exp <= now_ms:
                raise InvalidParameter("expireTime must be in the future")
            if limit is not None and (new_exp is None or new_exp > limit):
                raise InvalidParameter(
                    f"a key without an IP whitelist can be renewed for at most {ttl_ms // 86_400_000} days"
                )
        values: dict[str, Any] = {"expires": new_exp}
        if rotate_secret:
            secret = secrets.token_hex(16)
            values["secret_enc"] = keys.encrypt(secret)
        return values

    keys.repository.change(api_key, decide)
    keys.forget(api_key)
    return Renewal(api_key, new_exp, secret)
