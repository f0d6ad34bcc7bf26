"""``/docs`` lists every guide of ``docs/`` as a link, and ``/docs/NAME.md`` shows it rendered
(anchors as GitHub's, raw HTML as text, every link resolves); nothing outside ``docs/*.md`` is
served, and a visit reads only the guide it shows."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from bourse.web import guides
from tests.web.conftest import Demo

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_docs_page_links_every_guide_and_serves_it(demo: Demo) -> None:
    page = httpx.get(demo.url + "/docs")
    assert page.status_code == 200
    listed = re.findall(r'<a href="/docs/([^"]+)">', page.text)
    on_disk = sorted(p.name for p in DOCS.glob("*.md"))
    assert listed == on_disk and {"operations.md", "scaling.md", "security.md"} <= set(listed)
    for name in on_disk:
        r = httpx.get(f"{demo.url}/docs/{name}")
        title = (DOCS / name).read_text().splitlines()[0].removeprefix("# ")
        assert r.status_code == 200 and "<h1 " in r.text and f">{title}</h1>" in r.text, name
        assert "script-src 'self'" in r.headers["content-security-policy"]
    # a link of one guide to a section of another lands on the heading's anchor
    brokers = httpx.get(demo.url + "/docs/brokers.md").text
    assert 'href="oauth.md"' in brokers
    operations = httpx.get(demo.url + "/docs/operations.md").text
    assert '<h2 id="back-up-and-restore">' in operations
    for name in ("README.md", "..README.md", "nope.md", "operations"):
        r = httpx.get(f"{demo.url}/docs/{name}")
        assert r.status_code == 404 and "No such guide" in r.text, name
    assert httpx.get(f"{demo.url}/docs/..%2FREADME.md").status_code == 404  # not a route


def test_raw_html_is_text_and_headings_get_githubs_anchors(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text(
        "# A `guide`\n\n<script>alert(1)</script>\n\n## Stop, and [go](b.md) on\n\n## Stop, "
        "and go on\n\n| x | y |\n|---|---|\n| 1 | 2 |\n"
    )
    (tmp_path / "notes.txt").write_text("# not a guide\n")
    assert guides.guides(tmp_path) == [guides.Guide("a.md", "A `guide`")]
    found = guides.render("a.md", tmp_path)
    assert found is not None
    title, html = found
    assert title == "A `guide`" and "<script>" not in html and "&lt;script&gt;" in html
    assert '<h2 id="stop-and-go-on">' in html and '<h2 id="stop-and-go-on-1">' in html
    assert "<table>" in html
    assert guides.render("notes.txt", tmp_path) is None
    assert guides.guides(tmp_path / "missing") == []


def test_every_link_of_every_guide_resolves(demo: Demo) -> None:
    """A relative link lands on a page that is there, and its #anchor on a heading of it; a
    link out of ``docs/`` (the repository's files) is shown as the file's path instead."""
    pages: dict[str, httpx.Response] = {}

    def fetch(url: str) -> httpx.Response:
        if url not in pages:
            pages[url] = httpx.get(url)
        return pages[url]

    names = sorted(p.name for p in DOCS.glob("*.md"))
    checked = 0
    for name in names:
        url = f"{demo.url}/docs/{name}"
        body = fetch(url).text.split('<article class="guide">', 1)[1].split("</article>", 1)[0]
        for href in re.findall(r'href="([^"]*)"', body):
            if urlsplit(href).scheme:  # an address elsewhere (https://, mailto:)
                continue
            target, _, frag = urljoin(url, href.replace("&amp;", "&")).partition("#")
            r = fetch(target)
            assert r.status_code == 200, (name, href, r.status_code)
            assert not frag or f'id="{frag}"' in r.text, (name, href)
            checked += 1
    assert checked > 40  # the guides do link each other (and their own sections)
    operations = fetch(f"{demo.url}/docs/operations.md").text
    assert "../BENCHMARKS.md" not in operations
    assert "<code>BENCHMARKS.md</code> (in the repository)" in operations


def test_links_out_of_docs_become_repository_paths(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text(
        "# A\n\nSee [b](b.md#x), [the numbers](../BENCHMARKS.md#cpu), [src/x.py](../src/x.py), "
        "[here](#a), [there](https://example.com/y) and [c](sub/c.md).\n"
    )
    (tmp_path / "b.md").write_text("# B\n\n## x\n")
    found = guides.render("a.md", tmp_path)
    assert found is not None
    html = found[1]
    assert 'href="b.md#x"' in html and 'href="#a"' in html
    assert 'href="https://example.com/y"' in html
    assert "the numbers (<code>BENCHMARKS.md</code> in the repository)" in html
    assert "<code>src/x.py</code> (in the repository)" in html
    assert "c (<code>docs/sub/c.md</code> in the repository)" in html
    assert html.count("href=") == 3


def test_a_visit_reads_only_what_changed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``/docs`` and ``/docs/NAME.md`` are public: titles are read once per change of the
    file, and showing a guide reads that guide only (a name is checked against the listing)."""
    for name, title in (("a.md", "A"), ("b.md", "B"), ("c.md", "C")):
        (tmp_path / name).write_text(f"# {title}\n\ntext\n")
    opened: list[str] = []
    real_open = Path.open

    def spy(self: Path, *args: Any, **kwargs: Any) -> Any:
        opened.append(self.name)
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", spy)
    assert [g.title for g in guides.guides(tmp_path)] == ["A", "B", "C"]
    assert sorted(opened) == ["a.md", "b.md", "c.md"]
    opened.clear()
    assert [g.title for g in guides.guides(tmp_path)] == ["A", "B", "C"] and opened == []
    (tmp_path / "b.md").write_text("# B again\n")
    later = os.stat(tmp_path / "b.md").st_mtime_ns + 10**9
    os.utime(tmp_path / "b.md", ns=(later, later))
    opened.clear()
    assert [g.title for g in guides.guides(tmp_path)] == ["A", "B again", "C"]
    assert opened == ["b.md"]
    opened.clear()
    assert guides.render("c.md", tmp_path) is not None and opened == ["c.md"]
    opened.clear()
    assert guides.render("d.md", tmp_path) is None and opened == []
