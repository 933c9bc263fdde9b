"""All rooms of a node: creation on first join, lookup, ticking, removal of ended rooms."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from livepark.rooms import commands as cmd
from livepark.rooms.actions import Action
from livepark.rooms.config import RoomConfig, RoomKind
from livepark.rooms.errors import ErrorCode, RoomError
from livepark.rooms.members import MemberInfo
from livepark.rooms.room import Room


def _default_config(kind: RoomKind) -> RoomConfig:
    return RoomConfig()


@dataclass(frozen=True, slots=True)
class RegistryCounts:
    """For metrics."""

    rooms: int
    live_rooms: int
    voice_rooms: int
    members: int
    connected: int
    publishers: int


class RoomRegistry:
    """Rooms by id. Ended rooms are dropped by :meth:`handle`, :meth:`tick` and :meth:`join`.

    ``max_rooms`` bounds how many rooms exist at once (creation beyond it: ``room_full``).
    """

    def __init__(
        self,
        config_for_kind: Callable[[RoomKind], RoomConfig] = _default_config,
        *,
        max_rooms: int | None = None,
    ) -> None:
        self._config_for_kind = config_for_kind
        self._max_rooms = max_rooms
        self._rooms: dict[str, Room] = {}

    def _new_room(self, room_id: str, kind: RoomKind, now: float, host_id: str | None) -> Room:
        if self._max_rooms is not None and len(self._rooms) >= self._max_rooms:
            raise RoomError(ErrorCode.ROOM_FULL, "too many rooms on this node")
        return Room(room_id, kind, self._config_for_kind(kind), now, host_id=host_id)

    def _live(self, room_id: str) -> Room | None:
        room = self._rooms.get(room_id)
        if room is not None and room.ended:
            del self._rooms[room_id]
            return None
        return room

    def create(self, room_id: str, kind: RoomKind, now: float, host_id: str | None = None) -> Room:
        """Open a room ahead of its host (admin API). With ``host_id=None`` the first visible
        room_admin to join becomes host. ``room_exists`` if it is already open."""
        if self._live(room_id) is not None:
            raise RoomError(ErrorCode.ROOM_EXISTS)
        room = self._new_room(room_id, kind, now, host_id)
        self._rooms[room_id] = room
        return room

    def join(
        self,
        room_id: str,
        member: MemberInfo,
        now: float,
        kind: RoomKind = RoomKind.VOICE,
        *,
        connection_id: str | None = None,
    ) -> tuple[Room, list[Action]]:
        """Join ``room_id``; a visible room_admin joining a missing room creates it (of
        ``kind``) and becomes its host, anyone else gets ``room_not_found``. The room is only
        registered if the join succeeds."""
        join = cmd.Join(member, connection_id)
        room = self._live(room_id)
        if room is not None:
            return room, room.handle(join, now)
        grants = member.grants
        if not (grants.room_admin and not grants.hidden):
            raise RoomError(ErrorCode.ROOM_NOT_FOUND)
        room = self._new_room(room_id, kind, now, None)
        actions = room.handle(join, now)
        self._rooms[room_id] = room
        return room, actions

    def get(self, room_id: str) -> Room | None:
        return self._live(room_id)

    def handle(self, room_id: str, command: cmd.Command, now: float) -> list[Action]:
        """``room.handle`` by id (``room_not_found`` if missing); drops the room if it ended."""
        room = self._live(room_id)
        if room is None:
            raise RoomError(ErrorCode.ROOM_NOT_FOUND)
        actions = room.handle(command, now)
        if room.ended:
            del self._rooms[room_id]
        return actions

    def tick(self, now: float) -> list[tuple[str, Action]]:
        out: list[tuple[str, Action]] = []
        for room_id, room in list(self._rooms.items()):
            out.extend((room_id, a) for a in room.tick(now))
            if room.ended:
                del self._rooms[room_id]
        return out

    def next_deadline(self) -> float | None:
        deadlines = [d for r in self._rooms.values() if (d := r.next_deadline()) is not None]
        return min(deadlines, default=None)

    def remove(self, room_id: str) -> Room | None:
        """Forget a room (ended or not) without emitting anything."""
        return self._rooms.pop(room_id, None)

    def rooms(self) -> list[Room]:
        return list(self._rooms.values())

    def __len__(self) -> int:
        return len(self._rooms)

    def __contains__(self, room_id: object) -> bool:
        return room_id in self._rooms

    def counts(self) -> RegistryCounts:
        rooms = [r for r in self._rooms.values() if not r.ended]
        return RegistryCounts(
            rooms=len(rooms),
            live_rooms=sum(1 for r in rooms if r.kind is RoomKind.LIVE),
            voice_rooms=sum(1 for r in rooms if r.kind is RoomKind.VOICE),
            members=sum(r.member_count() for r in rooms),
            connected=sum(r.connected_count() for r in rooms),
            publishers=sum(r.publisher_count() for r in rooms),
        )
