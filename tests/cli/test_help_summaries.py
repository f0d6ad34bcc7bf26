"""``bourse --help`` and each group's ``--help`` list every command with a one-line summary:
typer's rich mode prints a summary's line breaks as they are, so a docstring broken at 100
columns broke the list mid-sentence."""

from __future__ import annotations

from typing import Any

import typer
from typer.testing import CliRunner

from bourse.cli import app


def _commands(group: Any, prefix: str = "") -> list[tuple[str, Any]]:
    found = []
    for name, command in group.commands.items():
        found.append((f"{prefix}{name}", command))
        if hasattr(command, "commands"):
            found += _commands(command, f"{prefix}{name} ")
    return found


def test_every_listed_summary_is_one_line() -> None:
    listed = _commands(typer.main.get_group(app))
    assert len(listed) > 40
    broken = {
        name: summary
        for name, command in listed
        if "\n" in (summary := command.short_help or (command.help or "").split("\n\n")[0])
    }
    assert not broken, broken


def test_the_list_reads_as_sentences() -> None:
    result = CliRunner().invoke(app, ["--help"], terminal_width=200, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    lines = [" ".join(line.strip("│ ").split()) for line in result.output.splitlines()]
    assert (
        "serve Serve the MEXC-compatible API, the operator API (/admin/v1) and, with --demo, "
        "a live demo market." in lines
    ), result.output
