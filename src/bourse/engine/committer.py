"""The committer thread: commits the engine's batches, one at a time, off the engine thread.

The engine thread hands a closed batch over (``Committer.submit``) and goes on applying the
next one; when the commit is done, the committer wakes the engine thread through the engine's
own queue (``signal``: ``pipeline.COMMITTED``). A ``concurrent.futures`` executor did this
before; its future per batch (a condition variable to create, lock and notify on both threads,
a work item, a done-callback) cost more Python than the small batches of a loaded server's
commit itself. A ``Commit`` is a plain slot object and a lock the committer releases when it
is done, for the rare caller that must wait (the open batch is full, a reader waits, stop).
"""

from __future__ import annotations

import _thread
import queue
import threading
from collections.abc import Callable

from bourse.engine.changes import BatchChanges


class Commit:
    """One batch's commit: done or not, and then the seconds it took or why it failed."""

    __slots__ = ("changes", "seconds", "error", "done", "_finished")

    def __init__(self, changes: BatchChanges) -> None:
        self.changes = changes
        self.seconds = 0.0
        self.error: BaseException | None = None
        #: set by the committer once ``seconds`` or ``error`` is final
        self.done = False
        self._finished = _thread.allocate_lock()
        self._finished.acquire()  # released by the committer when the commit is done

    def result(self) -> float:
        """Wait until the commit is done; the seconds it took, or raise why it failed."""
        if not self.done:
            self._finished.acquire()
            self._finished.release()
        if self.error is not None:
            raise self.error
        return self.seconds


class Committer:
    """One thread that runs ``commit(changes)`` for each submitted batch, in order, and calls
    ``signal()`` after each."""

    def __init__(self, commit: Callable[[BatchChanges], float], signal: Callable[[], None]) -> None:
        self._commit = commit
        self._signal = signal
        self._jobs: queue.SimpleQueue[Commit | None] = queue.SimpleQueue()
        # a daemon: at exit, a commit cut short is rolled back, and nothing of it was answered
        self._thread = threading.Thread(target=self._run, name="bourse-commit", daemon=True)
        self._thread.start()

    def submit(self, changes: BatchChanges) -> Commit:
        job = Commit(changes)
        self._jobs.put(job)
        return job

    def shutdown(self) -> None:
        """Finish the commits submitted, then end the thread."""
        self._jobs.put(None)
        self._thread.join()

    def _run(self) -> None:
        jobs = self._jobs
        while (job := jobs.get()) is not None:
            try:
                job.seconds = self._commit(job.changes)
            except BaseException as exc:  # the engine thread decides what a failure means
                job.error = exc
            job.done = True
            job._finished.release()
            self._signal()
