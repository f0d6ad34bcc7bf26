"""What every ``bourse`` sub-command shares: consoles, the ``--db``/``--json`` options, where
the database is, the platform opener, tables that never cut a key, the command class that
reads ``-5`` as a value, and the way errors end a command (one line, exit 1; a bad command
line, exit 2)."""

from __future__ import annotations

import itertools
import json
import os
import re
import sys
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
import typer.core
from rich.cells import cell_len
from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.segment import Segments
from rich.table import Table
from rich.text import Text

from bourse.config import Config, RateLimits
from bourse.operations.dburl import parse, safe_url, sqlite_file
from bourse.operations.home import HOME_DIR, find_home
from bourse.operations.runtime import running_servers

if TYPE_CHECKING:
    from bourse.services.bundle import Services

#: the database when there is no ``.bourse/`` at all (``bourse.store.db.DEFAULT_URL``)
DEFAULT_URL = "sqlite:///.bourse/bourse.db"

console = Console()
err = Console(stderr=True)

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        envvar="BOURSE_DATABASE_URL",
        help="Database URL (sqlite:///path.db or postgresql://...); default: the database of "
        "the server running in the nearest .bourse/ directory, else .bourse/bourse.db there "
        "(where scripts/run keeps it).",
        show_default=False,
        metavar="URL",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
#: the highest TCP port: a ``--port`` above it (or below 0) is a bad command line, said with
#: the range (``typer.Option(min=0, max=MAX_PORT)``), not bind()'s OverflowError
MAX_PORT = 65535


def db_url(db: str | None) -> str:
    """``--db`` / ``BOURSE_DATABASE_URL``, else the database of the nearest ``.bourse/``: the
    one its running server uses (when exactly one runs), else its ``bourse.db``. A ``--db``
    that is no database URL ends the command in one line."""
    if db:
        if parse(db) is None and not _is_url(db):
            raise fail(f"not a database URL: {db!r} (sqlite:///path.db or postgresql://...)")
        return db
    home = find_home()
    if home is None:
        return DEFAULT_URL
    servers = running_servers(home)
    if len({s.database for s in servers}) == 1:
        return servers[0].database
    return f"sqlite:///{home / 'bourse.db'}"


def shown_db(url: str) -> str:
    """The database of ``url`` for a message: a SQLite file in a ``.bourse/`` here or above as
    a path from here (``./.bourse/bourse.db``, ``../.bourse/bourse.db``: which one the lookup
    found), another file as its absolute path, another database as its URL."""
    file = sqlite_file(url)
    if file is None:
        return safe_url(url)
    path = Path(file).resolve()
    here = Path.cwd().resolve()
    if path.parent.name != HOME_DIR or path.parent.parent not in (here, *here.parents):
        return str(path)
    rel = os.path.relpath(path, here)
    return rel if rel.startswith("..") else f"./{rel}"


def _is_url(url: str) -> bool:
    """Whether SQLAlchemy reads ``url`` as a URL (what ``parse`` leaves to it)."""
    from sqlalchemy.engine import make_url

    try:
        make_url(url)
    except Exception:
        return False
    return True


