"""docs/security.md's tables (the RFC 9700 checklist, what the suite proves) name the test
holding each line: every one must exist (``path::name`` of a test function), so neither table
can point at nothing."""

from __future__ import annotations

import ast
import re

from tests.support.snippets import ROOT

PAGE = ROOT / "docs" / "security.md"


def _tests_in(path: str) -> set[str]:
    tree = ast.parse((ROOT / path).read_text())
    return {
        n.name
        for n in tree.body
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name.startswith("test_")
    }


def test_every_test_the_checklist_names_exists() -> None:
    text = PAGE.read_text()
    section = text.split("## RFC 9700", 1)[1].split("\n## ", 1)[0]
    named = re.findall(r"`(tests/[\w/]+\.py)::(test_\w+)`", section)
    assert len(named) >= 20, named
    missing = [f"{p}::{n}" for p, n in named if n not in _tests_in(p)]
    assert not missing, f"docs/security.md names tests that do not exist: {missing}"


def test_every_test_the_proofs_table_names_exists() -> None:
    text = PAGE.read_text()
    section = text.split("## What the suite proves", 1)[1].split("\n## ", 1)[0]
    named = re.findall(r"`(tests/[\w/]+\.py)::(test_\w+)`", section)
    assert len(named) >= 15, named
    missing = [f"{p}::{n}" for p, n in named if n not in _tests_in(p)]
    assert not missing, f"docs/security.md names tests that do not exist: {missing}"
