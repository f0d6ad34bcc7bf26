"""``bourse brokers ...``: the operator's side of the broker program.

    bourse brokers apply 100 --type API --name "Acme bots" --code acme
    bourse brokers approve 1
    bourse brokers set-rate 1 30%            # or 0.3, or --ppm 300000; --from <ms> to schedule
    bourse brokers suspend 1 --reason abuse
    bourse brokers list --status APPROVED
    bourse brokers bind mx0v... 1            # on behalf of the key's owner
    bourse brokers keys 1                    # keys bound to broker 1 (never secrets)
    bourse brokers accrue && bourse brokers settle

Mounted by ``bourse.cli`` as ``app.add_typer(brokers_app, name="brokers")``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from bourse.cli.common import DbOption, JsonOption, console, fail, open_platform
from bourse.domain.brokers import BrokerStatus
from bourse.domain.errors import DomainError
from bourse.domain.money import to_units
from bourse.oauth.clients import register_for_broker
from bourse.services.brokers import Brokers
from bourse.services.bundle import Services
from bourse.store.repositories.oauth import OAuthRepository

brokers_app = typer.Typer(
    help="Broker program: applications, review, rebate rates, key bindings, rebates.",
    no_args_is_help=True,
)


@contextmanager
def _brokers(db: str | None, quiet: bool = False) -> Iterator[tuple[Services, Brokers]]:
    """(platform, brokers) for one command; domain errors become a message and exit 1."""
    with open_platform(db, quiet=quiet) as platform:
        try:
            yield platform, platform.brokers
        except DomainError as exc:
            raise fail(exc.message or type(exc).__name__) from exc


def _out(as_json: bool, data: Any, text: str) -> None:
    if as_json:
        sys.stdout.write(json.dumps(data, default=str) + "\n")
    else:
        console.print(text)


def parse_rate(text: str) -> int:
    """ "30%", "0.3" -> 300000 ppm (exact; at most 4 decimals of a percent)."""
    t = text.strip()
    if t.endswith("%"):
        return to_units(t[:-1], 4, field="rate")
    return to_units(t, 6, field="rate")


def _info(b: Any, rate_ppm: int) -> dict[str, Any]:
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
    }


@brokers_app.command("apply")
def apply_cmd(
    account: Annotated[int, typer.Argument(help="The broker's main account id.")],
    broker_type: Annotated[str, typer.Option("--type", help="API, INDEPENDENT or OAUTH.")] = "API",
    name: Annotated[str, typer.Option(help="Broker name.")] = "",
    code: Annotated[str | None, typer.Option(help="Optional `source` alias.")] = None,
    rebate_account: Annotated[
        int | None, typer.Option(help="Account receiving rebates (default: main).")
    ] = None,
    callback_url: Annotated[str, typer.Option(help="OAuth callback URL.")] = "",
    logo_url: Annotated[str, typer.Option(help="Logo URL.")] = "",
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Register a broker application (PENDING)."""
    with _brokers(db, as_json) as (_, br):
        b = br.registry.apply(
            account,
            broker_type,
            name or f"broker {account}",
            rebate_account_id=rebate_account,
            code=code,
            callback_url=callback_url,
            logo_url=logo_url,
        )
        _out(as_json, _info(b, 0), f"[green]broker {b.id}[/] applied ({b.status})")


def _review(action: str, broker_id: int, reason: str, db: str | None, as_json: bool) -> None:
    with _brokers(db, as_json) as (_, br):
        reg = br.registry
        b = (
            reg.approve(broker_id)
            if action == "approve"
            else getattr(reg, action)(broker_id, reason)
        )
        info = _info(b, reg.rate_at(b.id))
        text = f"[green]broker {b.id}[/] is {b.status}"
        if action == "approve" and b.type.value == "OAUTH":
            client = register_for_broker(OAuthRepository(br.db), b)
            if client is not None:  # a first approval: the secret is shown this once
                info["clientId"] = client.client.client_id
                info["clientSecret"] = client.client_secret
                text += (
                    f"\nOAuth client_id [bold]{client.client.client_id}[/]"
                    f"\nclient_secret [bold]{client.client_secret}[/] (shown once)"
                )
        _out(as_json, info, text)


@brokers_app.command("approve")
def approve_cmd(broker_id: int, db: DbOption = None, as_json: JsonOption = False) -> None:
    """Approve (or reinstate) a broker."""
    _review("approve", broker_id, "", db, as_json)