#: ``bourse --debug``: errors show the traceback of their cause
debug = {"on": False}


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``message`` as the command's one-line error; raise the result to exit ``code``.
    With ``--debug``, the exception being handled (the cause) is printed first."""
    if debug["on"] and sys.exc_info()[0] is not None:
        traceback.print_exc()
    line = " ".join(str(message).split())
    err.print(f"[bold red]error:[/] {line}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


#: what a value given on the command line should have been, by the validation error's type
_EXPECTED = {
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "int_type": "a whole number",
    "float_parsing": "a number",
    "float_type": "a number",
    "decimal_parsing": "a number",
    "decimal_type": "a number",
}
#: a number out of an option's bounds (``min=``, ``max=``), by the validation error's type
_BOUND = {
    "greater_than_equal": ("ge", "at least"),
    "greater_than": ("gt", "more than"),
    "less_than_equal": ("le", "at most"),
    "less_than": ("lt", "less than"),
}


def usage_error(exc: Exception) -> str:
    """A bad command line in one plain line: a value of the wrong type or out of bounds says
    which parameter and what it takes (``account: expected a whole number, got 'abc'``),
    not the validation library's words; any other usage error is click's message."""
    text = " ".join(exc.format_message().split())  # type: ignore[attr-defined]
    param = getattr(exc, "param", None)
    cause = exc.__cause__
    errors = getattr(cause, "errors", None)
    if param is None or not callable(errors):
        return text
    try:
        (first, *_) = errors(include_url=False)
    except Exception:  # not a validation error after all
        return text
    opts = [o for o in getattr(param, "opts", ()) if o.startswith("-")]
    name = max(opts, key=len) if opts else param.get_error_hint().strip("'")
    kind, given = first.get("type"), first.get("input")
    if kind in _EXPECTED:
        return f"{name}: expected {_EXPECTED[kind]}, got {given!r}"
    if kind in _BOUND:
        low, high = getattr(param, "min", None), getattr(param, "max", None)
        if low is not None and high is not None:  # the range, whichever end was crossed
            return f"{name}: must be between {low} and {high}, got {given}"
        key, words = _BOUND[kind]
        return f"{name}: must be {words} {first.get('ctx', {}).get(key)}, got {given}"
    return text


#: what starts as a negative number does (``-5``, ``-.5``, ``-1e3``, a rate ``-5%``, a waypoint
#: ``-5:60000``): click reads one as an unknown option (``No such option: -5``), but no option
#: of ``bourse`` is named with a digit, so it is a value (tests/cli/test_usage_errors.py)
_NEGATIVE = re.compile(r"-\.?\d")


def negatives_as_values(params: Sequence[Any], args: list[str]) -> list[str]:
    """``args`` of a command with ``params``, rearranged when an argument starts as a negative
    number does (``-5``, ``-5%``: ``_NEGATIVE``): the options (with their values) first, then
    ``--`` and the arguments in their order, so that click takes ``-5`` for the value it is;
    else ``args`` as given."""
    options = [p for p in params if getattr(p, "param_type_name", "") == "option"]
    names = {n for p in options for n in (*p.opts, *p.secondary_opts)}
    valued = {n for p in options if not (p.is_flag or p.count) for n in p.opts}
    front: list[str] = []
    values: list[str] = []
    rest = iter(args)
    for arg in rest:
        if arg == "--":
            values.extend(rest)
        elif arg in names or (arg[:1] == "-" and len(arg) > 1 and not _NEGATIVE.match(arg)):
            front.append(arg)
            if arg in valued:  # its value, whatever it looks like (``--limit -1``)
                front.extend(itertools.islice(rest, 1))
        else:
            values.append(arg)
    if not any(_NEGATIVE.match(v) for v in values):
        return args
    return [*front, "--", *values]


class Command(typer.core.TyperCommand):
    """A ``bourse`` command: a negative number where an argument goes is that argument
    (``bourse deposit 100 USDT -5`` gets the refusal any bad amount gets, not a usage error
    about an option ``-5``); its help shows whole parameter names (``ParamsTable``)."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, negatives_as_values(self.get_params(ctx), args))

    def format_help(self, ctx: Any, formatter: Any) -> None:
        _whole_names_in_help()
        super().format_help(ctx, formatter)


