"""``cli.common.table`` at 80 columns (a pipe or a small terminal): the ``keep`` columns stay
whole, even with spaces in them, and every other column keeps at least its longest word; the
table grows wider than the terminal instead of squeezing a column to nothing."""

from __future__ import annotations

import pytest

from bourse.cli.common import table

KEY = "mx0vfd57632a1659619e8265563c994f"


def test_every_column_keeps_its_data_at_80_columns(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    table(
        "API keys of account 101",
        ("api key", "label", "permissions", "ip", "symbols", "expires (UTC)"),
        [
            (
                KEY,
                "a rather long label for a bot",
                "SPOT_DEAL_READ, SPOT_DEAL_WRITE",
                "any",
                "BTCUSDT, ETHUSDT",
                "2027-03-03 19:32",
            )
        ],  # fmt: skip
        keep=("api key", "label", "expires (UTC)"),
    )
    text = capsys.readouterr().out
    lines = text.splitlines()
    header = next(line for line in lines if "api key" in line)
    cols = ("api key", "label", "permissions", "ip", "symbols", "expires (UTC)")
    assert [c.strip() for c in header.split("┃")[1:-1]] == list(cols), text
    first = next(line for line in lines if KEY in line)
    cells = [c.strip() for c in first.split("│")[1:-1]]
    assert cells == [KEY, "a rather long label for a bot", "SPOT_DEAL_READ,", "any",
                     "BTCUSDT,", "2027-03-03 19:32"], text  # fmt: skip
    assert "SPOT_DEAL_WRITE" in text and "ETHUSDT" in text
    assert len(first) > 80  # wider than the terminal, nothing lost
