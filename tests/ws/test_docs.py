"""The ccxt.pro snippet of docs/streams.md, run as written against a live server."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest

from bourse.domain.orders import BUY

from .live import live_ws

DOC = Path(__file__).resolve().parents[2] / "docs" / "streams.md"


def _snippet() -> str:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) == 1
    return blocks[0]


def test_the_streams_doc_snippet_runs(
    migrated_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with live_ws(migrated_url) as live:
        live.start_market_maker(interval=0.05)
        creds = live.credentials["user"]
        monkeypatch.setenv("BOURSE_URL", live.url)
        monkeypatch.setenv("BOURSE_API_KEY", creds["api_key"])
        monkeypatch.setenv("BOURSE_API_SECRET", creds["secret"])

        done = threading.Event()

        def move_balance() -> None:  # the snippet's watch_balance waits for a change
            i = 0
            while not done.wait(0.5):
                i += 1
                live.place("user", BUY, 4_000_000 + i, 10_000)

        mover = threading.Thread(target=move_balance, daemon=True)
        mover.start()
        try:
            exec(compile(_snippet(), str(DOC), "exec"), {"__name__": "__main__"})
        finally:
            done.set()
            mover.join(10)
    out = capsys.readouterr().out
    assert "best bid" in out and "book [[" in out and "USDT {" in out
