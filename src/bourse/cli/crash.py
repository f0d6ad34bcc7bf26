"""``bourse serve`` and ``bourse engine`` end the process when the engine thread crashes.

The engine has logged the exception with its traceback (``bourse.engine.crash``); this prints
one line saying what happens and exits ``EXIT_CRASHED`` at once, without the orderly stop: the
crashed loop may still hold the engine's lock and callers wait on answers that will never come,
so a graceful shutdown could hang, while a crash is exactly what recovery from the store is
built for (``kill -9``, tests/faults). Nothing acknowledged is lost (an answer comes only after
the commit); a request in flight sees its connection close and is retried with its client id.
The supervisor (systemd ``Restart=``, ``bourse serve --workers``) starts it again.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from bourse.cli.common import err
from bourse.engine import Engine

#: EX_SOFTWARE (sysexits.h): an internal error; any non-zero exit restarts it under systemd
EXIT_CRASHED = 70


def exit_on_engine_crash(engine: Any, command: str) -> None:
    """Make a crash of ``engine``'s thread end this process (``command`` names it); nothing for
    an engine on another process (a gateway's)."""
    if not isinstance(engine, Engine):
        return

    def crashed(exc: BaseException) -> None:
        what = " ".join(str(exc).split()) or type(exc).__name__
        err.print(
            f"{command}: the engine thread crashed ({type(exc).__name__}: {what}); exiting "
            f"{EXIT_CRASHED} for the supervisor to restart it (it recovers from the store)",
            highlight=False,
            soft_wrap=True,
        )
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_CRASHED)

    engine.on_crash = crashed
    if engine.crashed is not None:  # before the hook was set
        crashed(engine.crashed)
