"""The guides of ``docs/`` on the server: ``/docs`` lists every ``docs/*.md`` of the source
tree (found on disk, so the list cannot drift from the folder) and ``/docs/NAME.md`` shows one,
rendered from its markdown.

The guides are read from the clone the server runs from (``src/`` beside ``docs/``); an
installed wheel has no ``docs/``, and ``/docs`` then says where they are. The markdown is
ours, but raw HTML in it is shown as text all the same (``html=False``): the pages keep their
strict Content-Security-Policy. Headings get GitHub's anchors, so a link such as
``operations.md#back-up-and-restore`` lands where it does on GitHub; a link that leaves
``docs/`` (``../BENCHMARKS.md``), which no ``/docs`` address could serve, becomes its
repository path as text.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

#: docs/ of the source tree this module runs from (src/bourse/web/guides.py -> the root)
DOCS = Path(__file__).resolve().parents[3] / "docs"


@dataclass(frozen=True, slots=True)
class Guide:
    name: str  # "oauth.md", its URL's last part
    title: str  # its first heading


def _title(path: Path) -> str:
    return _title_of(path, path.stat().st_mtime_ns)


@lru_cache(maxsize=128)
def _title_of(path: Path, mtime_ns: int) -> str:
    """The guide's first heading, read again only when the file changed (``/docs`` is public:
    a visitor does not make the server read every guide)."""
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.startswith("# "):
                return line[2:].strip()
    return path.stem


def _names(folder: Path) -> set[str]:
    """The file names of ``folder``'s guides, from its listing alone (nothing read)."""
    return {p.name for p in folder.glob("*.md")} if folder.is_dir() else set()


def guides(folder: Path = DOCS) -> list[Guide]:
    """Every guide of ``folder``, by file name (none: a folder that is not there)."""
    return [Guide(n, _title(folder / n)) for n in sorted(_names(folder))]


def render(name: str, folder: Path = DOCS) -> tuple[str, str] | None:
    """``(title, html)`` of the guide ``name`` (a file of ``folder``, nothing else), or None."""
    if name not in _names(folder):  # never a path the visitor made up
        return None
    path = folder / name
    return _rendered(path, path.stat().st_mtime_ns)


@lru_cache(maxsize=64)
def _rendered(path: Path, mtime_ns: int) -> tuple[str, str]:
    from markdown_it import MarkdownIt  # rich's dependency too; loaded by the first guide

    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    tokens = md.parse(path.read_text(encoding="utf-8"))
    seen: dict[str, int] = {}
    served = _names(path.parent)
    for i, tok in enumerate(tokens):
        if tok.type == "heading_open":
            text = tokens[i + 1].content
            slug = anchor(text)
            n = seen.get(slug, 0)
            seen[slug] = n + 1
            tok.attrSet("id", slug if n == 0 else f"{slug}-{n}")
        elif tok.type == "inline" and tok.children:
            tok.children = _served_links(tok.children, served)
    return _title_of(path, mtime_ns), md.renderer.render(tokens, md.options, {})


def _served_links(children: list[Any], served: set[str]) -> list[Any]:
    """The inline tokens with every relative link to a file that is not a served guide (one
    that leaves ``docs/``, such as ``../BENCHMARKS.md``) made text: its repository path, in
    code, which no server address could resolve but a clone or GitHub does."""
    from markdown_it.token import Token

    out: list[Any] = []
    opened: list[tuple[str | None, int]] = []  # per open link: path to say (None: kept), start
    for t in children:
        if t.type == "link_open":
            path = _outside(str(t.attrGet("href") or ""), served)
            opened.append((path, len(out)))
            if path is None:
                out.append(t)
        elif t.type == "link_close" and opened:
            path, start = opened.pop()
            if path is None:
                out.append(t)
                continue
            label = "".join(c.content for c in out[start:])
            said = Token("code_inline", "code", 0, content=path, markup="`")
            if label in (path, posixpath.basename(path)):
                out[start:] = [said, Token("text", "", 0, content=" (in the repository)")]
            else:
                out += [Token("text", "", 0, content=" ("), said,
                        Token("text", "", 0, content=" in the repository)")]  # fmt: skip
        else:
            out.append(t)
    return out


def _outside(href: str, served: set[str]) -> str | None:
    """The repository path of a relative ``href`` of a guide that is not a served guide;
    ``None`` for an address (scheme, ``/``), an anchor, or a guide of the folder."""
    if not href or href.startswith(("#", "/")) or re.match(r"[A-Za-z][\w+.-]*:", href):
        return None
    target = href.split("#", 1)[0].split("?", 1)[0]
    if target in served:
        return None
    return posixpath.normpath(posixpath.join("docs", target))


def anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, markup and punctuation gone (``-`` and ``_``
    kept), spaces to ``-``."""
    text = re.sub(r"[`*]|\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")
