"""The seam between the hub and other nodes (python-socketio's layering).

``DanmakuHub`` (room manager) -> :class:`PubSub` (this interface) -> a backend: the
in-memory one (:mod:`livepark.danmaku.pubsub_memory`) now, Redis later, implementing only
these methods.

Two delivery classes:

- :meth:`PubSub.publish` — lossy, fire-and-forget, non-blocking (a backend buffers and
  writes from its own task; it may drop under pressure).  Every node subscribed to the
  channel receives it, *including the publisher's node*: payloads carry the publisher's
  node id and a hub drops its own echoes (it has already delivered locally).
- :meth:`PubSub.append` — must-not-lose.  **The backend assigns the seq**, atomically with
  storing the payload in the channel's bounded history and publishing it (Redis: one Lua
  script doing ``INCR`` + ``XADD MAXLEN`` + ``PUBLISH``).  Seqs are therefore one gap-free
  sequence per room however many nodes publish into it, and survive the loss of any node.
  Subscribers receive ``Message.seq``; :meth:`PubSub.read_after` serves the history window
  to nodes that start following a room or that saw a gap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Message:
    """One delivery to a subscriber; ``seq`` is set for appended (must-not-lose) payloads."""

    channel: str
    payload: bytes
    seq: int | None = None


Callback = Callable[[Message], None]


@dataclass(frozen=True, slots=True)
class Window:
    """Answer to :meth:`PubSub.read_after`: sequenced payloads after ``after``.

    ``complete`` is False when the history no longer reaches back to ``after``: ``entries``
    then start later (the reader has a gap it cannot fill).
    """

    entries: list[tuple[int, bytes]]
    last_seq: int
    complete: bool


class PubSub(Protocol):
    """A pub/sub backend shared by all nodes (see module docstring)."""

    @property
    def node_id(self) -> str:
        """This node's id, used to tag payloads and drop echoes."""
        ...

    def publish(self, channel: str, payload: bytes) -> None:
        """Lossy publish to every subscriber of ``channel`` (never blocks)."""
        ...

    async def append(self, channel: str, payload: bytes) -> int:
        """Must-not-lose publish: assign the next seq, store, deliver; return the seq."""
        ...

    async def read_after(self, channel: str, after: int) -> Window:
        """Sequenced payloads with seq > ``after`` still in the channel's history."""
        ...

    async def subscribe(self, channel: str, callback: Callback) -> None:
        """Call ``callback`` (in the event loop) for each message on ``channel``."""
        ...

    async def unsubscribe(self, channel: str) -> None: ...

    async def delete(self, channel: str) -> None:
        """Forget ``channel``'s history (room ended)."""
        ...

    async def close(self) -> None: ...
