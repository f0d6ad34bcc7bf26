"""One ``/ws`` connection: MEXC's JSON control frames in, binary data frames out, and MEXC's
limits (``StreamLimits``).

Control frames: ``{"method":"SUBSCRIPTION","params":[...]}`` and ``UNSUBSCRIPTION`` are acked
with ``{"id":0,"code":0,"msg":"<channels, comma-joined>"}``; a channel that cannot be served is
refused with ``{"id":0,"code":0,"msg":"Not Subscribed successfully! [<channel>].  Reason：
<why>"}`` (MEXC's wording; a client tells success by ``msg`` equal to its channel);
``{"method":"PING"}`` (any case) gets ``{"id":0,"code":0,"msg":"PONG"}``. ``id`` is echoed when the
request has one.

What a client sent is echoed as a prefix of at most ``MAX_ECHO`` characters (a channel name or a
method it got wrong); a message over ``StreamLimits.max_message_bytes`` closes the connection
with 1009 (message too big), and channels past ``max_streams`` in one message get one refusal
between them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from bourse.api.ws import channels as ch
from bourse.api.ws.hub import StreamHub
from bourse.api.ws.limits import StreamLimits

log = logging.getLogger("bourse.ws")


#: characters of a client's own text a reply repeats (a real channel name is under 80)
MAX_ECHO = 100
#: close code of a message over the size cap (RFC 6455: message too big)
TOO_BIG = 1009


def _echo(text: str) -> str:
    """``text`` as a reply may repeat it: its first ``MAX_ECHO`` characters."""
    return text if len(text) <= MAX_ECHO else text[:MAX_ECHO] + "..."


def _ack(request_id: int, msg: str, code: int = 0) -> str:
    return json.dumps({"id": request_id, "code": code, "msg": msg}, separators=(",", ":"))


def refusal(channel: str, reason: str) -> str:
    return f"Not Subscribed successfully! [{_echo(channel)}].  Reason： {reason}"


class Connection:
    """A subscriber (``hub.Sink``) with its own bounded send queue."""

    def __init__(
        self,
        ws: WebSocket,
        hub: StreamHub,
        limits: StreamLimits,
        account: int | None = None,
    ) -> None:
        self.ws = ws
        self.hub = hub
        self.limits = limits
        self.account = account
        self.channels: dict[str, ch.Channel] = {}
        self.queue: asyncio.Queue[bytes | str | None] = asyncio.Queue(limits.send_queue)
        self.closed = False
        self.close_reason = ""
        self.close_code = 1000
        #: loop time of the last frame sent
        self.last_out = 0.0

    # --- out -----------------------------------------------------------------------------------
    def push(self, frame: bytes | str) -> None:
        if self.closed:
            return
        try:
            self.queue.put_nowait(frame)
        except asyncio.QueueFull:
            self.hub.stats.slow_dropped += 1
            self.drop("slow consumer")

    def drop(self, reason: str, last_words: str | None = None) -> None:
        """Stop sending (after ``last_words``, if given) and unsubscribe; the receive loop
        closes the socket."""
        if self.closed:
            return
        self.closed = True
        self.close_reason = reason
        for c in self.channels.values():
            self.hub.remove(self, c)
        while not self.queue.empty():
            self.queue.get_nowait()
        if last_words is not None:
            self.queue.put_nowait(last_words)
        self.queue.put_nowait(None)

    async def _sender(self) -> None:
        ws, queue = self.ws, self.queue
        clock = asyncio.get_running_loop().time
        while True:
            frame = await queue.get()
            if frame is None:
                return
            if isinstance(frame, bytes):
                await ws.send_bytes(frame)
            else:
                await ws.send_text(frame)
            self.last_out = clock()

    # --- in ------------------------------------------------------------------------------------
    async def serve(self) -> None:
        """Run until the client leaves or a limit closes the connection."""
        loop = asyncio.get_running_loop()
        sender = asyncio.ensure_future(self._sender())
        started = last_in = last_sub = self.last_out = loop.time()
        window_start, window_count = started, 0
        lim = self.limits
        receive: asyncio.Future[Any] | None = None
        stats = self.hub.stats
        stats.connections += 1
        try:
            while not self.closed:
                now = loop.time()
                if self.channels:  # traffic: a message either way (PING, or data pushed)
                    deadline = max(last_in, self.last_out) + lim.idle_without_traffic_s
                    why = "no traffic"
                else:
                    deadline = last_sub + lim.idle_without_subscription_s
                    why = "no subscription"
                if started + lim.max_life_s < deadline:
                    deadline, why = started + lim.max_life_s, "connection lifetime reached"
                if now >= deadline:
                    self.drop(why)
                    break
                if receive is None:
                    receive = asyncio.ensure_future(self.ws.receive())
                done, _ = await asyncio.wait(
                    {receive, sender}, timeout=deadline - now, return_when="FIRST_COMPLETED"
                )
                if sender in done:  # send failed or the connection was dropped
                    break
                if receive not in done:
                    continue  # a deadline passed: look again (data may have flowed meanwhile)
                message, receive = receive.result(), None
                if message["type"] == "websocket.disconnect":
                    break
                now = last_in = loop.time()
                if now - window_start >= 1.0:
                    window_start, window_count = now, 0
                window_count += 1
                if window_count > lim.max_inbound_per_s:
                    self.drop("too many messages")
                    break
                text = message.get("text")
                raw = text.encode() if text is not None else message.get("bytes") or b""
                if len(raw) > lim.max_message_bytes:
                    self.close_code = TOO_BIG
                    self.drop("message too big")
                    break
                if text is None:
                    text = raw.decode("utf-8", "replace")
                had = bool(self.channels)
                self._handle(text)
                if bool(self.channels) != had:
                    last_sub = now
        except WebSocketDisconnect:
            pass
        finally:
            stats.connections -= 1
            if receive is not None:
                receive.cancel()
            if not self.closed:
                self.drop("closed")
            if not sender.done():
                await asyncio.wait({sender}, timeout=1.0)
                sender.cancel()
            with contextlib.suppress(Exception):  # already closed by the client
                await self.ws.close(self.close_code, self.close_reason[:120])

    def _handle(self, text: str) -> None:
        try:
            request = json.loads(text)
            if not isinstance(request, dict):
                raise ValueError
        except ValueError:
            self.push(_ack(0, "Invalid request: not a JSON object", 1))
            return
        rid = request.get("id", 0)
        rid = rid if isinstance(rid, int) else 0
        method = str(request.get("method", "")).upper()
        params = request.get("params") or []
        if method == "PING":
            self.push(_ack(rid, "PONG"))
        elif method in ("SUBSCRIPTION", "UNSUBSCRIPTION") and isinstance(params, list):
            names = [str(p) for p in params]
            if method == "SUBSCRIPTION":
                self._subscribe(rid, names)
            else:
                self._unsubscribe(rid, names)
        else:
            unknown = _echo(repr(request.get("method")))
            self.push(_ack(rid, f"Invalid request: unknown method {unknown}", 1))

    def _subscribe(self, rid: int, names: list[str]) -> None:
        symbols = self.hub.engine.exchange.symbols
        done = []
        most = self.limits.max_streams
        for name in names[:most]:
            if name in self.channels:
                done.append(name)
                continue
            try:
                c = ch.parse(name, symbols)
            except ch.ChannelError as exc:
                self.push(_ack(rid, refusal(name, str(exc))))
                continue
            if c.private and self.account is None:
                self.push(_ack(rid, refusal(name, "private channels need ?listenKey=")))
                continue
            if len(self.channels) >= self.limits.max_streams:
                reason = f"at most {self.limits.max_streams} subscriptions per connection"
                self.push(_ack(rid, refusal(name, reason)))
                continue
            self.channels[name] = c
            self.hub.add(self, c)
            done.append(name)
        if len(names) > most:  # no connection holds more: one refusal for them all
            reason = f"at most {most} subscriptions per connection"
            self.push(_ack(rid, refusal(",".join(names[most:]), reason)))
        if done:
            self.push(_ack(rid, ",".join(done)))

    def _unsubscribe(self, rid: int, names: list[str]) -> None:
        for name in names:
            c = self.channels.pop(name, None)
            if c is not None:
                self.hub.remove(self, c)
        # the names as sent (a real one is short), as many as a connection may hold
        self.push(_ack(rid, ",".join(_echo(n) for n in names[: self.limits.max_streams])))
