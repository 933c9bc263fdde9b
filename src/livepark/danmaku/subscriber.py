"""What the hub needs from one client connection: the :class:`Subscriber` protocol.

The hub never encodes per connection.  It hands a subscriber complete WebSocket frames
(``bytes`` shared by every connection of the same encoding) and asks how many bytes are
still waiting in its outbound buffer; it applies the slow-consumer policy itself.  The
adapter for ``websockets`` connections is :mod:`livepark.danmaku.ws_subscriber`; tests may
use any object with these members.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from livepark.danmaku.frames import Encoding


@runtime_checkable
class Subscriber(Protocol):
    """One member connection as seen by the hub (must be hashable; identity is fine)."""

    @property
    def user_id(self) -> str:
        """The member's user id (shadowed comments go to every connection of this user)."""
        ...

    @property
    def encoding(self) -> Encoding:
        """``"json"`` (text frames) or ``"msgpack"`` (binary frames)."""
        ...

    def buffered(self) -> int:
        """Bytes written but not yet handed to the kernel (the bounded outbound buffer)."""
        ...

    def write_frame(self, frame: bytes) -> bool:
        """Queue one complete WebSocket frame (or several concatenated) without blocking.

        Must never interleave with the connection's own frames and must not write once a
        close frame has been sent.  Returns False when the connection is closed or closing
        (nothing written).
        """
        ...

    def close(self, code: int, reason: str) -> None:
        """Start closing the connection with ``code``; must not block and be idempotent."""
        ...
