"""A ``bourse`` command in a process of its own that a test can wait on, read and kill -9.

``Proc(args, env, cwd)`` starts ``python -m bourse.cli ARGS`` with its stdout and stderr in a
file (nobody reads a pipe while the process runs, and a full one would block it); ``wait_for``
waits (bounded) until a regular expression appears in that output, failing with the output's
end if the process exits first; ``kill9`` and ``stop`` (SIGTERM, then SIGKILL) end it.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path


class Proc:
    def __init__(self, args: list[str], env: dict[str, str], cwd: Path, name: str) -> None:
        self.name = name
        self.log_path = cwd / f"{name}-{time.monotonic_ns()}.log"
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bourse.cli", *args],
            env={**env, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"},
            cwd=cwd,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def log(self, tail: int = 4000) -> str:
        """The end of the process's output."""
        return self.log_path.read_text(errors="replace")[-tail:]

    def wait_for(self, pattern: str, timeout: float = 60.0) -> re.Match[str]:
        """The first match of ``pattern`` in the output, once it appears."""
        deadline = time.monotonic() + timeout
        while True:
            found = re.search(pattern, self.log_path.read_text(errors="replace"))
            if found is not None:
                return found
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited {self.proc.returncode}: {self.log()}")
            assert time.monotonic() < deadline, f"{self.name}: no {pattern!r}: {self.log()}"
            time.sleep(0.05)

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill9(self) -> None:
        if self.alive:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        self._log.close()

    def stop(self, timeout: float = 30.0) -> int:
        if self.alive:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()
        return self.proc.returncode
