"""``brokers.*``: the operator's side of the broker program (applications, review, rebate
rates, key bindings, rebate accrual and settlement).

``brokers.settle`` pays what has accrued through ``Brokers.settle`` (accrue what the live
follower has not yet, then settle); change the service, not this module, to change settlement.
"""

from __future__ import annotations

import shlex
from typing import Any

from bourse.domain.brokers import BrokerStatus
from bourse.domain.fees import RATE_DENOM
from bourse.domain.money import format_units, to_units
from bourse.oauth.clients import (
    ClientError,
    check_redirect_uris,
    register_for_broker,
    validate_redirect_uri,
)
from bourse.oauth.management import ClientManager
from bourse.operations.registry import OperationError, operation
from bourse.services.bundle import Services


def parse_rate(text: str) -> int:
    """ "30%", "0.3" -> 300000 ppm (exact; at most 4 decimals of a percent). A rate below 0 or
    above 100% is refused in the form it was given ("-5%", "2.5"), not in ppm nobody typed."""
    t = text.strip()
    percent = t.endswith("%")
    number = t[:-1] if percent else t
    negative = number.startswith("-")
    magnitude = number[1:] if negative else number
    ppm = to_units(magnitude, 4 if percent else 6, field="rate")
    if ppm > RATE_DENOM or (negative and ppm):
        shown = f"{'-' if negative else ''}{format_units(ppm, 4)}%"
        if percent:
            raise OperationError(f"rebate rate must be between 0 and 100% (got {shown})")
        raise OperationError(
            f"rebate rate must be between 0 and 1, that is 100% (got {t}, that is {shown})"
        )
    return ppm


def info(b: Any, rate_ppm: int) -> dict[str, Any]:
    return {
        "brokerId": b.id,
        "account": b.account_id,
        "rebateAccount": b.rebate_account_id,
        "type": b.type.value,
        "status": b.status.value,
        "name": b.name,
        "code": b.code,
        "ratePpm": rate_ppm,
        "reason": b.reason,
        # what the applicant wrote, for the operator's review (a callback URL is no redirect
        # URI: ``approve``)
        "callbackUrl": b.callback_url,
        "note": b.note,
    }


@operation("brokers.apply")
def apply(
    svc: Services,
    *,
    account: int,
    type: str = "API",
    name: str = "",
    code: str | None = None,
    rebate_account: int | None = None,
    callback_url: str = "",
    logo_url: str = "",
    note: str = "",
) -> dict[str, Any]:
    """Register a broker application (PENDING); ``note``: about the business, for review."""
    b = svc.brokers.registry.apply(
        account,
        type,
        name or f"broker {account}",
        rebate_account_id=rebate_account,
        code=code,
        callback_url=callback_url,
        logo_url=logo_url,
        note=note,
    )
    return info(b, 0)


@operation("brokers.approve")
def approve(
    svc: Services,
    *,
    broker: int,
    redirect_uri: list[str] | None = None,
    oauth_scopes: str | None = None,
) -> dict[str, Any]:
    """Approve (or reinstate) a broker; an OAuth broker's first approval creates its client.

    An OAuth broker's client gets exactly the ``redirect_uri`` given (none: the broker
    registers them itself, and ``/oauth/authorize`` refuses the client until then), never its
    application's callback URL (docs/decisions.md); ``oauth_scopes`` is what its clients may
    hold (default "read trade")."""
    reg = svc.brokers.registry
    try:  # refuse bad URIs before anything changes
        uris = check_redirect_uris(redirect_uri or [], allow_empty=True)
    except ClientError as exc:
        raise OperationError(str(exc)) from exc
    if oauth_scopes is not None:
        ClientManager.of(svc).approve_scopes(broker, oauth_scopes)
    b = reg.approve(broker)
    out = info(b, reg.rate_at(b.id))
    if b.type.value == "OAUTH":
        out["oauthScopes"] = b.oauth_scopes
        client = register_for_broker(svc.oauth, b, redirect_uris=uris)
        if client is not None:  # a first approval: the secret is shown this once
            out["clientId"] = client.client.client_id
            out["clientSecret"] = client.client_secret
            out["redirectUris"] = list(client.client.redirect_uris)
            if not uris:
                out["hint"] = no_redirect_uri_hint(b, client.client.client_id)
    return out


def no_redirect_uri_hint(b: Any, client_id: str) -> str:
    """One line for a client approved without a redirect URI: ``/oauth/authorize`` refuses it
    until one is added, and the command that adds one, offering the application's callback
    URL when it would be a valid redirect URI (offered, never registered unasked)."""
    try:
        offer = validate_redirect_uri(b.callback_url) if b.callback_url else ""
    except ClientError:
        offer = ""
    command = f"bourse brokers oauth add-redirect {b.id} {client_id} {shlex.quote(offer) if offer else 'URI'}"
    said = " (the callback URL it applied with)" if offer else ""
    return (
        f"no redirect URI: /oauth/authorize refuses this client until one is added: {command}{said}"
    )