class Group(typer.core.TyperGroup):
    """A ``bourse`` group: its help shows whole parameter names (``ParamsTable``)."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        _whole_names_in_help()
        super().format_help(ctx, formatter)


def first_line(exc: BaseException) -> str:
    """The first line of an error's message (its type's name when it has none)."""
    return next(iter(str(exc).splitlines()), "") or type(exc).__name__


def require_database(url: str) -> None:
    """End the command in one line unless ``url`` names an existing database with a Bourse
    schema: a command that operates an exchange never creates one (a mistyped ``--db`` would
    otherwise make an empty exchange). Only ``bourse serve``, ``engine``, ``gateway``,
    ``migrate`` and ``restore`` create a database."""
    from bourse.store.db import has_schema

    try:
        present = has_schema(url)
    except Exception as exc:  # database down, refused: a message, not a traceback
        raise fail(f"cannot open {safe_url(url)}: {first_line(exc)}") from exc
    if not present:
        raise fail(
            f"no Bourse database at {safe_url(url)} (start one with bourse serve, or create "
            "it with bourse migrate)"
        )


@contextmanager
def open_platform(
    db: str | None, *, quiet: bool = False, create: bool = False, **config: Any
) -> Iterator[Services]:
    """Open the platform (migrating the database) with a spinner; always closed afterwards.
    Unless ``create``, a database that does not exist yet is refused (``require_database``).
    ``config`` sets further ``Config`` fields."""
    from bourse.bootstrap import open_platform as _open
    from bourse.services.serverkey import ServerKeyError

    url = db_url(db)
    if not create:
        require_database(url)
    with err.status(f"opening {safe_url(url)} ...", spinner="dots") if not quiet else _null():
        try:
            platform = _open(Config(database_url=url, **config))
        except ServerKeyError as exc:  # says itself what to do
            raise fail(str(exc)) from exc
        except Exception as exc:  # bad URL, database down: a message, not a traceback
            raise fail(f"cannot open {safe_url(url)}: {exc}") from exc
    try:
        yield platform
    finally:
        platform.close()


def direct_config() -> dict[str, Any]:
    """``Config`` fields of a platform opened by a command (no schedulers, no rate limits,
    lock waits bounded, no market data: no operation reads it)."""
    return {
        "rate_limits": RateLimits.off(),
        "rebate_settle_at": None,
        "lock_timeout_ms": 10_000,
        "market_data": False,
    }


@contextmanager
def _null() -> Iterator[None]:
    yield


def split(values: Sequence[str] | None) -> list[str]:
    """Options given repeatedly and/or comma-separated, flattened."""
    out: list[str] = []
    for value in values or []:
        out.extend(p.strip() for p in value.split(",") if p.strip())
    return out


#: control characters a terminal may act on (C0 but the newline, DEL, C1): an ESC sequence in
#: a text someone else wrote could move the cursor, recolour or retitle the operator's terminal
_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f]")


def plain(text: str) -> str:
    """Someone else's ``text`` (an applicant's name, note, URL) to print: no control
    character but the newline, and no rich markup (``[b]`` is shown as typed)."""
    return escape(_CONTROL.sub("", text))


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, default=str) + "\n")


def out(as_json: bool, data: Any, text: str) -> None:
    """``data`` as one JSON line with ``--json``, else ``text``."""
    if as_json:
        print_json(data)
    else:
        console.print(text)


def unpaid(failed: Sequence[dict[str, str]], in_flight: int, again: str) -> typer.Exit | None:
    """The one-line error (exit 1, a refusal) of a payout run that left payouts unpaid: the
    engine refused ``failed`` (``{"key", "error"}``; ``again`` says what pays them), and did
    not confirm ``in_flight`` (the next run finishes those); None when everything was paid."""
    parts = []
    if failed:
        why = "; ".join(dict.fromkeys(f["error"] for f in failed))
        parts.append(f"{_payouts(len(failed))} failed: {why} ({again})")
    if in_flight:
        parts.append(
            f"{_payouts(in_flight)} not confirmed by the engine (the next run finishes them)"
        )
    return fail("; ".join(parts)) if parts else None


def _payouts(n: int) -> str:
    return f"{n} payout" if n == 1 else f"{n} payouts"


#: the most a folding column asks for its longest word (a request id folds in 2 lines, not 32)
_FOLD_CAP = 16


def table(
    title: str, columns: Sequence[str], rows: Sequence[Sequence[str]], keep: Sequence[str] = ()
) -> None:
    """Print a table; the ``keep`` columns (keys, names) are never cut or wrapped: the table
    grows wider than the terminal rather than lose a character of an API key. The other columns
    fold, but never narrower than their longest word (at most ``_FOLD_CAP``): otherwise wide
    ``keep`` columns squeeze them to a character or none on an 80-column terminal or a pipe."""
    t = Table(title=title, min_width=len(title))  # a title never wraps over a narrow table
    for i, col in enumerate(columns):
        texts = (col, *(str(row[i]) for row in rows))
        if col in keep:  # as wide as its widest line: rich measures a no_wrap cell by its words
            widest = max(cell_len(line) for text in texts for line in text.splitlines() or [""])
            t.add_column(col, no_wrap=True, overflow="fold", min_width=max(widest, 1))
            continue
        longest = max((cell_len(w) for text in texts for w in text.split()), default=1)
        t.add_column(col, overflow="fold", min_width=min(longest, _FOLD_CAP))
    for row in rows:
        t.add_row(*row)
    need = Measurement.get(console, console.options.update(width=10_000), t).minimum
    # rendered here, not by ``console.print(t, width=...)``: print caps that width at the
    # terminal's, and rich then squeezes columns below their minimum (to nothing at 80 columns)
    wide = console.options.update_width(max(console.width, need))
    console.print(Segments(console.render(t, wide)), crop=False)


# --- help: click's metavars (TEXT, INTEGER), no type tag on a flag ---------------------------
_TYPER_DISPLAY = {
    cls: cls.display_type_rich for cls in (typer.core.TyperOption, typer.core.TyperArgument)
}


def _display_type(self: Any, ctx: Any) -> str | None:
    if self.metavar is not None:
        return str(self.metavar)
    if getattr(self, "is_flag", False):
        return None
    kind = getattr(self, "type", None)
    if kind is None:  # typer >= 0.25 keeps its own parameter types: its own display then
        own = next(f for cls, f in _TYPER_DISPLAY.items() if isinstance(self, cls))
        return own(self, ctx)  # type: ignore[no-any-return]
    return str(kind.get_metavar(self, ctx) or kind.name.upper())


typer.core.TyperOption.display_type_rich = _display_type  # type: ignore[method-assign]
typer.core.TyperArgument.display_type_rich = _display_type  # type: ignore[method-assign]


# --- help: whole parameter names at any width -------------------------------------------------
#: the widest a parameter's names and type share a line in its help (click's column: 30)
_NAMES_WIDTH = 30


class ParamsTable(Table):
    """The table of a help panel's parameters, in place of typer's: whole names at 80 columns.

    typer (``typer.rich_utils``) fills the table row by row, one per parameter: [required
    mark], long names, short names, negative long and short names (``--no-metrics``), type,
    help, and leaves its columns to rich, which shrinks all of them alike when the rows are
    wider than the terminal: at 80 columns ``bourse serve --help`` read ``--trust-forwarde…``.
    Here a parameter's names and type share one column that never shrinks (the type on a line
    of its own below names longer than ``_NAMES_WIDTH``), and the help takes the rest. Any
    other row (a panel of commands) is typer's own."""

    def add_row(self, *cells: Any, **kwargs: Any) -> None:
        mark, parts = cells[:-6], cells[-6:]
        if len(cells) not in (6, 7) or not all(isinstance(t, Text) for t in parts[:5]):
            super().add_row(*cells, **kwargs)
            return
        long, short, negative, negative_short, kind, text = parts
        names = Text(", ").join(t for t in (long, short) if t.plain)
        negatives = Text(", ").join(t for t in (negative, negative_short) if t.plain)
        if negatives.plain:
            names.append(" / ").append_text(negatives)
        if kind.plain:
            fits = names.cell_len + 1 + kind.cell_len <= _NAMES_WIDTH
            names.append(" " if fits else "\n  ").append_text(kind)
        super().add_row(*mark, names, text, **kwargs)
        self.columns[-2].no_wrap = True  # the names, whole
        self.columns[-1].ratio = 1  # the help, in what the names leave


def _whole_names_in_help() -> None:
    """Have typer's rich help build its parameter panels with ``ParamsTable``. Done when a
    help is shown, not at import: ``typer.rich_utils`` costs every command a tenth of a
    second to import, and only a help needs it."""
    import typer.rich_utils

    typer.rich_utils.Table = ParamsTable  # type: ignore[misc]