@brokers_app.command("reject")
def reject_cmd(
    broker_id: int,
    reason: Annotated[str, typer.Option(help="Why.")] = "",
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Reject a pending application."""
    _review("reject", broker_id, reason, db, as_json)


@brokers_app.command("suspend")
def suspend_cmd(
    broker_id: int,
    reason: Annotated[str, typer.Option(help="Why.")] = "",
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Suspend an approved broker: it earns nothing until approved again."""
    _review("suspend", broker_id, reason, db, as_json)


@brokers_app.command("set-rate")
def set_rate_cmd(
    broker_id: int,
    rate: Annotated[str | None, typer.Argument(help='Share of fees: "30%" or "0.3".')] = None,
    ppm: Annotated[int | None, typer.Option(help="The rate in parts per million.")] = None,
    effective_from: Annotated[
        int | None, typer.Option("--from", help="Start (ms since epoch; default now).")
    ] = None,
    note: Annotated[str, typer.Option(help="A note for the history.")] = "",
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Set a broker's rebate rate (kept as history; never back-dated)."""
    if (rate is None) == (ppm is None):
        raise fail("give a rate or --ppm")
    with _brokers(db, as_json) as (_, br):
        value = ppm if ppm is not None else parse_rate(rate or "")
        ch = br.registry.set_rate(broker_id, value, effective_from, note)
        _out(
            as_json,
            {"brokerId": broker_id, "ratePpm": ch.rate_ppm, "effectiveFrom": ch.effective_from},
            f"[green]broker {broker_id}[/] rate {ch.rate_ppm} ppm from {_when(ch.effective_from)}",
        )


def _when(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


@brokers_app.command("list")
def list_cmd(
    status: Annotated[str | None, typer.Option(help="Only this status.")] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """List brokers with their current rates."""
    with _brokers(db, as_json) as (_, br):
        try:
            st = BrokerStatus(status.upper()) if status else None
        except ValueError as exc:
            raise fail(f"unknown status {status!r}") from exc
        rows = [_info(b, br.registry.rate_at(b.id)) for b in br.registry.list(st)]
    if as_json:
        _out(True, rows, "")
        return
    table = Table(title="Brokers")
    for col in ("id", "name", "code", "type", "status", "account", "rebate to", "rate"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            str(r["brokerId"]),
            r["name"],
            r["code"] or "",
            r["type"],
            r["status"],
            str(r["account"]),
            str(r["rebateAccount"]),
            f"{r['ratePpm'] / 10_000:g}%",
        )
    console.print(table)


@brokers_app.command("bind")
def bind_cmd(
    api_key: str, broker_id: int, db: DbOption = None, as_json: JsonOption = False
) -> None:
    """Bind an API key to a broker on behalf of its owner (once per key, ever)."""
    with _brokers(db, as_json) as (platform, br):
        key = platform.apikeys.lookup(api_key)
        if key is None:
            raise fail(f"no API key {api_key}")
        b = br.bindings.bind(api_key, broker_id, key.account_id)
        _out(
            as_json,
            {"apiKey": api_key, "brokerId": b.broker_id, "bindTime": b.bound_at},
            f"[green]bound[/] {api_key} to broker {broker_id}",
        )


@brokers_app.command("unbind")
def unbind_cmd(api_key: str, db: DbOption = None, as_json: JsonOption = False) -> None:
    """Unbind an API key (recorded; the key cannot be bound again)."""
    with _brokers(db, as_json) as (_, br):
        b = br.bindings.unbind(api_key, by="admin")
        _out(
            as_json,
            {"apiKey": api_key, "brokerId": b.broker_id, "unbindTime": b.unbound_at},
            f"[green]unbound[/] {api_key} from broker {b.broker_id}",
        )


@brokers_app.command("keys")
def keys_cmd(
    broker_id: int,
    all_: Annotated[bool, typer.Option("--all", help="Include unbound keys.")] = False,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Keys bound to a broker (never their secrets)."""
    with _brokers(db, as_json) as (_, br):
        br.registry.get(broker_id)
        rows = br.bindings.list_for_broker(broker_id, all_)
    if as_json:
        _out(True, rows, "")
        return
    table = Table(title=f"Keys bound to broker {broker_id}")
    for col in ("api key", "uid", "symbols", "bound", "unbound"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["apiKey"],
            r["uid"],
            r["symbols"] or "all",
            _when(r["bindTime"]),
            _when(r["unbindTime"]),
        )
    console.print(table)


@brokers_app.command("accrue")
def accrue_cmd(db: DbOption = None, as_json: JsonOption = False) -> None:
    """Accrue rebates for every attributed trade not yet accrued (idempotent)."""
    with _brokers(db, as_json) as (_, br):
        res = br.accrue()
    _out(
        as_json,
        {"trades": res.trades, "records": res.records, "cursor": res.cursor},
        f"accrued {res.records} rebate(s) from {res.trades} trade(s); cursor {res.cursor}",
    )


@brokers_app.command("settle")
def settle_cmd(
    broker: Annotated[int | None, typer.Option(help="Only this broker.")] = None,
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed", help="Put failed rebates back to pending first.")
    ] = False,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Accrue, then pay pending rebates (each payout once, however often this runs)."""
    with _brokers(db, as_json) as (_, br):
        if retry_failed:
            br.settlement.retry_failed(broker)
        br.accrue()
        rep = br.settlement.settle(broker)
    data = {
        "paid": rep.paid,
        "recovered": rep.recovered,
        "failed": rep.failed,
        "held": rep.held,
        "inFlight": rep.in_flight,
    }
    text = (
        f"paid {len(rep.paid)} payout(s), recovered {len(rep.recovered)}, "
        f"failed {len(rep.failed)}, held {len(rep.held)}, in flight {len(rep.in_flight)}"
    )
    _out(as_json, data, text)
    if rep.failed or rep.in_flight:
        raise typer.Exit(2)
