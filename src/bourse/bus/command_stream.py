"""The command stream on NATS JetStream: where gateways put engine commands for the engine.

One stream per exchange (``BOURSE_<name>_CMD`` on ``bourse.<name>.commands``), with work-queue
retention: a command stays in it until the engine acknowledged it, which the engine does only
after the command's batch is committed and its reply sent, so the stream holds exactly the
commands no engine has finished. The stream's duplicate window drops a command published
again with the same ``Nats-Msg-Id`` (``bus.commands.message_id``): a gateway's publish retry is
stored once. The engine's own idempotency and replay keys, committed with each batch, are the
durable guard behind it (a command an engine committed but did not acknowledge before it died
is delivered to the next engine, which refuses it as a repeat).

Headers: ``Nats-Msg-Id`` (dedupe), ``Bourse-Reply`` (the gateway's inbox subject for the
reply: a JetStream message carries no reply subject of its own).
"""

from __future__ import annotations

from nats.js import JetStreamContext
from nats.js.api import RetentionPolicy, StorageType, StreamConfig

from bourse.bus.nats import bus_names

#: the header naming where the engine sends a command's reply
REPLY = "Bourse-Reply"
#: seconds within which a command published again with the same id is dropped
DUPLICATE_WINDOW_S = 120.0
#: the engine's durable consumer
CONSUMER = "engine"


def names(name: str) -> tuple[str, str]:
    """(stream, subject) of the command stream of the exchange ``name``."""
    stream, _ = bus_names(name)
    return f"{stream}_CMD", f"bourse.{name}.commands"


async def ensure_stream(js: JetStreamContext, name: str) -> tuple[str, str]:
    """Create the command stream unless it exists; its (stream, subject)."""
    stream, subject = names(name)
    config = StreamConfig(
        name=stream,
        subjects=[subject],
        retention=RetentionPolicy.WORK_QUEUE,
        storage=StorageType.FILE,
        duplicate_window=DUPLICATE_WINDOW_S,
        max_age=3600.0,
    )
    try:
        await js.add_stream(config)
    except Exception:  # exists already (with our settings, or an operator's)
        await js.stream_info(stream)
    return stream, subject
