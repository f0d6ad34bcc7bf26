"""``--cpu``: a server keeps itself and every thread it starts on one CPU (``bourse.cli.cpu``),
by default the one it started on; ``none`` leaves it to the scheduler; a CPU it may not run on
is refused in one line."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from bourse.cli import cpu as cpu_module
from bourse.cli.cpu import (
    CpuChoiceError,
    _ranges,
    allowed_cpus,
    choose,
    claim,
    current_cpu,
    pin,
)
from bourse.cli.cpu_host import is_server, pinned_server_pids
from tests.support.served import Served

MANY = len(allowed_cpus()) >= 2


def _policies_of_threads(pid: int) -> set[int]:
    """Each thread's scheduling policy (a set: one element if they all agree)."""
    return {os.sched_getscheduler(int(task.name)) for task in Path(f"/proc/{pid}/task").iterdir()}


def _cpus_of_threads(pid: int) -> set[str]:
    """Each thread's ``Cpus_allowed_list`` (a set: one element if they all agree)."""
    out = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        for line in (task / "status").read_text().splitlines():
            if line.startswith("Cpus_allowed_list:"):
                out.add(line.split()[1])
    return out


def test_choose_reads_auto_none_and_numbers() -> None:
    allowed = allowed_cpus()
    assert choose("none") is None and choose(" NONE ") is None
    if MANY:
        assert choose("auto") in allowed
        # the processes of --workers: one CPU each, in turn
        assert [choose("auto", i) for i in range(len(allowed) + 1)] == [*allowed, allowed[0]]
    else:  # one CPU: nothing to keep together
        assert choose("auto") is None and choose("auto", 1) is None
    assert choose(str(allowed[-1])) == allowed[-1]
    assert current_cpu() in allowed


