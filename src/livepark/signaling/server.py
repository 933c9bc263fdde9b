"""The public WebSocket listener (websockets): one coroutine per connection that reads
frames, applies the session rules and hands requests to the node's dispatcher."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from livepark import metrics
from livepark.clock import Clock
from livepark.config import SignalingConfig
from livepark.signaling.codes import CloseCode
from livepark.signaling.connection import Connection
from livepark.signaling.envelope import SUBPROTOCOLS, Request, encoding_for
from livepark.signaling.session import Close, Dispatch, Refuse, Session

log = logging.getLogger(__name__)

RequestHandler = Callable[[Connection, Request], Awaitable[None]]
ConnectionHook = Callable[[Connection], Awaitable[None]]


class SignalingServer:
    """Accepts connections and runs each one until it closes.

    ``on_request`` carries out one request (and sends its reply); ``on_closed`` runs once
    per connection after it ends, whatever the reason.
    """

    def __init__(
        self,
        config: SignalingConfig,
        on_request: RequestHandler,
        on_closed: ConnectionHook,
        clock: Clock,
    ) -> None:
        self.config = config
        self.on_request = on_request
        self.on_closed = on_closed
        self.clock = clock
        self.connections: set[Connection] = set()
        self._server: Server | None = None

    async def start(self, host: str, port: int) -> Server:
        self._server = await serve(
            self._handle,
            host,
            port,
            subprotocols=list(SUBPROTOCOLS),  # type: ignore[arg-type]
            select_subprotocol=_select_subprotocol,
            compression=None,  # danmaku batches are compressed once per batch, not per socket
            max_size=self.config.max_frame_bytes,
            max_queue=16,
            ping_interval=None,  # mobile-friendly application heartbeat instead (ping/pong)
            write_limit=self.config.send_queue_bytes,
        )
        return self._server

    @property
    def port(self) -> int:
        assert self._server is not None
        sock = next(iter(self._server.sockets))
        port: int = sock.getsockname()[1]
        return port

    async def _handle(self, ws: ServerConnection) -> None:
        now = self.clock()
        conn = Connection(
            ws, Session(self.config, now), encoding_for(ws.subprotocol), self.config.send_queue_bytes
        )
        if len(self.connections) >= self.config.max_connections:
            await ws.close(CloseCode.SERVER_FULL, "server full")
            return
        self.connections.add(conn)
        metrics.CONNECTIONS.inc()
        try:
            await self._serve(conn)
        finally:
            self.connections.discard(conn)
            metrics.CONNECTIONS.dec()
            try:
                await self.on_closed(conn)
            except Exception:
                log.exception("cleanup of connection %s failed", conn.id)

    async def _serve(self, conn: Connection) -> None:
        ws = conn.ws
        while conn.open:
            timeout = max(0.0, conn.session.next_deadline() - self.clock())
            try:
                async with asyncio.timeout(timeout):
                    frame = await ws.recv()
            except TimeoutError:
                close = conn.session.on_timer(self.clock())
                if close is not None:
                    conn.close(close.code, close.reason)
                    await _drain(ws)
                    return
                continue
            except ConnectionClosed:
                return
            out = conn.session.on_frame(frame, self.clock())
            if isinstance(out, Dispatch):
                metrics.MESSAGES_IN.labels(_label(out.request.type)).inc()
                await self.on_request(conn, out.request)
            elif isinstance(out, Refuse):
                metrics.MESSAGES_IN.labels("refused").inc()
                metrics.ERRORS.labels(out.reply["error"]["code"]).inc()
                conn.send(out.reply)
            elif isinstance(out, Close):
                conn.close(out.code, out.reason)
                await _drain(ws)
                return

    async def close_all(self, code: int, reason: str) -> None:
        for conn in list(self.connections):
            conn.left_on_purpose = code != CloseCode.GOING_AWAY
            conn.close(code, reason)
        if self._server is not None:
            self._server.close(close_connections=False)
            await self._server.wait_closed()


async def _drain(ws: ServerConnection) -> None:
    """Wait for a connection the server is closing to end, discarding the frames still queued:
    a full receive queue pauses reading, and the peer's closure would then go unseen until the
    close grace aborts the transport (the member would look present, not away, meanwhile)."""
    try:
        while True:
            await ws.recv()
    except ConnectionClosed:
        pass
    await ws.wait_closed()


KNOWN_LABELS = frozenset(
    {
        "join",
        "session.resume",
        "ping",
        "leave",
        "room.snapshot",
        "room.end",
        "danmaku.send",
        "danmaku.like",
        "media.publish",
        "media.subscribe",
        "media.answer",
        "media.unpublish",
    }
)


def _label(mtype: str) -> str:
    """Bounded label values: seat.*, cohost.* and member.* grouped; unknown types as 'other'."""
    if mtype in KNOWN_LABELS:
        return mtype
    prefix = mtype.split(".", 1)[0]
    return f"{prefix}.*" if prefix in ("seat", "cohost", "member") else "other"


def _select_subprotocol(connection: ServerConnection, subprotocols: Any) -> Any:
    """JSON unless the client asks for msgpack; unknown offers fall back to JSON."""
    for offered in subprotocols:
        if offered in SUBPROTOCOLS:
            return offered
    return None
