"""What a member sees of a room: the snapshot sent on join/resume and its parts.

Everything here is public (shown to other members): no grants, no verified/minor flags.
"""

from __future__ import annotations

from dataclasses import dataclass

from livepark.rooms.config import RoomKind, RoomState
from livepark.rooms.members import Role


@dataclass(frozen=True, slots=True)
class SeatView:
    """One numbered mic seat of a voice room."""

    seat: int
    user_id: str | None
    locked: bool
    muted_by_host: bool
    self_muted: bool

    def to_wire(self) -> dict[str, object]:
        return {
            "seat": self.seat,
            "user_id": self.user_id,
            "locked": self.locked,
            "muted_by_host": self.muted_by_host,
            "self_muted": self.self_muted,
        }


@dataclass(frozen=True, slots=True)
class MemberEntry:
    """One member as listed in a snapshot. ``hidden`` can only be true in a staff view."""

    user_id: str
    name: str
    role: Role
    away: bool
    hidden: bool

    def to_wire(self) -> dict[str, object]:
        return {
            "user_id": self.user_id,
            "name": self.name,
            "role": self.role.value,
            "away": self.away,
            "hidden": self.hidden,
        }


@dataclass(frozen=True, slots=True)
class RoomSnapshot:
    """The room as one viewer may see it.

    ``members`` are in join order; hidden members appear only when the viewer is the host or a
    room_admin member. ``seats`` is empty for live rooms and for ended rooms; ``cohosts`` is in
    acceptance order.
    """

    room_id: str
    kind: RoomKind
    state: RoomState
    host_id: str | None
    members: tuple[MemberEntry, ...]
    seats: tuple[SeatView, ...]
    cohosts: tuple[str, ...]

    def to_wire(self) -> dict[str, object]:
        return {
            "room_id": self.room_id,
            "kind": self.kind.value,
            "state": self.state.value,
            "host_id": self.host_id,
            "members": [m.to_wire() for m in self.members],
            "seats": [s.to_wire() for s in self.seats],
            "cohosts": list(self.cohosts),
        }
