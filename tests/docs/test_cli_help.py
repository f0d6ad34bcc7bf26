"""Every ``bourse`` command answers ``--help`` (the pages say to look there), whatever typer
version the install picked."""

from __future__ import annotations

from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from bourse.cli import app


def _paths(group: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix]
    for name, command in group.commands.items():
        if hasattr(command, "commands"):  # a group (typer may vendor its own click)
            found += _paths(command, (*prefix, name))
        else:
            found.append((*prefix, name))
    return found


COMMANDS = _paths(typer.main.get_group(app))


def test_there_are_commands() -> None:
    assert ("keys", "create") in COMMANDS and ("serve",) in COMMANDS


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_help_answers(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output
