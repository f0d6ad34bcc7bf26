"""A database with its ``BOURSE_HOME``, as an operator has it: the ``bourse`` command on it (in
this process, ``cli``) and a ``bourse serve`` of it in a process of its own (``start``, a
``tests.support.process.Proc``, waited on until it announces itself; ``stop``).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from typer.testing import CliRunner

from bourse.cli import app
from bourse.operations.runtime import running_server
from tests.support.process import Proc

#: the server key of every served test database
SECRET_KEY = "Tuuxnd6aTIwQYXUtHsKbGsZ7gmu2iQ4HuAFL7C7ocLU="
#: seconds any one command may take
COMMAND_S = 20.0
#: seconds ``bourse serve`` may take to announce itself (a demo seeds first)
START_S = 90.0


@dataclass
class Served:
    url: str
    home: Path
    server: Proc | None = None
    base: str = ""

    def env(self, **extra: str) -> dict[str, str]:
        """This environment without any other ``BOURSE_*``, for this database and home;
        ``extra`` adds to it ("" unsets)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("BOURSE_")}
        env.update(
            BOURSE_DATABASE_URL=self.url,
            BOURSE_HOME=str(self.home),
            BOURSE_SECRET_KEY=SECRET_KEY,
            COLUMNS="100",
        )
        env.update(extra)
        return {k: v for k, v in env.items() if v != ""}

    def cli(self, *args: str, code: int = 0) -> str:
        """Run ``bourse ARGS`` in this process (a subprocess costs its imports); its stdout, or
        its stderr when ``code`` is not 0."""
        t0 = time.monotonic()
        env = {k: v for k, v in self.env().items() if k.startswith("BOURSE_")}
        res = CliRunner().invoke(app, list(args), env=env)
        assert time.monotonic() - t0 < COMMAND_S
        assert res.exit_code == code, (args, res.stdout, res.stderr, res.exception)
        return res.stdout if code == 0 else res.stderr

    def start(self, *args: str) -> None:
        """``bourse serve --port 0 --no-rate-limit ARGS``, once it announced itself (``base``
        is its URL then)."""
        argv = ["serve", "--port", "0", "--no-rate-limit", "--log-level", "warning", *args]
        self.server = Proc(argv, self.env(), self.home, "serve")
        deadline = time.monotonic() + START_S
        while (announced := running_server(self.home, self.url)) is None:
            assert self.server.alive, self.server.log()
            assert time.monotonic() < deadline, f"not announced: {self.server.log()}"
            time.sleep(0.1)
        self.base = announced.url

    def stop(self) -> None:
        """SIGTERM: it finishes what is queued and withdraws its announcement."""
        if self.server is not None:
            self.server.stop()
            self.server = None