@operation("brokers.reject")
def reject(svc: Services, *, broker: int, reason: str = "") -> dict[str, Any]:
    """Reject a pending application."""
    reg = svc.brokers.registry
    b = reg.reject(broker, reason)
    return info(b, reg.rate_at(b.id))


@operation("brokers.suspend")
def suspend(svc: Services, *, broker: int, reason: str = "") -> dict[str, Any]:
    """Suspend an approved broker: it earns nothing until approved again."""
    reg = svc.brokers.registry
    b = reg.suspend(broker, reason)
    return info(b, reg.rate_at(b.id))


@operation("brokers.set-rate")
def set_rate(
    svc: Services,
    *,
    broker: int,
    rate: str | None = None,
    ppm: int | None = None,
    effective_from: int | None = None,
    note: str = "",
) -> dict[str, Any]:
    """Set a broker's rebate rate ("30%", "0.3" or ppm; kept as history, never back-dated)."""
    if (rate is None) == (ppm is None):
        raise OperationError("give a rate or --ppm")
    value = ppm if ppm is not None else parse_rate(rate or "")
    ch = svc.brokers.registry.set_rate(broker, value, effective_from, note)
    return {"brokerId": broker, "ratePpm": ch.rate_ppm, "effectiveFrom": ch.effective_from}


@operation("brokers.list", mutates=False)
def list_brokers(svc: Services, *, status: str | None = None) -> list[dict[str, Any]]:
    """Brokers with their current rates."""
    try:
        st = BrokerStatus(status.upper()) if status else None
    except ValueError:
        raise OperationError(f"unknown status {status!r}") from None
    reg = svc.brokers.registry
    return [info(b, reg.rate_at(b.id)) for b in reg.list(st)]


@operation("brokers.show", mutates=False)
def show(svc: Services, *, broker: int) -> dict[str, Any]:
    """One broker: its application (callback URL, note), status, rate, and when it applied."""
    reg = svc.brokers.registry
    b = reg.get(broker)
    shown = info(b, reg.rate_at(b.id))
    if b.type.value == "OAUTH":
        shown["oauthScopes"] = b.oauth_scopes
    return {**shown, "logoUrl": b.logo_url, "applyTime": b.created, "updateTime": b.updated}


@operation("brokers.bind")
def bind(svc: Services, *, api_key: str, broker: int) -> dict[str, Any]:
    """Bind an API key to a broker on behalf of its owner (once per key, ever)."""
    key = svc.apikeys.lookup(api_key)
    if key is None:
        raise OperationError(f"no API key {api_key}", 404)
    b = svc.brokers.bindings.bind(api_key, broker, key.account_id)
    return {"apiKey": api_key, "brokerId": b.broker_id, "bindTime": b.bound_at}


@operation("brokers.unbind")
def unbind(svc: Services, *, api_key: str) -> dict[str, Any]:
    """Unbind an API key (recorded; the key cannot be bound again)."""
    if svc.apikeys.lookup(api_key) is None:
        raise OperationError(f"no API key {api_key}", 404)
    b = svc.brokers.bindings.unbind(api_key, by="admin")
    return {"apiKey": api_key, "brokerId": b.broker_id, "unbindTime": b.unbound_at}


@operation("brokers.keys", mutates=False)
def keys(svc: Services, *, broker: int, all: bool = False) -> list[dict[str, Any]]:
    """Keys bound to a broker (never their secrets)."""
    svc.brokers.registry.get(broker)
    return list(svc.brokers.bindings.list_for_broker(broker, all))


@operation("brokers.accrue")
def accrue(svc: Services) -> dict[str, Any]:
    """Accrue rebates for every attributed trade not yet accrued (idempotent)."""
    res = svc.brokers.accrue()
    return {"trades": res.trades, "records": res.records, "cursor": res.cursor}


@operation("brokers.settle")
def settle(
    svc: Services, *, broker: int | None = None, retry_failed: bool = False
) -> dict[str, Any]:
    """Accrue, then pay pending rebates (each payout once, however often this runs)."""
    if broker is not None:
        svc.brokers.registry.get(broker)  # refuses an unknown one
    rep = svc.brokers.settle(broker, retry_failed=retry_failed)
    return {
        "paid": rep.paid,
        "recovered": rep.recovered,
        "failed": rep.failed,
        "held": rep.held,
        "inFlight": rep.in_flight,
    }
