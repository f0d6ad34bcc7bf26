"""``--cpu``: the one CPU a server process (and every thread it starts) runs on.

A Bourse process runs Python on one core at a time (the GIL), and an order goes through
several of its threads: the event loop, the engine, the committer, the access log. Left to the
scheduler, those threads sit on different CPUs, and every hand-over between them is a wake-up
across CPUs (an inter-processor interrupt, dear on a virtual machine) for no parallelism in
return. Kept on one CPU, a hand-over is a local switch: on the 2-vCPU machine of BENCHMARKS.md
the same server took ~25% more orders per second, and the other endpoints gained too.

So a server pins itself by default (``auto``): to the CPU the scheduler started it on, unless
another Bourse server on this host is pinned there (``bourse.cli.cpu_host``: then to the CPU
the fewest are pinned to), or, for the processes of ``bourse serve --workers``, one CPU each in
turn. ``--cpu none`` leaves the placement to the scheduler (a host whose other work would crowd
that CPU); ``--cpu N`` picks it. The pin must come before the process starts a thread: a
thread inherits its creator's CPUs when it starts, and a thread already running keeps its own.

A pinned process also runs under ``SCHED_BATCH`` (inherited the same way), which turns off the
scheduler's wake-up preemption. Without it, a thread woken by another of the same process
(the engine by the event loop's command, the loop by the engine's reply) took the CPU at once,
found the GIL held by the thread it had just pushed aside, and slept again: two context
switches for nothing, ~2.7 per order. Under SCHED_BATCH the woken thread runs when the running
one blocks or yields the GIL: 0.7 switches per order and ~10% less CPU per order
(BENCHMARKS.md). Time slices and fairness towards other processes are unchanged; only the
wake-up that preempts is gone.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

import typer

from bourse.cli.common import fail
from bourse.cli.cpu_host import host_lock, pinned_servers

AUTO = "auto"
NONE = "none"
#: the ``--cpu`` option, the same on every command that serves
CpuOption = Annotated[
    str,
    typer.Option(
        envvar="BOURSE_CPU",
        help="The CPU this process and its threads run on: auto (the one it starts on, if "
        "no other Bourse server is pinned there; bourse serve --workers gives each process "
        "its own), none (the scheduler's choice) or a CPU number (docs/operations.md).",
    ),
]


class CpuChoiceError(ValueError):
    """A ``--cpu`` value that cannot be used here (the message says why, in one line)."""


def allowed_cpus() -> list[int]:
    """The CPUs this process may run on, in order."""
    return sorted(os.sched_getaffinity(0))


def current_cpu() -> int | None:
    """The CPU this thread runs on right now (``/proc/self/stat``), if Linux says."""
    try:
        stat = Path("/proc/thread-self/stat").read_text()
        return int(stat[stat.rindex(")") + 2 :].split()[36])
    except (OSError, ValueError, IndexError):
        return None


def choose(
    text: str, index: int | None = None, taken: Mapping[int, int] | None = None
) -> int | None:
    """The CPU ``--cpu text`` means (None: do not pin). ``index``: the process's place among
    several started together (``--workers``), which ``auto`` spreads one CPU each. ``taken``:
    CPU -> the other servers pinned to it (default: this host's, ``cpu_host``)."""
    value = text.strip().lower()
    allowed = allowed_cpus()
    if value == NONE:
        return None
    if value == AUTO:
        if len(allowed) < 2:  # one CPU: nothing to keep together
            return None
        if index is not None:
            return allowed[index % len(allowed)]
        here = current_cpu()
        here = here if here in allowed else allowed[0]
        taken = pinned_servers() if taken is None else taken
        # where it started if free (its caches are warm there), else the least taken
        return min(allowed, key=lambda c: (taken.get(c, 0), c != here, c))
    if not value.isdigit():
        raise CpuChoiceError(f"--cpu {text!r}: expected auto, none or a CPU number")
    cpu = int(value)
    if cpu not in allowed:
        raise CpuChoiceError(f"--cpu {cpu}: this process may run on CPUs {_ranges(allowed)}")
    return cpu


def choose_or_fail(text: str, index: int | None = None) -> int | None:
    """``choose``, its refusal the command's one-line error (exit 1)."""
    try:
        return choose(text, index)
    except CpuChoiceError as exc:
        raise fail(str(exc)) from None


def claim(text: str) -> int | None:
    """``choose_or_fail`` and ``pin``, under the host's lock (``cpu_host``), so servers
    started at the same moment see each other's pin; the CPU pinned to, if any."""
    with host_lock():
        cpu = choose_or_fail(text)
        pin(cpu)
    return cpu


def pin(cpu: int | None) -> None:
    """Keep the calling thread, and every thread it starts from now on, on ``cpu``, under
    ``SCHED_BATCH`` (see the module docstring)."""
    if cpu is None:
        return
    os.sched_setaffinity(0, {cpu})
    try:  # only from the default policy: an operator's chrt (real time, idle) stands
        if os.sched_getscheduler(0) == os.SCHED_OTHER:
            os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    except OSError:  # a sandbox that forbids it: the pin alone still holds
        pass


def _ranges(cpus: list[int]) -> str:
    """``[0, 1, 2, 5]`` as ``0-2,5``."""
    out: list[str] = []
    for cpu in cpus:
        if out and out[-1].split("-")[-1] == str(cpu - 1):
            out[-1] = f"{out[-1].split('-')[0]}-{cpu}"
        else:
            out.append(str(cpu))
    return ",".join(out)
