"""Adapter: a ``websockets.asyncio.server.ServerConnection`` as a hub :class:`Subscriber`.

Frames are written straight to the connection's transport, like ``websockets.broadcast``
does, but as prebuilt bytes (no per-connection framing).  Safety, from websockets 17's
``asyncio/connection.py`` and ``protocol.py``:

- *No interleaving.*  The connection's own sends (``send``, ping/pong, close) also write
  whole frames to the same transport from the same event-loop thread, and every
  ``transport.write`` here writes whole frames, so frames never interleave.  The one
  exception is a *fragmented* message (``send`` of an iterable): data frames must not be
  inserted between its fragments, so while ``connection.send_in_progress`` is set, our
  frames are held and written when that send finishes.
- *No write after close.*  We write only while ``protocol.state is OPEN`` (no close frame
  sent or received yet) and the transport is not closing.
- *Bounded buffer.*  :meth:`buffered` is the transport's write-buffer size plus held
  frames; the hub's slow-consumer policy reads it before every write.  These writes bypass
  the connection's flow control (``drain``), exactly as ``broadcast`` does.
- *Closing a laggard.*  :meth:`close` "fails" the connection (RFC 6455 §7.1.7) through the
  sans-I/O protocol: a close frame with the code, then EOF — queued behind whatever is
  buffered.  A peer that does not read it within ``close_grace`` seconds is aborted, which
  frees the buffer.  The connection's handler then sees ``ConnectionClosed`` as usual.

Serve with ``compression=None`` (no permessage-deflate): it costs ~64 KiB per connection
and would compress per connection.  (Uncompressed frames remain valid if it is on.)
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from websockets.protocol import CLOSED, OPEN

from livepark.danmaku.frames import SUBPROTOCOLS, Encoding

if TYPE_CHECKING:
    from websockets.asyncio.server import ServerConnection

log = logging.getLogger(__name__)


class WebSocketSubscriber:
    """One ``ServerConnection`` seen by the hub; works for both encodings."""

    __slots__ = (
        "_closing",
        "_conn",
        "_held",
        "_held_bytes",
        "_protocol",
        "_tclosing",
        "_transport",
        "_tsize",
        "_twrite",
        "close_grace",
        "encoding",
        "user_id",
    )

    def __init__(
        self,
        connection: ServerConnection,
        user_id: str,
        *,
        encoding: Encoding | None = None,
        close_grace: float = 5.0,
    ) -> None:
        if encoding is None:
            negotiated = connection.subprotocol
            if negotiated is None or negotiated not in SUBPROTOCOLS:
                raise ValueError(f"no livepark subprotocol negotiated ({negotiated!r})")
            encoding = SUBPROTOCOLS[negotiated]
        self.user_id = user_id
        self.encoding: Encoding = encoding
        self.close_grace = close_grace
        self._conn = connection
        self._protocol = connection.protocol
        self._transport = connection.transport
        # bound once: these run once per member per frame
        self._twrite = self._transport.write
        self._tsize = self._transport.get_write_buffer_size
        self._tclosing = self._transport.is_closing
        self._held: list[bytes] = []
        self._held_bytes = 0
        self._closing = False

    def __repr__(self) -> str:
        return f"<WebSocketSubscriber {self.user_id} {self.encoding} {self._conn.id}>"

    @property
    def connection(self) -> ServerConnection:
        return self._conn

    @property
    def closed(self) -> bool:
        return self._closing or self._protocol.state is not OPEN

    def buffered(self) -> int:
        return self._tsize() + self._held_bytes

    def write_frame(self, frame: bytes) -> bool:
        if self._closing or self._protocol.state is not OPEN or self._tclosing():
            return False
        in_progress = self._conn.send_in_progress
        if in_progress is not None or self._held:
            self._hold(frame, in_progress)
            return True
        self._twrite(frame)
        return True

    def _hold(self, frame: bytes, in_progress: asyncio.Future[None] | None) -> None:
        if not self._held and in_progress is not None:
            in_progress.add_done_callback(self._release)
        self._held.append(frame)
        self._held_bytes += len(frame)

    def _release(self, _: object = None) -> None:
        in_progress = self._conn.send_in_progress
        if in_progress is not None:  # another fragmented message started meanwhile
            in_progress.add_done_callback(self._release)
            return
        held, self._held, self._held_bytes = self._held, [], 0
        if held and not self._closing and self._protocol.state is OPEN:
            if not self._transport.is_closing():
                self._transport.write(b"".join(held))

    def close(self, code: int, reason: str) -> None:
        if self._closing:
            return
        self._closing = True
        self._held, self._held_bytes = [], 0
        if self._protocol.state is OPEN:
            try:
                self._protocol.fail(code, reason)
                self._conn.send_data()
            except Exception:  # the transport is broken; drop it
                log.debug("failing %r raised; aborting", self, exc_info=True)
                self._transport.abort()
                return
        if self.close_grace > 0:
            asyncio.get_running_loop().call_later(self.close_grace, self._abort_if_open)
        else:
            self._abort_if_open()

    def _abort_if_open(self) -> None:
        if self._protocol.state is not CLOSED:
            self._transport.abort()
