"""How the engine answers a command: one hop back to whoever waits for it.

A command submitted from a thread waits on a ``concurrent.futures.Future``. A command awaited
on an asyncio loop (``Engine.run``, the HTTP order path) waits on that loop's own future
instead: the engine thread resolves it through the loop's ``call_soon_threadsafe``, once per
batch and loop for all of that loop's commands in the batch, so a request costs no
``concurrent`` future, no condition variable and no second callback chain
(``asyncio.wrap_future``), and a batch wakes the loop once, not once per command.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol


class Reply(Protocol):
    """Where a command's outcome goes (a ``concurrent.futures.Future`` is one)."""

    def done(self) -> bool: ...

    def set_result(self, result: Any) -> None: ...

    def set_exception(self, exception: BaseException) -> None: ...


#: a command's outcome: where it goes, the result, or the error
Outcome = tuple[Reply, Any, BaseException | None]


class LoopReply:
    """An asyncio loop's future, answered from the engine thread."""

    __slots__ = ("loop", "future", "answered")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.future: asyncio.Future[Any] = loop.create_future()
        self.answered = False

    def done(self) -> bool:
        return self.answered

    def set_result(self, result: Any) -> None:
        self.answered = True
        _post(self.loop, [(self.future, result, None)])

    def set_exception(self, exception: BaseException) -> None:
        self.answered = True
        _post(self.loop, [(self.future, None, exception)])


def answer(outcomes: list[Outcome]) -> None:
    """Resolve every outcome: concurrent futures at once, each loop's futures in one call."""
    loops: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any, Any]]] = {}
    for reply, result, error in outcomes:
        if reply.__class__ is LoopReply:
            reply.answered = True
            waiting = loops.get(reply.loop)
            if waiting is None:
                waiting = loops[reply.loop] = []
            waiting.append((reply.future, result, error))
        elif error is not None:
            reply.set_exception(error)
        else:
            reply.set_result(result)
    for loop, waiting in loops.items():
        _post(loop, waiting)


def _post(
    loop: asyncio.AbstractEventLoop, waiting: list[tuple[asyncio.Future[Any], Any, Any]]
) -> None:
    try:  # noqa: SIM105 (``contextlib.suppress`` runs Python ``__enter__``/``__exit__``)
        loop.call_soon_threadsafe(_resolve, waiting)
    except RuntimeError:  # a closed loop: nobody waits any more
        pass


def _resolve(waiting: list[tuple[asyncio.Future[Any], Any, Any]]) -> None:
    """On the loop: set each future (a cancelled request's future is left alone)."""
    for future, result, error in waiting:
        if future.done():
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