@pytest.mark.skipif(not MANY, reason="needs two CPUs to choose between")
def test_auto_keeps_away_from_a_cpu_another_server_is_pinned_to(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    allowed = allowed_cpus()
    here = current_cpu()
    assert here is not None
    # this process is not pinned: the scheduler may move it between two reads (a CI run did)
    monkeypatch.setattr(cpu_module, "current_cpu", lambda: here)
    assert choose("auto", taken={}) == here  # free: where it started
    taken_here = choose("auto", taken={here: 1})
    assert taken_here != here and taken_here in allowed
    # every CPU taken: the least taken, where it started among equals
    assert choose("auto", taken=dict.fromkeys(allowed, 2) | {allowed[-1]: 1}) == allowed[-1]
    assert choose("auto", taken=dict.fromkeys(allowed, 1)) == here
    # --workers spreads by index, and a number is a number, whatever is taken
    assert choose("auto", 0, taken={allowed[0]: 5}) == allowed[0]
    assert choose(str(here), taken={here: 5}) == here


@pytest.mark.parametrize(
    ("argv", "server"),
    [
        (["/srv/.venv/bin/python", "/srv/.venv/bin/bourse", "serve", "--demo"], True),
        (["python", "-m", "bourse.cli", "gateway", "--bus", "nats://x"], True),
        (["bourse", "engine"], True),
        (["/srv/.venv/bin/python", "/srv/.venv/bin/bourse", "status"], False),
        (["python", "bench/http.py", "--hello", "serve"], False),
        (["vim", "bourse.py", "serve"], False),
        ([""], False),
    ],
)
def test_a_bourse_server_is_known_by_its_command_line(argv: list[str], server: bool) -> None:
    assert is_server(argv) is server


def test_the_pinned_servers_of_this_host_are_found() -> None:
    """A process whose command line is a server's counts once pinned (as ``taskset`` would),
    and not while it may run anywhere."""
    cpu = allowed_cpus()[-1]
    code = "import time; time.sleep(30)"
    proc = subprocess.Popen([sys.executable, "-c", code, "/x/bourse", "engine"])
    try:
        os.sched_setaffinity(proc.pid, {cpu})
        assert pinned_server_pids().get(proc.pid) == cpu
        if MANY:
            os.sched_setaffinity(proc.pid, set(allowed_cpus()))
            assert proc.pid not in pinned_server_pids()
    finally:
        proc.kill()
        proc.wait(10)


@pytest.mark.parametrize(
    ("text", "says"),
    [("abc", "expected auto, none or a CPU number"), ("-1", "expected auto"), ("4096", "CPUs")],
)
def test_choose_refuses_what_cannot_be_used(text: str, says: str) -> None:
    with pytest.raises(CpuChoiceError, match=says):
        choose(text)


def test_ranges_are_written_as_linux_lists_them() -> None:
    assert _ranges([0, 1, 2, 5, 7, 8]) == "0-2,5,7-8"
    assert _ranges([3]) == "3"


def test_a_pin_holds_for_the_threads_started_after_it() -> None:
    """Pinned in a thread of its own (not to pin the test process): the thread it starts is
    on the same CPU, under SCHED_BATCH; a thread started before keeps every CPU and the
    default policy."""
    cpu = allowed_cpus()[-1]
    seen: dict[str, tuple[set[int], int]] = {}

    def here() -> tuple[set[int], int]:
        return os.sched_getaffinity(0), os.sched_getscheduler(0)

    def child() -> None:
        seen["child"] = here()

    def pinned() -> None:
        pin(cpu)
        seen["pinned"] = here()
        t = threading.Thread(target=child)
        t.start()
        t.join()

    t = threading.Thread(target=pinned)
    t.start()
    t.join()
    batch = ({cpu}, os.SCHED_BATCH)
    assert seen == {"pinned": batch, "child": batch}
    assert here() == (set(allowed_cpus()), os.SCHED_OTHER)  # this thread: untouched


def test_a_pin_keeps_a_policy_the_operator_chose() -> None:
    """Started under ``chrt --idle`` (say), a pinned thread stays SCHED_IDLE."""
    seen: list[int] = []

    def pinned() -> None:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        pin(allowed_cpus()[-1])
        seen.append(os.sched_getscheduler(0))

    t = threading.Thread(target=pinned)
    t.start()
    t.join()
    assert seen == [os.SCHED_IDLE]


def test_a_cpu_the_process_may_not_use_is_one_line(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bourse.cli", "serve", "--cpu", "4096", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "BOURSE_HOME": str(tmp_path)},
    )
    assert proc.returncode == 1, proc
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("error: --cpu 4096: this process may run on CPUs ")


@pytest.mark.skipif(not MANY, reason="needs two CPUs to choose between")
def test_claim_pins_away_from_a_cpu_another_server_holds(monkeypatch: pytest.MonkeyPatch) -> None:
    """``claim`` (what ``serve``, ``engine`` and ``gateway`` call) asks the host: in a thread
    of its own (not to pin the test process), told its CPU is taken, it pins elsewhere."""
    seen: dict[str, object] = {}

    def claimed() -> None:
        here = current_cpu()
        monkeypatch.setattr(cpu_module, "pinned_servers", lambda: {here: 1})
        seen["here"], seen["claimed"] = here, claim("auto")
        seen["now"] = os.sched_getaffinity(0)

    t = threading.Thread(target=claimed)
    t.start()
    t.join()
    assert seen["claimed"] != seen["here"]
    assert seen["now"] == {seen["claimed"]}


@pytest.mark.parametrize("cpu", ["auto", "none"])
def test_a_running_server_keeps_every_thread_where_cpu_says(tmp_path: Path, cpu: str) -> None:
    home = tmp_path / ".bourse"
    home.mkdir()
    served = Served(f"sqlite:///{home / 'bourse.db'}", home)
    served.cli("migrate")
    served.start("--cpu", cpu)
    try:
        assert served.server is not None
        pid = served.server.proc.pid
        every = _ranges(allowed_cpus())
        if cpu == "none" or not MANY:
            assert _cpus_of_threads(pid) == {every}
            assert _policies_of_threads(pid) == {os.SCHED_OTHER}
        else:  # one CPU, the same for the event loop, the engine, the committer, the log...
            assert _policies_of_threads(pid) == {os.SCHED_BATCH}  # no wake-up preemption
            (only,) = _cpus_of_threads(pid)
            assert only.isdigit() and int(only) in allowed_cpus()
            assert len(list(Path(f"/proc/{pid}/task").iterdir())) >= 4
            # announced first, then the banner: wait for it
            served.server.wait_for(re.escape(f"CPU        {only} (every thread"), timeout=30)
    finally:
        served.stop()
