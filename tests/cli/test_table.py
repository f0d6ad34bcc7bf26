"""The CLI's tables on an 80-column console (a pipe, or a small terminal): the ``keep``
columns are never cut, and the others fold but stay readable (a header word, an enum value or
a short id is never broken into one-character lines)."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from bourse.cli import common

REQUEST_ID = "c5df4b0517fab89a000000000000007f"
API_KEY = "mx0v7a982eba0780f63ac87310220362"


@pytest.fixture
def printed(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    out = io.StringIO()
    monkeypatch.setattr(common, "console", Console(file=out, width=80, color_system=None))
    return out


def test_money_audit_keeps_every_column_readable(printed: io.StringIO) -> None:
    columns = ("time (UTC)", "command", "account", "asset", "amount", "origin", "request id")
    row = ("2026-12-03 16:11:11", "CreditDeposit", "104", "USDT", "100")
    common.table(
        "Money movements",
        columns,
        [(*row, "operator:operator (root@vm)", REQUEST_ID)],
        keep=("time (UTC)", "command", "origin"),
    )
    text = printed.getvalue()
    for word in ("time (UTC)", "command", "account", "asset", "amount", "origin", "request"):
        assert word in text, text
    for cell in (*row, "operator:operator (root@vm)", REQUEST_ID[:16], REQUEST_ID[16:]):
        assert cell in text, text


def test_a_key_stays_whole_and_values_fold_at_word_boundaries(printed: io.StringIO) -> None:
    common.table(
        "API keys of account 104",
        ("api key", "label", "permissions", "ip", "symbols", "expires (UTC)"),
        [(API_KEY, "", "SPOT_DEAL_READ, SPOT_DEAL_WRITE", "any", "all", "2027-03-03 16:09")],
        keep=("api key",),
    )
    text = printed.getvalue()
    for whole in (API_KEY, "permissions", "symbols", "SPOT_DEAL_READ,", "SPOT_DEAL_WRITE"):
        assert whole in text, text


def test_a_long_title_stays_on_one_line(printed: io.StringIO) -> None:
    title = "Account 104 (USER, active) Alice"
    common.table(title, ("asset", "free", "locked"), [("USDT", "200", "0")])
    assert title in printed.getvalue()
