"""What the room core asks the I/O layers to do. Returned by ``Room.handle`` / ``Room.tick``.

The actions of one call are ordered; carry them out in order.
"""

from __future__ import annotations

from dataclasses import dataclass

from livepark.rooms.events import PrivateEvent, RoomEvent

CLOSE_KICKED = 4003
"""WebSocket close code for a member removed by ``Kick``."""
CLOSE_ROOM_ENDED = 4004
"""WebSocket close code for every member when the room ends."""
CLOSE_REPLACED = 4011
"""Close code for the old connection on :class:`ReplaceConnection` (same as signaling's)."""


@dataclass(frozen=True, slots=True)
class Broadcast:
    """Deliver ``event`` to every member, in the room's must-not-lose (sequenced) stream.

    ``staff_only`` events concern hidden members: deliver them only to members for whom
    ``room.is_staff(user_id)`` is true (the host and room_admin members), including on replay.
    """

    event: RoomEvent
    staff_only: bool = False


@dataclass(frozen=True, slots=True)
class Notify:
    """Deliver ``event`` to one member only (dropped if she is not connected)."""

    user_id: str
    event: PrivateEvent


@dataclass(frozen=True, slots=True)
class SetForwarding:
    """Media layer: forward this member's published audio/video from now on or not.

    Emitted whenever ``room.forwarding(user_id)`` changes; the initial value is (False, False).
    """

    user_id: str
    audio: bool
    video: bool


@dataclass(frozen=True, slots=True)
class Disconnect:
    """Close this member's connection with ``close_code`` (she is no longer a member)."""

    user_id: str
    close_code: int
    reason: str


@dataclass(frozen=True, slots=True)
class ReplaceConnection:
    """The member joined again from another connection: close the old one (``CLOSE_REPLACED``)
    and bind the member to the new one. Her room state is kept."""

    user_id: str


@dataclass(frozen=True, slots=True)
class RoomClosed:
    """The room has ended: release everything the I/O layers hold for it."""

    room_id: str
    reason: str


Action = Broadcast | Notify | SetForwarding | Disconnect | ReplaceConnection | RoomClosed
