"""The single-writer engine with a pipelined group commit.

One thread owns all mutable exchange state. Callers ``submit`` commands from any thread (or
``await engine.run(cmd)`` from asyncio); the engine takes everything queued, applies it in
order in memory, and commits the whole batch in ONE store transaction on a committer thread.
While batch N commits, the commands that arrive are applied at once into batch N+1 (the
pipeline: applying no longer waits for the fsync); when N's commit finishes, N's callers are
answered and its listeners told, and N+1 is closed and committed. A caller is answered only
after the transaction holding its command committed, so every acknowledged command is durable;
throughput grows with load (group commit).

If a command fails with a ``DomainError`` nothing was changed (the domain checks before it
posts) and only that caller sees the error. Any other exception, or a failed commit, means the
in-memory state may have diverged from the store: the engine reloads its state from the store,
which still holds exactly the last committed batch (crash-only), for the batch and the batch
applied on top of it. When one command can have caused the failure (applying it raised, or the
store refused a value of the batch: ``SqlStore.refused``) the engine then applies and commits
those commands again one at a time, in order, each in its own batch: only a command that fails
alone is refused (``CommandFailed``), the others are answered after their own commit. When the
store itself failed (out of reach, busy, another engine's, the writer lock lost:
``SqlStore.down``), the reload failed, or ``ISOLATE_STREAK`` commands in a row fail alone, the
commands left fail (``EngineUnavailable``), as the whole batch did before. Handlers that read
the store see the committing batch laid over it (``engine.inflight``).

The loop that orders applying and committing across the engine thread and its committer
thread is ``engine.pipeline``; this module owns the state and what a batch is: how commands are
applied, a batch closed, committed, acknowledged or failed.

Each command is applied by its handler, looked up by type in ``engine.handlers.HANDLERS``;
client-id deduplication lives in ``engine.idempotency``, refusing replayed signed requests in
``engine.replays``, the in-memory state and its rebuild from
the store in ``engine.state``, and whether the engine thread still serves (a probe through its
queue, which the heartbeat asks) in ``engine.liveness``.

Readers that need a consistent view (balances, depth) call ``engine.read(fn)``, which runs
``fn`` under the lock the engine holds from applying a command until it is committed; a waiting
reader makes the engine drain its pipeline first, so readers only ever see committed state.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from typing import Any, Literal, TypeVar

from bourse.domain.errors import DomainError, InvalidParameter
from bourse.domain.fees import FeeSchedule
from bourse.domain.matching import Exchange
from bourse.domain.orders import OrderStatus, StpMode
from bourse.domain.reference_price import fold
from bourse.domain.wallet import FINAL_WITHDRAWAL, Wallet
from bourse.engine import commands as c
from bourse.engine.changes import BatchChanges, EngineStore
from bourse.engine.clock import Clock, now_ms
from bourse.engine.committer import Committer
from bourse.engine.crash import fault_from_env
from bourse.engine.handlers import HANDLERS, Handler
from bourse.engine.idempotency import DEFAULT_RETENTION_MS
from bourse.engine.inflight import InFlightReads
from bourse.engine.liveness import Liveness
from bourse.engine.pipeline import COMMITTED, STOP, Applied, Item, Pipeline
from bourse.engine.replays import replay_key
from bourse.engine.replica import apply_committed
from bourse.engine.replies import LoopReply, Outcome, Reply
from bourse.engine.state import load_state
from bourse.engine.trace import MONEY_MOVEMENTS, Trace, current, origin_records

log = logging.getLogger("bourse.engine")

T = TypeVar("T")
#: the steps of a batch, in order (``Engine._attempt``): the one that failed
Stage = Literal["check", "apply", "close", "commit"]


#: commands in a row that fail alone, each applied and committed by itself, after which the
#: engine stops trying them one at a time: the cause is not theirs (the store refuses every batch)
ISOLATE_STREAK = 4


class EngineUnavailable(Exception):
    """The batch could not be committed; the command did not take effect."""


class CommandFailed(EngineUnavailable):
    """This command failed alone, applied and committed in a batch of its own (the store refused
    what it wrote, or applying it raised): it did not take effect, the rest of its batch did."""


class Engine:
    """The single writer: owns the state, applies commands in order, commits batch by batch."""

    def __init__(
        self,
        store: EngineStore,
        *,
        fees: FeeSchedule | None = None,
        stp_default: StpMode = StpMode.CANCEL_TAKER,
        max_batch: int = 2000,
        clock: Clock = now_ms,
        order_id_retention_ms: int = DEFAULT_RETENTION_MS,
    ) -> None:
        self.store = store
        default = fees or FeeSchedule()
        self._default_fees = default.maker, default.taker
        self.stp_default = stp_default
        self.max_batch = max_batch
        self.clock = clock
        #: how long a closed order's client id stays reserved (``engine.idempotency``)
        self.order_id_retention_ms = order_id_retention_ms
        self.lock = threading.RLock()
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        #: staged listeners (``subscribe_staged``), plain ones wrapped, in subscription order
        self._stages: list[Callable[[BatchChanges], Callable[[], None]]] = []
        #: the store as handlers read it: the committing batch laid over it (pipelining)
        self._reads = InFlightReads(store)
        #: threads waiting in ``read`` (the engine lets its pipeline drain for them)
        self._readers = 0
        self._readers_lock = threading.Lock()
        self.batches = 0
        #: commands applied (refused ones included), for the metrics' commands/s
        self.commands = 0
        #: called on the engine thread after each committed batch with (commands, seconds the
        #: commit took): the metrics' batch size and commit latency (keep it to counter updates)
        self.observer: Callable[[int, float], None] | None = None
        #: the state may hold a batch that was not committed (its reload failed too, e.g. the
        #: database was down): the next batch reloads before it applies anything
        self._stale = False
        #: why this engine refuses commands (a follower's copy of another process's engine)
        self.read_only: str | None = None
        #: what escaped the engine thread's loop, if anything (``engine.crash``)
        self.crashed: BaseException | None = None
        #: called on the engine thread with it, once logged (``bourse serve`` exits there)
        self.on_crash: Callable[[BaseException], None] | None = None
        self._fault = fault_from_env()  # tests only (``engine.crash.RAISE_IN_ENGINE``)
        #: whether the engine thread still serves (probes through the queue: the heartbeat's)
        self.liveness = Liveness(self._queue.put, lambda: self.batches)
        self._load()

    # --- state -------------------------------------------------------------------------------
    def _load(self) -> None:
        self.state = load_state(
            self.store,
            self._default_fees,
            self.stp_default,
            self.clock,
            self.order_id_retention_ms,
        )
        self._reads.inflight = None
        self.state.store = self._reads

    def reload(self) -> None:
        """Load the state again from the store's last committed batch (a follower after a gap)."""
        with self._exclusive():
            self._load()

    def mirror(self, changes: BatchChanges, version: int) -> None:
        """Fold in a batch another engine committed, as its ``version`` (a read-only follower;
        ``engine.replica``). Listeners are not called: they are the writer's."""
        with self._exclusive():
            apply_committed(self.state, changes)
            self.batches = version

    @property
    def exchange(self) -> Exchange:
        return self.state.exchange

    @property
    def wallet(self) -> Wallet:
        return self.state.wallet

    @property
    def idempotency(self) -> Mapping[tuple[str, int, str], tuple[str, int]]:
        """(scope, account, client id) -> (fingerprint, result id) of every client id kept
        (an order's is forgotten a while after its order closed: ``engine.idempotency``)."""
        return self.state.idempotency.keys

    @property
    def next_account_id(self) -> int:
        return self.state.next_account_id

    @property
    def next_deposit_id(self) -> int:
        return self.state.next_deposit_id

    @property
    def next_settlement_id(self) -> int:
        return self.state.next_settlement_id

    # --- lifecycle ---------------------------------------------------------------------------
    def start(self) -> Engine:
        if self._thread is None:
            # the loaded books and balances live for the whole run: keep them out of the
            # cyclic GC's generations so full collections do not rescan them
            gc.freeze()
            self._thread = threading.Thread(target=self._loop, name="bourse-engine", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self._thread is not None:
            self._queue.put(STOP)
            self._thread.join(timeout)
            self._thread = None

    def subscribe(self, listener: Callable[[BatchChanges], None]) -> None:
        """Call ``listener(changes)`` on the engine thread after every committed batch."""
        self._stages.append(lambda changes: functools.partial(listener, changes))

    def subscribe_staged(self, stage: Callable[[BatchChanges], Callable[[], None]]) -> None:
        """For listeners that read the state a batch left (books, balances): the engine calls
        ``stage(changes)`` on its thread right after applying the batch, before anything of
        the next one is applied (the batch is not committed yet, so publish nothing there),
        and calls what it returns after the batch committed, as it calls ``subscribe``'s
        listeners; never if the commit failed."""
        self._stages.append(stage)

    # --- submitting --------------------------------------------------------------------------
    def submit(self, command: c.Command) -> Future[Any]:
        """Queue ``command``; its ``engine.trace`` (request id, origin) is the caller's."""
        fut: Future[Any] = Future()
        if self.read_only is not None:
            fut.set_exception(EngineUnavailable(self.read_only))
            return fut
        self._queue.put((command, fut, current.get()))
        return fut

    @property
    def queue_depth(self) -> int:
        """Commands queued and not yet taken by the engine thread (approximate)."""
        return self._queue.qsize()

    @property
    def running(self) -> bool:
        """Whether the engine thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def execute(self, command: c.Command, timeout: float | None = 30.0) -> Any:
        """Submit and wait (blocking); raises the command's error."""
        if self._thread is None:
            return self.apply_batch_now([command])[0]
        return self.submit(command).result(timeout)

    async def run(self, command: c.Command) -> Any:
        """Submit ``command`` and await its outcome: the engine thread answers this loop
        directly (``engine.replies``), one hop there and one back."""
        if type(self).submit is not Engine.submit:  # commands go elsewhere (a gateway's)
            return await asyncio.wrap_future(self.submit(command))
        reply = LoopReply(asyncio.get_running_loop())
        if self.read_only is not None:
            raise EngineUnavailable(self.read_only)
        self._queue.put((command, reply, current.get()))
        return await reply.future

    def read(self, fn: Callable[[Engine], T]) -> T:
        """Run ``fn(engine)`` against committed state."""
        with self._exclusive():
            return fn(self)

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        """Hold ``lock`` with nothing uncommitted applied: the engine, seeing a waiting thread,
        lets its pipeline drain (commits what is applied and answers it) before more work."""
        with self._readers_lock:
            self._readers += 1
        try:
            with self.lock:
                yield
        finally:
            with self._readers_lock:
                self._readers -= 1

    def apply_batch_now(self, commands: list[c.Command]) -> list[Any]:
        """Apply and commit ``commands`` on the calling thread (tests, tools, recovery-free use).

        Returns each result or raises the first error after the batch is committed.
        """
        futs: list[Future[Any]] = [Future() for _ in commands]
        trace = current.get()
        self._run_batch([(cmd, fut, trace) for cmd, fut in zip(commands, futs, strict=True)])
        return [f.result() for f in futs]

    # --- the loop ----------------------------------------------------------------------------
    def _loop(self) -> None:
        committer = Committer(self._commit, functools.partial(self._queue.put, COMMITTED))
        pipeline = Pipeline(self, committer)
        try:
            pipeline.run()
        except BaseException as exc:  # a bug in the loop itself: crash-only (engine.crash)
            self._crash(exc, pipeline.orphans)
        finally:
            committer.shutdown()

    def _crash(self, exc: BaseException, orphans: Sequence[Reply] = ()) -> None:
        """Something escaped the loop (on the engine thread, which ends): log it once, refuse
        commands from now on, answer the commands it had taken (``orphans``: their outcome is
        unknown, their batch may have committed) and call ``on_crash``. If that returns (no
        process to end: an embedded engine), answer what is queued, reload the committed state
        and let readers in."""
        log.critical(
            "the engine thread crashed: no more commands; restart the process (it recovers "
            "from the store)",
            exc_info=exc,
        )
        self.read_only = f"the engine thread crashed ({type(exc).__name__}); restart the server"
        self.crashed = exc
        unknown = EngineUnavailable(f"{self.read_only}: the command's outcome is unknown")
        for reply in orphans:
            if not reply.done():
                with contextlib.suppress(Exception):  # a reply already set meanwhile
                    reply.set_exception(unknown)
        if self.on_crash is not None:
            self.on_crash(exc)
        for _ in range(self._queue.qsize()):  # what was queued before read_only was set
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, tuple):
                self._refuse([item])
        try:
            self._load()
        except Exception:
            log.exception("reload after the engine thread crashed failed")
        for _ in range(1_000):  # the lock the loop held (RLock: once per nested hold)
            try:
                self.lock.release()
            except RuntimeError:  # not (or no longer) held by this thread
                break

    def _run_batch(self, batch: list[Item]) -> None:
        """Apply and commit ``batch`` on the calling thread, then answer it (no pipelining)."""
        if self.read_only is not None:
            self._refuse(batch)
            return
        with self.lock:
            failed = self._attempt(batch)
            if failed is None:
                return
            stage, exc = failed
            if stage in ("apply", "commit"):
                try:
                    self._recover([batch], exc, committing=stage == "commit")
                except BaseException:  # closing a command alone escapes (crash-only): with
                    self._reload()  # no engine thread, no ``_crash`` rebuilds the state
                    raise
            else:
                self._fail([batch], exc)

    def _attempt(self, batch: list[Item]) -> tuple[Stage, Exception] | None:
        """Check the writer, apply ``batch``, close it, commit it, then acknowledge and answer
        it (the caller holds the lock): None, or the stage that failed and why (nothing of the
        batch is committed or answered; the state may hold what of it was applied)."""
        stage: Stage = "check"
        try:
            self._check_writer()
            stage = "apply"
            outcomes: list[Outcome] = []
            self._apply_into(batch, outcomes)
            stage = "close"
            applied = self._close(batch, outcomes)
            stage = "commit"
            committed_in = self._commit(applied.changes)
        except Exception as exc:  # a bug, a failed commit, the store down: the caller decides
            return stage, exc
        self._acknowledge(applied, committed_in)
        applied.answer()
        return None

    def _refuse(self, batch: list[Item]) -> None:
        for _, fut, _trace in batch:
            fut.set_exception(EngineUnavailable(self.read_only or "read-only"))

    def _check_writer(self) -> None:
        """Before applying on a state with nothing uncommitted: reload it if it may be stale."""
        if self._stale:
            self._load()
            self._stale = False
        # one writer per database: if another process wrote since we loaded, reload
        ensure_writer = getattr(self.store, "ensure_writer", None)
        if ensure_writer is not None and not ensure_writer():
            self._load()

    def _apply_into(
        self,
        batch: list[Item],
        outcomes: list[Outcome],
    ) -> None:
        """Apply ``batch`` in memory (the caller holds the lock), adding each outcome to
        ``outcomes``. Raises if something other than a refusal went wrong: the state may then
        have diverged from the store."""
        for command, fut, trace in batch:
            try:
                outcomes.append((fut, self._apply(command, trace), None))
            except DomainError as refused:
                outcomes.append((fut, None, refused))

    def _close(
        self,
        batch: list[Item],
        outcomes: list[Outcome],
    ) -> Applied:
        """Collect the changes of the commands applied since the last close; staged listeners
        see the state exactly as they left it."""
        if self._fault is not None:
            self._fault.count(len(batch))
        changes = self._collect()
        published: list[Callable[[], None]] = []
        for stage in self._stages:
            try:
                published.append(stage(changes))
            except Exception:
                log.exception("staged listener failed")
        return Applied(batch, outcomes, changes, published)

    def _commit(self, changes: BatchChanges) -> float:
        """Commit one batch's changes (any thread); the seconds it took."""
        started = time.perf_counter()
        if not changes.is_empty():
            self.store.commit(changes)
        return time.perf_counter() - started

    def _acknowledge(self, applied: Applied, committed_in: float) -> None:
        """A batch committed: count it, then tell the observer and the listeners."""
        self.batches += 1
        self.commands += len(applied.batch)
        observer = self.observer
        if observer is not None:
            try:
                observer(len(applied.batch), committed_in)
            except Exception:
                log.exception("batch observer failed")
        for publish in applied.published:
            try:
                publish()
            except Exception:
                log.exception("listener failed")

    def _fail(self, batches: list[list[Item]], exc: Exception) -> None:
        """Fail every command of ``batches`` (none was committed) and rebuild the state from
        the store, which holds exactly the last committed batch."""
        items = [item for batch in batches for item in batch]
        log.error(
            "batch of %d commands failed; reloading state (request ids: %s)",
            len(items),
            _request_ids(items),
            exc_info=exc,
        )
        err = EngineUnavailable(f"batch not committed: {exc}")
        for _, fut, _trace in items:
            if not fut.done():
                fut.set_exception(err)
        self._reload()

    def _reload(self) -> bool:
        """Rebuild the state from the store after a failure; whether that worked (if not, the
        next batch reloads first: ``_check_writer``)."""
        try:
            self._load()
        except Exception:
            self._stale = True  # never build on the uncommitted batch
            log.exception("reload after failed batch failed")
            return False
        self._stale = False
        return True

    def _recover(self, batches: list[list[Item]], exc: Exception, *, committing: bool) -> None:
        """``batches`` (none committed) failed while applying or ``committing``: if one command
        can have caused ``exc``, reload and run them again one at a time (``_isolate``), else
        fail them all (``_fail``)."""
        items = [item for batch in batches for item in batch]
        if not items or not self._isolable(exc, committing=committing):
            self._fail(batches, exc)
        elif not self._reload():
            self._fail([items], exc)
        elif len(items) == 1:  # it failed alone already
            self._refuse_alone(items[0], exc)
        else:
            log.error(
                "batch of %d commands failed; reloaded the state, now applying each alone "
                "(request ids: %s)",
                len(items),
                _request_ids(items),
                exc_info=exc,
            )
            self._isolate(items)

    def _isolable(self, exc: Exception, *, committing: bool) -> bool:
        """Whether one command can have caused ``exc``: the store refused a value of the batch
        (``committing``), or applying raised and the store did not fail."""
        if committing:
            refused = getattr(self.store, "refused", None)
            return refused is not None and bool(refused(exc))
        down = getattr(self.store, "down", None)
        return down is None or not down(exc)

    def _isolate(self, items: list[Item]) -> None:
        """Apply and commit each of ``items`` alone, in order, on the state reloaded from the
        store, answering each after its own commit; one that fails alone is refused and the
        state reloaded. Stops (the rest fail) when the store fails, the reload fails, or
        ``ISOLATE_STREAK`` commands in a row fail alone. The caller holds the lock."""
        streak = 0
        for n, item in enumerate(items):
            failed = self._attempt([item])
            if failed is None:
                streak = 0
                continue
            stage, exc = failed
            if stage == "close":  # a bug in closing escapes (crash-only: ``engine.crash``)
                raise exc
            streak += 1
            if (
                stage == "check"  # the store is down
                or streak >= ISOLATE_STREAK
                or not self._isolable(exc, committing=stage == "commit")
            ):
                self._fail([items[n:]], exc)
                return
            self._refuse_alone(item, exc)
            self._reload()  # if that fails, the next ``_check_writer`` fails the rest

    def _refuse_alone(self, item: Item, exc: Exception) -> None:
        """Answer a command that failed alone (nothing of it is in the store or the state)."""
        _, fut, trace = item
        log.error(
            "command failed alone; refused (request id: %s)",
            trace.request_id or "none",
            exc_info=exc,
        )
        why = str(exc).splitlines()[0] if str(exc) else ""  # PostgreSQL adds lines of context
        fut.set_exception(CommandFailed(f"command not applied: {type(exc).__name__}: {why}"))

    def _collect(self) -> BatchChanges:
        """This batch's changes: the ledger's and the exchange's, plus the handlers' own."""
        state = self.state
        ex = state.exchange
        changes = state.pending
        state.pending = BatchChanges()
        postings, touched = ex.ledger.drain()
        balances = ex.ledger.balances
        changes.postings = postings
        changes.balances = {k: (balances[k][0], balances[k][1]) for k in touched}
        orders, trades = ex.drain()
        changes.orders = [o.__copy__() for o in orders.values()]  # snapshots: open ones change on
        changes.trades = trades
        if trades:
            changes.references = fold(ex.references, trades)
        changes.sequences = state.sequences()
        state.idempotency.collect(changes, self.clock())  # closed orders' client ids expire
        return changes

    # --- applying ----------------------------------------------------------------------------
    def _apply(self, cmd: c.Command, trace: Trace) -> object:
        """Run ``cmd``'s handler (``engine.handlers``) against the state; a money movement's
        origin (``trace``) joins the batch, committed with it (``engine.trace``)."""
        handler = HANDLERS.get(type(cmd)) or _handler_for(cmd)
        now = self.clock()
        if trace.command_seq:  # committed with the batch, refused or not (``engine.trace``)
            self.state.command_seq = trace.command_seq
        replay = replay_key(cmd)
        if replay:
            self.state.replays.check(replay, now)  # a replayed signed request is refused
        state = self.state
        if type(cmd) not in MONEY_MOVEMENTS:
            result = handler(state, cmd, now)
        else:
            journal = state.exchange.ledger.journal
            before = len(journal), len(state.pending.withdrawals)
            result = handler(state, cmd, now)
            if (len(journal), len(state.pending.withdrawals)) != before:
                moved = journal[before[0] :]  # this command's own postings
                state.pending.origins.extend(origin_records(cmd, trace, result, now, moved))
        if replay:
            state.replays.remember(state.pending, replay, now)
        return result


def _request_ids(items: list[Item]) -> str:
    """The request ids of ``items``, for a log line."""
    return ", ".join(sorted({t.request_id for _, _, t in items if t.request_id})) or "none"


def _handler_for(cmd: c.Command) -> Handler:
    """The handler of a subclass of a known command, else refuse the command."""
    for cls in type(cmd).__mro__:
        handler = HANDLERS.get(cls)
        if handler is not None:
            return handler
    raise InvalidParameter(f"unknown command {type(cmd).__name__}")


__all__ = ["CommandFailed", "Engine", "EngineUnavailable", "FINAL_WITHDRAWAL", "OrderStatus"]
