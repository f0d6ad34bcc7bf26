"""The guard against a stale compiled matching core (``bourse.native``): a compiled module whose
source changed since its build refuses to load, with the one-line fix; a fresh one loads."""

from __future__ import annotations

import importlib.machinery
import json
from pathlib import Path

import pytest

from bourse import native


def _tree(root: Path, *, stale: bool) -> None:
    """A source tree holding every compiled module's ``.py``, a compiled file beside the first
    and the build's digests (of the sources as built: changed since when ``stale``)."""
    for rel in native.COMPILED:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"# {rel}\n")
    first = root / native.COMPILED[0]
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    (first.parent / (first.stem + suffix)).write_bytes(b"")
    stamp = {rel: native.digest(root / rel) for rel in native.COMPILED}
    if stale:
        first.write_text("# edited after the build\n")
    (root / "bourse" / "domain" / native.STAMP).write_text(json.dumps(stamp))


def test_a_source_edited_after_its_build_is_refused_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BOURSE_PURE", raising=False)
    monkeypatch.setattr(native, "_SRC", tmp_path)
    _tree(tmp_path, stale=True)
    with pytest.raises(ImportError) as refused:
        native.guard()
    message = str(refused.value)
    assert message.startswith(native.COMPILED[0]) and "scripts/bootstrap" in message
    assert "\n" not in message
    assert native.describe() == f"matching core: 1 of {len(native.COMPILED)} modules compiled"


def test_a_fresh_build_loads_and_pure_python_needs_no_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BOURSE_PURE", raising=False)
    monkeypatch.setattr(native, "_SRC", tmp_path)
    _tree(tmp_path, stale=False)
    native.guard()  # the digests match
    (tmp_path / "bourse" / "domain" / native.STAMP).unlink()
    with pytest.raises(ImportError):
        native.guard()  # compiled, with no record of what it was built from
    for so in tmp_path.rglob("*.so"):
        so.unlink()
    native.guard()  # nothing compiled: nothing to check
    assert native.describe() == "matching core: Python (not compiled at install)"
