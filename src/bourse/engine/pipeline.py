"""The engine thread's pipelined group commit: apply batch N+1 while batch N commits.

The engine thread (``Engine.start``) runs ``Pipeline.run``: it takes everything queued, applies
it in memory, and hands the batch to a committer thread; while that commit runs, the commands
that arrive are applied at once into the open batch N+1 (applying no longer waits for the
fsync). When N's commit finishes (``COMMITTED`` on the queue) N's callers are answered and its
listeners told, and N+1 is closed and committed. A caller is answered only after the
transaction holding its command committed. If N's commit fails, N+1 (applied on top of N) fails
with it and the engine rebuilds its state from the store; when one command can have caused the
failure, the engine then commits those commands again one at a time (``Engine._recover``).

A ``Probe`` (``engine.liveness``) on the queue is answered where a command taken in its place
could be: at once when nothing is committing (after taking the lock), else once the batch that
commits is settled. Commands are told from the markers by their type (a tuple), one check each.

What a batch is and how it is applied, committed and acknowledged is the engine's
(``engine.engine``); this module only orders those steps across the two threads.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable
from typing import Any, Protocol

from bourse.engine import commands as c
from bourse.engine.changes import BatchChanges
from bourse.engine.committer import Commit, Committer
from bourse.engine.inflight import InFlightReads
from bourse.engine.liveness import Probe
from bourse.engine.replies import Outcome, Reply, answer
from bourse.engine.trace import Trace

#: a queued command: what to apply, where its outcome goes, and who asked (``engine.trace``)
Item = tuple[c.Command, Reply, Trace]
#: put on the queue by ``Engine.stop``: drain what is applied, then end the thread
STOP = object()
#: put on the queue when a commit finishes (the pipelined loop answers it)
COMMITTED = object()


class Applied:
    """A batch applied in memory: its commands, their outcomes, its changes, and what the
    staged listeners publish once it has committed."""

    __slots__ = ("batch", "outcomes", "changes", "published")

    def __init__(
        self,
        batch: list[Item],
        outcomes: list[Outcome],
        changes: BatchChanges,
        published: list[Callable[[], None]],
    ) -> None:
        self.batch = batch
        self.outcomes = outcomes
        self.changes = changes
        self.published = published

    def answer(self) -> None:
        """Answer the callers (after the commit)."""
        answer(self.outcomes)


#: a batch whose commit runs on the committer thread, and that commit
InFlight = tuple[Applied, Commit]


class _Lock(Protocol):
    def acquire(self) -> bool: ...

    def release(self) -> None: ...


class Steps(Protocol):
    """What the pipeline uses of the engine (``engine.engine.Engine``): its queue, its lock
    and readers, and the steps of a batch, each run on the engine thread (the commit itself runs
    on the ``Committer``)."""

    @property
    def _queue(self) -> queue.SimpleQueue[Any]: ...
    @property
    def _readers(self) -> int: ...
    @property
    def _reads(self) -> InFlightReads: ...
    @property
    def lock(self) -> _Lock: ...
    @property
    def read_only(self) -> str | None: ...
    @property
    def max_batch(self) -> int: ...

    def _refuse(self, batch: list[Item]) -> None: ...
    def _check_writer(self) -> None: ...
    def _apply_into(self, batch: list[Item], outcomes: list[Outcome]) -> None: ...
    def _close(self, batch: list[Item], outcomes: list[Outcome]) -> Applied: ...
    def _acknowledge(self, applied: Applied, committed_in: float) -> None: ...
    def _fail(self, batches: list[list[Item]], exc: Exception) -> None: ...
    def _recover(self, batches: list[list[Item]], exc: Exception, *, committing: bool) -> None: ...


class Pipeline:
    """The engine thread's loop over ``engine``'s queue, committing on ``committer``."""

    def __init__(self, engine: Steps, committer: Committer) -> None:
        self.engine = engine
        self.committer = committer
        #: if ``run`` raised: the replies of every command it had taken and not answered (their
        #: outcome is unknown: a batch may have committed before the failure)
        self.orphans: list[Reply] = []
        #: probes taken and not answered yet (``engine.liveness``)
        self.probes: list[Probe] = []

    def run(self) -> None:
        """Apply commands while the previous batch commits (on ``committer``); answer a batch
        only once it committed.

        While batch N commits, every command that arrives is applied at once into the open
        batch N+1; when N's commit finishes (``COMMITTED`` on the queue), N is answered and N+1
        is closed and committed. The engine thread holds ``lock`` from the moment it applies a
        command until no applied command is left uncommitted, so ``Engine.read`` never sees
        uncommitted state: a waiting reader makes the engine commit what it applied and answer
        it before it takes more work. If N's commit fails, N+1 (applied on top of N) fails with
        it and the state is rebuilt from the store (and, when one command can have caused it,
        their commands are committed again one at a time: ``Engine._recover``).
        """
        engine = self.engine
        q = engine._queue
        inflight: InFlight | None = None
        #: the open batch: commands applied while ``inflight`` commits, and their outcomes
        items: list[Item] = []
        outcomes: list[Outcome] = []
        batch: list[Item] = []
        try:
            while True:
                if inflight is not None and engine._readers:  # a reader waits: drain, let it in
                    self._drain(inflight, items, outcomes)
                    inflight, items, outcomes = None, [], []
                    time.sleep(0)  # let the woken reader take the lock before we do
                if self.probes and inflight is None:  # a command could be applied now
                    engine.lock.acquire()
                    engine.lock.release()
                    self._answer_probes()
                item = q.get()
                if item is COMMITTED:
                    if inflight is not None and inflight[1].done:
                        inflight = self._next(inflight, items, outcomes)
                        items, outcomes = [], []
                    continue
                if type(item) is Probe:  # answered at the top, or once the commit settles
                    self.probes.append(item)
                    continue
                batch, stop = ([], True) if item is STOP else self._gather(item)
                if batch and engine.read_only is not None:
                    engine._refuse(batch)
                elif batch:
                    fresh = inflight is None
                    if fresh:
                        engine.lock.acquire()
                    checked = not fresh
                    try:
                        if fresh:  # the store may be down (the reload fails): the batch fails
                            engine._check_writer()
                            checked = True
                        engine._apply_into(batch, outcomes)
                    except Exception as exc:  # the store is down, or a bug: the state may diverge
                        items.extend(batch)
                        if not checked:
                            engine._fail([items], exc)
                        elif inflight is None or self._settle(*inflight, also=items):
                            engine._recover([items], exc, committing=False)
                        # else N's commit failed: _settle recovered N and these with it
                        inflight = None
                        items, outcomes = [], []
                        engine.lock.release()
                    else:
                        items.extend(batch)
                        # nothing committing: commit now; N committed (its signal may have been
                        # dropped by _gather), or the open batch is full: answer N, commit N+1
                        if inflight is None or inflight[1].done or len(items) >= engine.max_batch:
                            inflight = (
                                self._next(inflight, items, outcomes)
                                if inflight is not None
                                else self._start(engine._close(items, outcomes))
                            )
                            items, outcomes = [], []
                if stop:
                    if inflight is not None:
                        self._drain(inflight, items, outcomes)
                    return
        except BaseException:  # crash-only (engine.crash): nobody may wait for ever
            applied = inflight[0].batch if inflight is not None else []
            self.orphans = [fut for _, fut, _ in (*applied, *items, *batch)]
            raise

    def _start(self, applied: Applied) -> InFlight:
        """Commit ``applied`` on ``committer``; its end is signalled on the queue."""
        engine = self.engine
        engine._reads.inflight = applied.changes
        return applied, self.committer.submit(applied.changes)

    def _next(
        self, inflight: InFlight, items: list[Item], outcomes: list[Outcome]
    ) -> InFlight | None:
        """Wait for the running commit and answer it; then commit the open batch, if any (else
        release the lock). If the commit failed, the open batch fails with it."""
        if not self._settle(*inflight, also=items) or not items:
            self.engine.lock.release()
            return None
        return self._start(self.engine._close(items, outcomes))

    def _drain(self, inflight: InFlight, items: list[Item], outcomes: list[Outcome]) -> None:
        """Commit and answer everything applied, then release the lock."""
        following = self._next(inflight, items, outcomes)
        if following is not None:
            self._next(following, [], [])

    def _gather(self, first: Any) -> tuple[list[Item], bool]:
        """``first`` and whatever else is queued (up to ``max_batch``); whether STOP came.
        ``COMMITTED`` signals met on the way are dropped: the caller checks its commit; probes
        wait in ``probes``."""
        q = self.engine._queue
        batch = [first]
        while len(batch) < self.engine.max_batch:
            try:
                nxt = q.get_nowait()
            except queue.Empty:
                break
            if type(nxt) is tuple:  # a command (``Item``)
                batch.append(nxt)
            elif nxt is STOP:
                return batch, True
            elif type(nxt) is Probe:
                self.probes.append(nxt)
        return batch, False

    def _settle(self, applied: Applied, commit: Commit, also: list[Item]) -> bool:
        """Wait for ``applied``'s commit and answer it. If it failed, fail ``also`` (applied on
        top of it) with it, rebuild the state (committing again, one at a time, what one
        command's failure must not fail: ``Engine._recover``), and return False."""
        engine = self.engine
        try:
            committed_in = commit.result()
        except Exception as exc:
            engine._recover([applied.batch, also], exc, committing=True)
            self._answer_probes()
            return False
        engine._reads.inflight = None
        engine._acknowledge(applied, committed_in)
        applied.answer()
        self._answer_probes()
        return True

    def _answer_probes(self) -> None:
        if self.probes:
            for probe in self.probes:
                probe.answer()
            self.probes = []
