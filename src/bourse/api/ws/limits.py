"""MEXC's connection limits for ``/ws`` (mexc-api.md sections 2.10 and 4.1), as one value so
tests can shorten them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StreamLimits:
    #: subscriptions one connection may hold (more are refused)
    max_streams: int = 30
    #: inbound messages per second before the connection is closed
    max_inbound_per_s: int = 100
    #: seconds a connection may stay without any subscription
    idle_without_subscription_s: float = 30.0
    #: seconds a subscribed connection may stay without traffic either way: no frame pushed
    #: and no message received (MEXC: "no data flow"; a PING keeps it)
    idle_without_traffic_s: float = 60.0
    #: a connection's whole life, in seconds
    max_life_s: float = 24 * 3600.0
    #: connections one listenKey may have open at once
    connections_per_listen_key: int = 5
    #: seconds between checks that the private connections' listenKeys are still valid (one
    #: query for all; a revocation this process hears of is checked at once)
    listen_key_check_s: float = 2.0
    #: frames queued for a connection before it is dropped as too slow
    send_queue: int = 2000
    #: bytes of one inbound message; a larger one closes the connection with 1009. MEXC's
    #: largest real message, a SUBSCRIPTION of all 30 channels a connection may hold, is about
    #: 2 KB (``bourse serve`` has uvicorn refuse larger ones before they are read whole:
    #: ``cli.serve.server_config``)
    max_message_bytes: int = 8192


@dataclass(slots=True)
class StreamStats:
    """What the metrics read of one hub: open connections, and connections dropped because
    they fell ``send_queue`` frames behind (slow consumers)."""

    connections: int = 0
    slow_dropped: int = 0
