"""The matching core's compiled modules (mypyc): which they are, and a guard against stale ones.

``setup.py`` compiles ``COMPILED`` with mypyc when it can (a C compiler and mypy at build time)
and records each source's SHA-256 in ``bourse/domain/native.json``; an installation without
them runs the same modules as plain Python. A compiled module sits beside its ``.py`` and wins
the import, so an edited ``.py`` would silently not run: ``guard`` (run by ``bourse`` itself,
before anything can import a compiled module) refuses to start when a compiled module's source
changed since its build. ``BOURSE_PURE=1`` imports the ``.py`` files instead (the test suite
runs the domain and engine tests both ways). Here, not in ``bourse.domain``: the domain does
no I/O, and this reads files.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

#: the modules compiled by mypyc, relative to ``src/`` (setup.py reads this list)
COMPILED = (
    "bourse/domain/fees.py",
    "bourse/domain/ledger.py",
    "bourse/domain/orderbook.py",
    "bourse/domain/orders.py",
    "bourse/domain/symbols.py",
    "bourse/domain/matching/__init__.py",
    "bourse/domain/matching/exchange.py",
    "bourse/domain/matching/locking.py",
    "bourse/domain/matching/loop.py",
    "bourse/domain/matching/market.py",
    "bourse/domain/matching/settlement.py",
    "bourse/domain/matching/state.py",
    "bourse/domain/matching/stp.py",
    "bourse/domain/matching/validation.py",
)
STAMP = "native.json"
_SRC = Path(__file__).resolve().parents[1]


def module_name(path: str) -> str:
    name = path.removesuffix(".py").replace("/", ".")
    return name.removesuffix(".__init__")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def stamp() -> dict[str, str]:
    """Each compiled module's source digest, as ``setup.py`` writes it into ``native.json``."""
    return {p: digest(_SRC / p) for p in COMPILED}


def _compiled_beside(py: Path) -> bool:
    stem = "__init__" if py.name == "__init__.py" else py.stem
    return any((py.parent / (stem + s)).exists() for s in importlib.machinery.EXTENSION_SUFFIXES)


class _PureFinder(importlib.abc.MetaPathFinder):
    """Finds the compiled modules' ``.py`` files, ahead of their extension modules."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        for p in COMPILED:
            if module_name(p) == fullname:
                loc = _SRC / p
                search = [str(loc.parent)] if loc.name == "__init__.py" else None
                return importlib.util.spec_from_file_location(
                    fullname, loc, submodule_search_locations=search
                )
        return None


def guard() -> None:
    """Use the ``.py`` files under ``BOURSE_PURE=1``; otherwise refuse compiled modules whose
    source changed since they were built."""
    if os.environ.get("BOURSE_PURE"):
        if not any(isinstance(f, _PureFinder) for f in sys.meta_path):
            sys.meta_path.insert(0, _PureFinder())
        return
    built = [p for p in COMPILED if _compiled_beside(_SRC / p)]
    if not built:
        return  # pure Python: nothing to check
    try:
        recorded = json.loads((_SRC / "bourse" / "domain" / STAMP).read_text())
    except (OSError, ValueError):
        recorded = {}
    stale = [p for p in built if recorded.get(p) != digest(_SRC / p)]
    if stale:
        raise ImportError(
            f"{stale[0]} changed since its compiled module was built: run scripts/bootstrap "
            "(or set BOURSE_PURE=1 to run the Python source)"
        )


def describe() -> str:
    """One line: whether the matching core runs compiled, as Python, or as Python by choice."""
    if os.environ.get("BOURSE_PURE"):
        return "matching core: Python (BOURSE_PURE is set)"
    built = [p for p in COMPILED if _compiled_beside(_SRC / p)]
    if len(built) == len(COMPILED):
        return f"matching core: compiled by mypyc ({len(built)} modules)"
    if built:
        return f"matching core: {len(built)} of {len(COMPILED)} modules compiled"
    return "matching core: Python (not compiled at install)"
