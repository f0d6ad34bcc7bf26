"""The Bourse servers already pinned on this host, by CPU, and the lock a server picks its CPU
under (``--cpu auto``, ``bourse.cli.cpu``).

Separate services (systemd's ``bourse-engine`` and ``bourse-gateway@N``, or servers started by
hand) each start on whatever CPU the scheduler gave them, and a pin is for the life of the
process: two busy servers pinned to the same CPU would share it for good while another idles.
So ``auto`` looks at the others first. A server is a process whose command line runs
``bourse`` (the script, or ``python -m bourse...``) with ``serve``, ``engine`` or ``gateway``;
it counts where its affinity is one CPU (pinned by ``--cpu`` or by ``taskset``). Servers
started in the same instant take turns: each picks and pins under an exclusive ``flock`` on
``LOCK``, held for the few milliseconds that takes.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

ROLES = frozenset({"serve", "engine", "gateway"})
LOCK = Path(tempfile.gettempdir()) / "bourse-cpu.lock"


def is_server(argv: list[str]) -> bool:
    """Whether a command line (``/proc/PID/cmdline``, split) runs a Bourse server."""
    for i, arg in enumerate(argv):
        module = i > 0 and argv[i - 1] == "-m" and arg.split(".")[0] == "bourse"
        if module or os.path.basename(arg) == "bourse":
            return any(a in ROLES for a in argv[i + 1 :])
    return False


def pinned_servers() -> dict[int, int]:
    """CPU -> how many other Bourse servers on this host are pinned to it alone."""
    out: dict[int, int] = {}
    for cpu in pinned_server_pids().values():
        out[cpu] = out.get(cpu, 0) + 1
    return out


def pinned_server_pids() -> dict[int, int]:
    """PID -> CPU of every other Bourse server on this host pinned to one CPU alone."""
    out: dict[int, int] = {}
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:  # a process may end while we look, or hide its details: skip it
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
            if not is_server(argv):
                continue
            cpus = os.sched_getaffinity(int(entry.name))
        except OSError:
            continue
        if len(cpus) == 1:
            out[int(entry.name)] = next(iter(cpus))
    return out


@contextlib.contextmanager
def host_lock() -> Iterator[None]:
    """Hold the host's CPU-choice lock (best effort: without a usable temp folder, none).
    Opened read-only (``flock`` needs no write access, so servers of different users share
    it) and never through a symbolic link (the folder is world-writable)."""
    try:
        fd = os.open(LOCK, os.O_RDONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError:
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock
