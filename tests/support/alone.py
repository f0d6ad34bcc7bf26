"""Tests that measure time run alone, even when pytest-xdist runs the others in parallel.

A test marked ``@pytest.mark.alone`` (a render budget, a latency promise) measures wall time,
which the suite's own workers would inflate on a small machine. Every test of an xdist run
holds a shared lock while it runs (setup, call and teardown); an ``alone`` test holds it
exclusively, so it starts once the tests in flight on the other workers have ended, and no
other test starts until it is done. ``tests/conftest.py`` also schedules the ``alone`` tests
last, where waiting for the tests in flight costs least.

The lock is a pair of ``flock`` files shared by the workers of one run (in the temporary
directory that holds theirs): a *turnstile* that an ``alone`` test takes first, so that workers starting new tests
queue behind it instead of starving it, and the *room* itself. ``flock`` locks go away with
their process, so a crashed worker leaves none behind. Without xdist (``-n 0``) a run has
one process and nothing to lock.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import pytest

#: seconds a test waits for the room: past the longest test (the docs' pages, 900 s)
WAIT_S = 1200.0
#: seconds between two tries at a lock
POLL_S = 0.05

_files: dict[str, IO[bytes]] = {}


def _run_dir(config: pytest.Config) -> Path | None:
    """The directory of this xdist run's lock files, or None outside an xdist worker: the
    controller's temporary directory, which holds each worker's own (``--basetemp``)."""
    if "PYTEST_XDIST_WORKER" not in os.environ or not config.option.basetemp:
        return None
    return Path(config.option.basetemp).parent


def _file(directory: Path, name: str) -> IO[bytes]:
    """This worker's one open file description of a lock file (flock locks belong to it)."""
    key = str(directory / name)
    if key not in _files:
        _files[key] = open(key, "ab")  # noqa: SIM115 - kept open for the worker's life
    return _files[key]


def _lock(f: IO[bytes], mode: int, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while True:
        try:
            fcntl.flock(f.fileno(), mode | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what}: the test lock was busy for {WAIT_S:.0f} s") from None
            time.sleep(POLL_S)


@contextmanager
def room(config: pytest.Config, alone: bool, what: str) -> Iterator[None]:
    """Hold the run's test lock around one test: exclusively if ``alone``, else shared."""
    directory = _run_dir(config)
    if directory is None:
        yield
        return
    turnstile, room_ = _file(directory, "turnstile"), _file(directory, "room")
    if alone:
        _lock(turnstile, fcntl.LOCK_EX, what)
        try:
            _lock(room_, fcntl.LOCK_EX, what)
            try:
                yield
            finally:
                fcntl.flock(room_.fileno(), fcntl.LOCK_UN)
        finally:
            fcntl.flock(turnstile.fileno(), fcntl.LOCK_UN)
        return
    _lock(turnstile, fcntl.LOCK_SH, what)
    try:
        _lock(room_, fcntl.LOCK_SH, what)
    finally:
        fcntl.flock(turnstile.fileno(), fcntl.LOCK_UN)
    try:
        yield
    finally:
        fcntl.flock(room_.fileno(), fcntl.LOCK_UN)
