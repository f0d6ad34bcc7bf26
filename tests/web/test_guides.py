"""``/docs`` lists every guide of ``docs/`` as a link, and ``/docs/NAME.md`` shows it rendered
(anchors as GitHub's, raw HTML as text); nothing outside ``docs/*.md`` is served."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

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
