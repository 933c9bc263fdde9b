"""One client WebSocket: its session rules, identity, and a non-blocking bounded sender."""

from __future__ import annotations

import itertools
import logging
from typing import Any

from websockets.asyncio.connection import broadcast
from websockets.asyncio.server import ServerConnection
from websockets.protocol import State

from livepark import metrics
from livepark.auth.tokens import Claims
from livepark.danmaku.ws_subscriber import WebSocketSubscriber
from livepark.signaling.codes import CloseCode
from livepark.signaling.envelope import Encoding, encode
from livepark.signaling.session import Session

log = logging.getLogger(__name__)
_ids = itertools.count(1)


class Connection:
    """A member's connection.  ``send`` never blocks: frames go straight to the transport,
    and a connection whose unsent bytes exceed ``send_limit`` is closed with 4010
    (slow consumer) instead of letting memory grow."""

    def __init__(self, ws: ServerConnection, session: Session, encoding: Encoding, send_limit: int) -> None:
        self.ws = ws
        self.session = session
        self.encoding: Encoding = encoding
        self.send_limit = send_limit
        self.id = next(_ids)
        self.claims: Claims | None = None
        self.session_id: str | None = None
        self.subscriber: WebSocketSubscriber | None = None
        """The room stream's writer (set once the member is in a room)."""
        self.auth_failures = 0
        self.left_on_purpose = False
        """Set when the member left, was kicked or replaced: no resume grace on close."""

    def bind(self, claims: Claims, session_id: str, subscriber: WebSocketSubscriber) -> None:
        self.claims = claims
        self.session_id = session_id
        self.subscriber = subscriber
        self.session.joined()

    @property
    def room_id(self) -> str | None:
        return self.claims.room if self.claims else None

    @property
    def user_id(self) -> str | None:
        return self.claims.user_id if self.claims else None

    @property
    def open(self) -> bool:
        return self.ws.protocol.state is State.OPEN

    def buffered(self) -> int:
        transport = self.ws.transport
        return 0 if transport is None or transport.is_closing() else transport.get_write_buffer_size()

    def send(self, message: dict[str, Any]) -> bool:
        """Queue one message; ``False`` if the connection is closed or was just closed as slow."""
        if not self.open:
            return False
        if self.buffered() > self.send_limit:
            self.close(CloseCode.SLOW_CONSUMER, "slow consumer")
            return False
        broadcast([self.ws], encode(message, self.encoding))
        metrics.MESSAGES_OUT.inc()
        return True

    def close(self, code: int, reason: str) -> None:
        """Start the closing handshake without waiting for it (safe to call twice)."""
        if self.ws.protocol.state in (State.CLOSING, State.CLOSED):
            return
        metrics.CLOSES.labels(str(code)).inc()
        self.session.closed()
        if self.subscriber is not None:
            self.subscriber.close(code, reason)
            return
        try:
            self.ws.protocol.send_close(code, reason)
            self.ws.send_data()
        except Exception:  # the transport may already be gone
            log.debug("close of connection %s failed", self.id, exc_info=True)
        transport = self.ws.transport
        if transport is not None:
            # A peer that never answers the close frame is cut off.
            self.ws.loop.call_later(2.0, transport.abort)
