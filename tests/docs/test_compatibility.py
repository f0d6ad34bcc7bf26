"""docs/compatibility.md agrees with what the server answers: no row claims an endpoint that is
not served, no served endpoint is missing, and every endpoint of the MEXC reference has a row."""

from __future__ import annotations

import re
from pathlib import Path

from bourse.api.mexc.routes import ENDPOINTS

ROOT = Path(__file__).resolve().parents[2]
ROW = re.compile(r"^\| `(GET|POST|PUT|DELETE) (/\S+)` \| (answered|not answered)", re.M)


def rows() -> dict[tuple[str, str], str]:
    text = (ROOT / "docs" / "compatibility.md").read_text()
    return {(m.group(1), m.group(2)): m.group(3) for m in ROW.finditer(text)}


def test_every_served_endpoint_is_listed_as_answered() -> None:
    listed = rows()
    for ep in ENDPOINTS:
        assert listed.get((ep.method, ep.path)) == "answered", (ep.method, ep.path)


def test_no_row_claims_an_endpoint_that_is_not_served() -> None:
    served = {(ep.method, ep.path) for ep in ENDPOINTS}
    for key, status in rows().items():
        assert (status == "answered") == (key in served), key


def test_every_reference_endpoint_has_a_row() -> None:
    reference = ROOT.parent / "shared" / "reference" / "mexc-api.md"
    text = reference.read_text()
    listed = rows()
    found = re.finditer(
        r"`((?:GET|POST|PUT|DELETE)(?:(?: and |/| ?/ ?)(?:GET|POST|PUT|DELETE))*) (/api/v[0-9]/[A-Za-z0-9/_.-]+)",
        text,
    )
    for m in found:
        path = m.group(2).rstrip("./")
        if path == "/api/v3/rebate/affiliate":  # the reference lists the family as ".../..."
            continue
        for method in re.findall(r"GET|POST|PUT|DELETE", m.group(1)):
            assert (method, path) in listed, (method, path)
