"""Commands a room handles: frozen dataclasses naming the acting member (``user`` or ``by``).

The room does not authenticate: the signaling layer must fill ``user``/``by`` from the
connection's verified identity, never from client input. ``EndRoom(by=None)`` and ``Kick`` by
the system are for trusted callers (admin API, moderation) only.
"""

from __future__ import annotations

from dataclasses import dataclass

from livepark.rooms.members import MemberInfo


@dataclass(frozen=True, slots=True)
class Join:
    """Join, or join again from another connection (then ``ReplaceConnection``).

    ``connection_id`` (optional) names the I/O connection; a later ``Disconnect`` carrying a
    different id (a stale, replaced connection) is ignored.
    """

    member: MemberInfo
    connection_id: str | None = None

    @property
    def user(self) -> str:
        return self.member.user_id


@dataclass(frozen=True, slots=True)
class Leave:
    user: str


@dataclass(frozen=True, slots=True)
class Disconnect:
    """The member's connection dropped: she is away (keeps role and seat) until she
    reconnects or ``resume_grace`` passes. A no-op for non-members or a stale connection."""

    user: str
    connection_id: str | None = None


@dataclass(frozen=True, slots=True)
class Reconnect:
    """The away member resumed. ``not_in_room`` if she was already removed (join again)."""

    user: str
    connection_id: str | None = None


@dataclass(frozen=True, slots=True)
class TakeSeat:
    """Take seat ``seat``, or the lowest free unlocked seat when ``None``."""

    user: str
    seat: int | None = None


@dataclass(frozen=True, slots=True)
class LeaveSeat:
    user: str


@dataclass(frozen=True, slots=True)
class InviteToSeat:
    by: str
    target: str
    seat: int | None = None


@dataclass(frozen=True, slots=True)
class AcceptSeatInvite:
    user: str


@dataclass(frozen=True, slots=True)
class DeclineSeatInvite:
    user: str


@dataclass(frozen=True, slots=True)
class LockSeat:
    by: str
    seat: int
    locked: bool = True


@dataclass(frozen=True, slots=True)
class MuteSeat:
    by: str
    seat: int
    muted: bool = True


@dataclass(frozen=True, slots=True)
class SelfMute:
    user: str
    muted: bool = True


@dataclass(frozen=True, slots=True)
class ClearSeat:
    by: str
    seat: int


@dataclass(frozen=True, slots=True)
class Kick:
    """Remove ``target``; she cannot join again for ``ban_seconds`` (0 = no ban).

    ``by=None``: the system (admin API, moderation; trusted callers only) may kick anyone,
    the host included.
    """

    by: str | None
    target: str
    ban_seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class InviteCohost:
    by: str
    target: str


@dataclass(frozen=True, slots=True)
class AcceptCohost:
    user: str


@dataclass(frozen=True, slots=True)
class DeclineCohost:
    user: str


@dataclass(frozen=True, slots=True)
class RemoveCohost:
    by: str
    target: str


@dataclass(frozen=True, slots=True)
class StepDown:
    user: str


@dataclass(frozen=True, slots=True)
class EndRoom:
    """End the room. ``by=None``: the system/moderation (trusted callers only)."""

    by: str | None
    reason: str = "ended"


Command = (
    Join
    | Leave
    | Disconnect
    | Reconnect
    | TakeSeat
    | LeaveSeat
    | InviteToSeat
    | AcceptSeatInvite
    | DeclineSeatInvite
    | LockSeat
    | MuteSeat
    | SelfMute
    | ClearSeat
    | Kick
    | InviteCohost
    | AcceptCohost
    | DeclineCohost
    | RemoveCohost
    | StepDown
    | EndRoom
)
