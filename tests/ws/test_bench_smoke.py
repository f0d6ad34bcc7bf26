"""``bench/ws.py`` still runs end to end (tiny: 5 subscribers, 2 s per phase), so the WebSocket
benchmark cannot rot. Its figures are not checked; BENCHMARKS.md holds a real run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "ws.py"
SUMMARY = (
    "| bourse serve --demo |",
    "| bare replay ",
    "ratio msgs/s ours/bare: ",
    "p99 lag: ours ",
)


def test_bench_ws_quick_prints_its_summary() -> None:
    cmd = [sys.executable, str(BENCH), "--quick", "--subscribers", "5", "--seconds", "2"]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    try:
        out, _ = proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)  # the bench stops its servers on SIGTERM
        try:
            out, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
        raise AssertionError(f"bench/ws.py did not finish in 240 s:\n{out}") from None
    assert proc.returncode == 0, out
    for line in SUMMARY:
        assert line in out, f"no {line!r} in:\n{out}"
    assert "5/5" in out, out
