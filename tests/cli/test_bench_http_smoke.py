"""``bench/http.py`` still runs end to end (tiny: one second a phase, signed orders and
cancels), so the benchmark of issue 16 cannot rot. Its figures are not checked; BENCHMARKS.md
holds real runs."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "http.py"


@pytest.mark.slow
def test_bench_http_runs_and_every_signed_request_is_accepted() -> None:
    # scripts/test installs Debian's wrk when it is missing: never skipped in CI
    assert shutil.which("wrk"), (
        "wrk is not installed (scripts/test installs it: apt-get install wrk)"
    )
    out = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--seconds",
            "1",
            "--seq-seconds",
            "1",
            "--max-rate",
            "3000",
            "--connections",
            "4",
            "--only",
            "order,cancel",
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    rows = {
        m.group(1): m.group(2)
        for m in re.finditer(r"^\| (hello|order|cancel) \|.*\| (\d+)[^|]*\|$", out.stdout, re.M)
    }
    assert rows == {"hello": "0", "order": "0", "cancel": "0"}, out.stdout  # no error answer
    assert "signed order:" in out.stdout and "fsync" in out.stdout
