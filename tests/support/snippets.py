"""Running the documentation's code blocks as written: fenced blocks of a Markdown file, a
server process whose output is waited on with a bound, and stopping it whatever happens."""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


def blocks(doc: Path, lang: str) -> list[str]:
    """The bodies of ``doc``'s fenced blocks tagged ``lang``, in order."""
    return [body for kind, body in FENCE.findall(doc.read_text()) if kind == lang]


def wait_for(proc: subprocess.Popen[str], needle: str, seconds: float) -> str:
    """Read ``proc``'s stdout until ``needle`` shows (at most ``seconds``); return what was read.
    Fails if the process exits first or the time runs out."""
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    seen = ""
    deadline = time.monotonic() + seconds
    while needle not in seen and time.monotonic() < deadline:
        try:
            seen += lines.get(timeout=1)
        except queue.Empty:
            assert proc.poll() is None, seen
    assert needle in seen, seen
    return seen


def stop(proc: subprocess.Popen[str]) -> None:
    """Stop ``proc`` (started with ``start_new_session=True``) and everything in its group."""
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
