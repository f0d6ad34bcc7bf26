"""The guides of ``docs/`` on the server: ``/docs`` lists every ``docs/*.md`` of the source
tree (found on disk, so the list cannot drift from the folder) and ``/docs/NAME.md`` shows one,
rendered from its markdown.

The guides are read from the clone the server runs from (``src/`` beside ``docs/``); an
installed wheel has no ``docs/``, and ``/docs`` then says where they are. The markdown is
ours, but raw HTML in it is shown as text all the same (``html=False``): the pages keep their
strict Content-Security-Policy. Headings get GitHub's anchors, so a link such as
``operations.md#back-up-and-restore`` lands where it does on GitHub.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

#: docs/ of the source tree this module runs from (src/bourse/web/guides.py -> the root)
DOCS = Path(__file__).resolve().parents[3] / "docs"


@dataclass(frozen=True, slots=True)
class Guide:
    name: str  # "oauth.md", its URL's last part
    title: str  # its first heading


def _title(path: Path) -> str:
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return path.stem


def guides(folder: Path = DOCS) -> list[Guide]:
    """Every guide of ``folder``, by file name (none: a folder that is not there)."""
    if not folder.is_dir():
        return []
    return [Guide(p.name, _title(p)) for p in sorted(folder.glob("*.md"))]


def render(name: str, folder: Path = DOCS) -> tuple[str, str] | None:
    """``(title, html)`` of the guide ``name`` (a file of ``folder``, nothing else), or None."""
    if name not in {g.name for g in guides(folder)}:  # never a path the visitor made up
        return None
    path = folder / name
    return _rendered(path, path.stat().st_mtime_ns)


@lru_cache(maxsize=64)
def _rendered(path: Path, mtime_ns: int) -> tuple[str, str]:
    from markdown_it import MarkdownIt  # rich's dependency too; loaded by the first guide

    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    tokens = md.parse(path.read_text(encoding="utf-8"))
    seen: dict[str, int] = {}
    for i, tok in enumerate(tokens):
        if tok.type == "heading_open":
            text = tokens[i + 1].content
            slug = anchor(text)
            n = seen.get(slug, 0)
            seen[slug] = n + 1
            tok.attrSet("id", slug if n == 0 else f"{slug}-{n}")
    return _title(path), md.renderer.render(tokens, md.options, {})


def anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, markup and punctuation gone (``-`` and ``_``
    kept), spaces to ``-``."""
    text = re.sub(r"[`*]|\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")
