"""Room and seat state machines (sans-I/O): live rooms with co-hosts, voice rooms with mic seats.

``Room.handle(command, now)`` returns :mod:`~livepark.rooms.actions` for the I/O layers or
raises :class:`RoomError` with the room unchanged. Commands, actions and events live in their
modules (``commands.Disconnect`` and ``actions.Disconnect`` share a name); import those modules:

>>> from livepark.rooms import actions, commands, events
"""

from livepark.rooms import actions, commands, events
from livepark.rooms.config import RoomConfig, RoomKind, RoomState
from livepark.rooms.errors import ErrorCode, RoomError
from livepark.rooms.members import MemberInfo, MemberView, Role
from livepark.rooms.registry import RegistryCounts, RoomRegistry
from livepark.rooms.room import Room
from livepark.rooms.snapshot import MemberEntry, RoomSnapshot, SeatView

__all__ = [
    "ErrorCode",
    "MemberEntry",
    "MemberInfo",
    "MemberView",
    "RegistryCounts",
    "Role",
    "Room",
    "RoomConfig",
    "RoomError",
    "RoomKind",
    "RoomRegistry",
    "RoomSnapshot",
    "RoomState",
    "SeatView",
    "actions",
    "commands",
    "events",
]
