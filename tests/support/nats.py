"""The NATS server the bus tests use, and a bus of their own on it.

``NATS_URL`` is ``BOURSE_TEST_NATS_URL`` (default ``nats://127.0.0.1:4222``, the server
``scripts/test`` starts). Each test gets a ``NatsBus`` with a unique name, so its JetStream
stream and subject are its own even when several test runs share the server; the stream is
deleted afterwards. The tests never skip: with the server down they fail loudly.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from bourse.bus.nats import NatsBus

NATS_URL = os.environ.get("BOURSE_TEST_NATS_URL", "nats://127.0.0.1:4222")


def unique_name() -> str:
    return f"t{uuid.uuid4().hex[:16]}"


@contextmanager
def nats_bus(name: str | None = None, **kwargs: object) -> Iterator[NatsBus]:
    """A started ``NatsBus`` with its own stream, closed and deleted on exit."""
    bus = NatsBus(NATS_URL, name or unique_name(), **kwargs)  # type: ignore[arg-type]
    bus.start()
    try:
        yield bus
    finally:
        bus.close()
        bus.delete_stream()
