"""The ``bourse`` command: serve the exchange and operate it, running or stopped.

Every operator command runs an operation of ``bourse.operations``: through the running
server's operator API when a server runs for the database (it says so in ``$BOURSE_HOME``),
else on the database directly; the output is the same both ways. The database is ``--db`` or
``BOURSE_DATABASE_URL``, else the one of the nearest ``.bourse/`` directory (where
``scripts/run`` keeps it). A command that cannot proceed says why in one line and exits 1 (a
bad command line: 2, click's convention); ``--debug`` shows the traceback of an unexpected
error. docs/operations.md lists every exit code.

    bourse serve --demo                 # demo exchange with liquidity on http://127.0.0.1:8080
    bourse demo-credentials --json      # {"url": ..., "accounts": {"user": {...}}}
    bourse accounts open
    bourse deposit 100 USDT 1000
    bourse keys create --account 100 --permissions SPOT_DEAL_READ,SPOT_DEAL_WRITE
    bourse keys rotate-master           # re-encrypt every secret under a new server key
    bourse check                        # audit the ledger; exits 1 on any discrepancy
    bourse backup bourse.backup         # a consistent snapshot, the server running or not
    bourse restore bourse.backup        # the server stopped: replace the database by it

One module per group: ``serve``, ``engine_role`` (engine, gateway), ``status``, ``stop``, ``demo``, ``db`` (migrate, backup, restore), ``accounts``, ``keys``,
``brokers``, ``referrals``, ``audit``, ``sandbox``, ``listings``, ``withdrawals``, ``check``; ``runner`` decides between the server and the database, ``common``
holds the shared options, tables and errors.
"""

from __future__ import annotations

import inspect
import logging
import os
import sys
from collections.abc import Iterator
from typing import Annotated

import typer
from typer.models import CommandInfo

# Start-up cost: a command that a running server serves answers in a fraction of a second, so
# a command module imports at its top only what its options and its output need (typer, rich,
# bourse.cli.common, bourse.operations.home); what works on the database or serves (the
# platform, SQLAlchemy, Alembic, uvicorn, NATS) it imports inside the function that needs it,
# when that runs; and the platform a command opens on a stopped server imports only what it
# uses (no bus, no psycopg on SQLite, no Alembic at head, no trade replay: direct_config).
# tests/cli/test_startup.py holds --help, the remote and the direct path to it.
from bourse.cli import common
from bourse.cli.accounts import accounts_app, deposit
from bourse.cli.audit import audit_cmd
from bourse.cli.brokers import brokers_app
from bourse.cli.check import check
from bourse.cli.common import err
from bourse.cli.db import backup, migrate, restore
from bourse.cli.demo import chain_deposit, demo_credentials_cmd
from bourse.cli.engine_role import engine, gateway
from bourse.cli.keys import keys_app
from bourse.cli.listings import listings_app
from bourse.cli.referrals import referrals_app
from bourse.cli.sandbox import sandbox_app
from bourse.cli.serve import public_url, serve
from bourse.cli.status import status_cmd
from bourse.cli.stop import stop_cmd
from bourse.cli.withdrawals import withdrawals_app

app = typer.Typer(
    name="bourse",
    help="Bourse: a self-hostable exchange broker platform, wire-compatible with MEXC Spot V3.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
_state = {"debug": False}


@app.callback()
def _root(
    debug: Annotated[
        bool,
        typer.Option("--debug", help="Show tracebacks and the platform's log of a command."),
    ] = False,
) -> None:
    _state["debug"] = debug
    common.debug["on"] = debug


app.command()(serve)
app.command()(engine)
app.command()(gateway)
app.command("status")(status_cmd)
app.command("stop")(stop_cmd)
app.command("demo-credentials")(demo_credentials_cmd)
app.command("chain-deposit")(chain_deposit)
app.command()(migrate)
app.command()(backup)
app.command()(restore)
app.command()(deposit)
app.command("audit")(audit_cmd)
app.command("check")(check)
app.add_typer(keys_app, name="keys")
app.add_typer(accounts_app, name="accounts")
app.add_typer(brokers_app, name="brokers")
app.add_typer(referrals_app, name="referrals")
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(listings_app, name="listings")
app.add_typer(withdrawals_app, name="withdrawals")


def _commands(group: typer.Typer) -> Iterator[CommandInfo]:
    """Every command of ``group`` and of its sub-groups."""
    yield from group.registered_commands
    for sub in group.registered_groups:
        if sub.typer_instance is not None:
            yield from _commands(sub.typer_instance)


def _groups(group: typer.Typer) -> Iterator[typer.Typer]:
    """``group`` and every group under it."""
    yield group
    for sub in group.registered_groups:
        if sub.typer_instance is not None:
            yield from _groups(sub.typer_instance)


def _finish(group: typer.Typer) -> None:
    """Each command's summary in ``--help`` lists is its docstring's first paragraph on one
    line (typer's rich mode keeps the docstring's line breaks, which broke each summary
    mid-sentence over two or three lines of the list); each command reads ``-5`` where an
    argument goes as a value (``common.Command``); every help, a group's too, shows whole
    parameter names (``common.ParamsTable``)."""
    for each in _groups(group):
        if not isinstance(each.info.cls, type):  # typer's default (a placeholder)
            each.info.cls = common.Group
    for info in _commands(group):
        doc = info.help or (info.callback.__doc__ if info.callback else None)
        if info.short_help is None and doc:
            info.short_help = " ".join(inspect.cleandoc(doc).split("\n\n")[0].split())
        if info.cls in (None, typer.core.TyperCommand):
            info.cls = common.Command


_finish(app)


def main() -> None:
    """Entry point of the ``bourse`` console script: an unexpected error is one line (exit 1)
    unless ``--debug``."""
    args = sys.argv[1:]
    command = next((a for a in args if not a.startswith("-")), None)
    if "--debug" not in args and command not in ("serve", "engine", "gateway"):
        # a command speaks in its own one-line errors; the engine's log is for servers
        quiet = logging.getLogger("bourse")
        quiet.addHandler(logging.NullHandler())
        quiet.propagate = False
    os.umask(0o077)  # what it creates (the database, its WAL, key files) is the user's alone
    try:
        # not standalone: click would print a usage error as a framed box of several lines
        code = app(standalone_mode=False)
    except typer.Abort:  # Ctrl-C at a prompt
        err.print("aborted", highlight=False)
        sys.exit(130)
    except typer.TyperException as exc:  # a bad command line: click's message, on one line
        ctx = getattr(exc, "ctx", None)
        see = f" (see {ctx.command_path} --help)" if ctx is not None else ""
        text = common.usage_error(exc)
        if text:  # empty when a group given no command printed its help instead
            err.print(f"[bold red]error:[/] {text}{see}", highlight=False, soft_wrap=True)
        sys.exit(getattr(exc, "exit_code", 2))
    except Exception as exc:
        if _state["debug"] or "--debug" in sys.argv:
            raise
        text = " ".join(str(exc).split()) or type(exc).__name__
        err.print(
            f"[bold red]error:[/] {type(exc).__name__}: {text} (--debug shows more)",
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


__all__ = ["app", "main", "public_url"]
