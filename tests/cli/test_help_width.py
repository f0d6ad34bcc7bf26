"""Every ``--help`` at 80 columns shows whole parameter names: typer's rich help shrank every
column of a panel alike when it was wider than the terminal, which cut long option names
(``--trust-forwarde…``, ``--client-order-i…``) and the environment variables in their help."""

from __future__ import annotations

import re
from typing import Any

import pytest
import typer
from rich.cells import cell_len
from typer.testing import CliRunner

from bourse.cli import app


def _paths(group: Any, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    found = [(prefix, group)]
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            found += _paths(command, (*prefix, name))
        else:
            found.append(((*prefix, name), command))
    return found


COMMANDS = _paths(typer.main.get_group(app))


def test_every_command_is_here() -> None:
    paths = [path for path, _ in COMMANDS]
    assert ("serve",) in paths and ("brokers", "oauth", "register") in paths and () in paths


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_help_at_80_columns_shows_every_name_whole(path: tuple[str, ...], command: Any) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "80"}, terminal_width=80)
    assert result.exit_code == 0, result.output
    text = result.output
    names = [
        name
        for param in command.params
        if not getattr(param, "hidden", False)
        for name in (
            (*param.opts, *param.secondary_opts)
            if param.param_type_name == "option"
            else (param.metavar or param.name,)  # an argument, by the name its panel shows
        )
    ]
    cut = [
        n
        for n in names
        if not re.search(rf"(?<![\w-]){re.escape(n)}(?![\w-]|…)", text, re.IGNORECASE)
    ]
    assert not cut, f"{' '.join(path)}: {cut} cut or missing in\n{text}"
    # nor anything else: an environment variable's name, a default, a URL in the help
    assert "…" not in text, text
    assert max(cell_len(line) for line in text.splitlines()) <= 80, text
