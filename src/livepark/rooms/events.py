"""Wire-visible room events: frozen dataclasses with a ``Literal`` ``type`` tag.

:data:`RoomEvent` events are broadcast (:class:`~livepark.rooms.actions.Broadcast`) and, applied
in order to a snapshot, keep a client's copy of the room exact. :data:`PrivateEvent` events go
to one member (:class:`~livepark.rooms.actions.Notify`).

Client-side meaning of each broadcast event (how to apply it to a snapshot):

- ``member.joined``: append ``{user_id, name, role, away: false, hidden}`` to ``members``; if
  ``role == "host"`` set ``host_id``.
- ``member.left``: remove the member (``reason``: ``left`` | ``kicked`` | ``timeout``). Her seat
  and co-host status are announced by their own events.
- ``member.away`` / ``member.back``: set the member's ``away`` flag.
- ``seat.changed``: replace the seat with the same number.
- ``role.changed``: set the member's role.
- ``cohosts.changed``: replace the ``cohosts`` list.
- ``room.ended``: ``state = "ended"``, ``members``, ``seats`` and ``cohosts`` become empty.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from livepark.rooms.members import Role
from livepark.rooms.snapshot import SeatView

LeaveReason = Literal["left", "kicked", "timeout"]
InviteKind = Literal["seat", "cohost"]


@dataclass(frozen=True, slots=True)
class MemberJoined:
    user_id: str
    name: str
    role: Role
    hidden: bool = False
    type: Literal["member.joined"] = field(default="member.joined", init=False)

    def to_wire(self) -> dict[str, object]:
        return {
            "type": self.type,
            "user_id": self.user_id,
            "name": self.name,
            "role": self.role.value,
            "hidden": self.hidden,
        }


@dataclass(frozen=True, slots=True)
class MemberLeft:
    user_id: str
    reason: LeaveReason
    type: Literal["member.left"] = field(default="member.left", init=False)

    def to_wire(self) -> dict[str, object]:
        return {"type": self.type, "user_id": self.user_id, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class MemberAway:
    user_id: str
    type: Literal["member.away"] = field(default="member.away", init=False)

    def to_wire(self) -> dict[str, object]:
        return {"type": self.type, "user_id": self.user_id}


@dataclass(frozen=True, slots=True)
class MemberBack:
    user_id: str
    type: Literal["member.back"] = field(default="member.back", init=False)

    def to_wire(self) -> dict[str, object]:
        return {"type": self.type, "user_id": self.user_id}


@dataclass(frozen=True, slots=True)
class SeatChanged:
    seat: SeatView
    type: Literal["seat.changed"] = field(default="seat.changed", init=False)

    def to_wire(self) -> dict[str, object]:
        return {"type": self.type, **self.seat.to_wire()}


@dataclass(frozen=True, slots=True)
class RoleChanged:
    user_id: str
    role: Role
    type: Literal["role.changed"] = field(default="role.changed", init=False)

    def to_wire(self) -> dict[str, object]:
        return {"type": self.type, "user_id": self.user_id, "role": self.role.value}


@dataclass(frozen=True, slots=True)
class CohostsChanged:
    cohosts: tuple[str, ...]
    type: Literal["cohosts.changed"] = field(default="cohosts.changed", init=False)

    def to_wire(self) -> dict[str, object]:
        return {"type": self.type, "cohosts": list(self.cohosts)}


@dataclass(frozen=True, slots=True)
class RoomEnded:
    reason: str
    type: Literal["room.ended"] = field(default="room.ended", init=False)

    def to_wire(self) -> dict[str, object]:
        return {"type": self.type, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class SeatInvited:
    """To the invitee. ``seat`` is ``None`` when the lowest free seat will be given."""

    seat: int | None
    by: str
    expires_in: float
    type: Literal["seat.invited"] = field(default="seat.invited", init=False)

    def to_wire(self) -> dict[str, object]:
        return {"type": self.type, "seat": self.seat, "by": self.by, "expires_in": self.expires_in}


@dataclass(frozen=True, slots=True)
class CohostInvited:
    by: str
    expires_in: float
    type: Literal["cohost.invited"] = field(default="cohost.invited", init=False)

    def to_wire(self) -> dict[str, object]:
        return {"type": self.type, "by": self.by, "expires_in": self.expires_in}


@dataclass(frozen=True, slots=True)
class InviteDeclined:
    """To the inviter: ``user_id`` declined her invitation."""

    kind: InviteKind
    user_id: str
    type: Literal["invite.declined"] = field(default="invite.declined", init=False)

    def to_wire(self) -> dict[str, object]:
        return {"type": self.type, "kind": self.kind, "user_id": self.user_id}


@dataclass(frozen=True, slots=True)
class InviteExpired:
    """To the invitee and to the inviter: the invitation of ``user_id`` ran out."""

    kind: InviteKind
    user_id: str
    type: Literal["invite.expired"] = field(default="invite.expired", init=False)

    def to_wire(self) -> dict[str, object]:
        return {"type": self.type, "kind": self.kind, "user_id": self.user_id}


RoomEvent = (
    MemberJoined
    | MemberLeft
    | MemberAway
    | MemberBack
    | SeatChanged
    | RoleChanged
    | CohostsChanged
    | RoomEnded
)
PrivateEvent = SeatInvited | CohostInvited | InviteDeclined | InviteExpired
Event = RoomEvent | PrivateEvent
