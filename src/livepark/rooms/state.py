"""A room's mutable state and the queries and checks the command handlers share.

Handlers (``membership``, ``seating``, ``cohosting``) validate with the ``require_*`` helpers
first and mutate only afterwards, so a raised :class:`RoomError` leaves the state untouched.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from livepark.rooms.actions import CLOSE_ROOM_ENDED, Action, Broadcast, Disconnect
from livepark.rooms.config import RoomConfig, RoomKind, RoomState
from livepark.rooms.errors import ErrorCode, RoomError
from livepark.rooms.events import (
    CohostsChanged,
    InviteKind,
    LeaveReason,
    MemberLeft,
    RoomEnded,
    SeatChanged,
)
from livepark.rooms.members import MemberInfo, Role
from livepark.rooms.snapshot import SeatView

NO_MEDIA = (False, False)


@dataclass
class Member:
    info: MemberInfo
    hidden: bool
    joined_at: float
    connected: bool = True
    away_since: float | None = None
    connection_id: str | None = None


@dataclass
class Seat:
    number: int
    user_id: str | None = None
    locked: bool = False
    muted_by_host: bool = False
    self_muted: bool = False

    def view(self) -> SeatView:
        return SeatView(self.number, self.user_id, self.locked, self.muted_by_host, self.self_muted)


@dataclass
class Invite:
    kind: InviteKind
    by: str
    seat: int | None
    expires_at: float


@dataclass
class RoomData:
    room_id: str
    kind: RoomKind
    config: RoomConfig
    created_at: float
    host_id: str | None = None
    state: RoomState = RoomState.OPEN
    end_reason: str | None = None
    members: dict[str, Member] = field(default_factory=dict)
    seats: list[Seat] = field(default_factory=list)
    cohosts: list[str] = field(default_factory=list)
    invites: dict[str, Invite] = field(default_factory=dict)
    """Pending invitation per invitee (one at a time; a new one replaces the old)."""
    bans: dict[str, float] = field(default_factory=dict)
    """user id -> time the ban ends."""
    connected_visible: int = 0
    """Connected, non-hidden members (the room is idle while this is 0)."""
    idle_since: float | None = None

    def __post_init__(self) -> None:
        if self.kind is RoomKind.VOICE and not self.seats:
            self.seats = [Seat(n) for n in range(1, self.config.seats + 1)]
        self.idle_since = self.created_at

    # -- queries ---------------------------------------------------------------------------

    def is_staff(self, user_id: str) -> bool:
        if user_id == self.host_id:
            return True
        m = self.members.get(user_id)
        return m is not None and m.info.grants.room_admin

    def seat_of(self, user_id: str) -> Seat | None:
        for seat in self.seats:
            if seat.user_id == user_id:
                return seat
        return None

    def role_of(self, user_id: str) -> Role:
        if user_id == self.host_id:
            return Role.HOST
        if self.members[user_id].info.grants.room_admin:
            return Role.ADMIN
        if user_id in self.cohosts:
            return Role.COHOST
        if self.seat_of(user_id) is not None:
            return Role.SPEAKER
        return Role.VIEWER if self.kind is RoomKind.LIVE else Role.LISTENER

    def may_publish(self, user_id: str) -> bool:
        m = self.members.get(user_id)
        if m is None or not m.info.grants.can_publish:
            return False
        return user_id == self.host_id or user_id in self.cohosts or self.seat_of(user_id) is not None

    def forwarding(self, user_id: str) -> tuple[bool, bool]:
        if not self.may_publish(user_id):
            return NO_MEDIA
        if self.kind is RoomKind.LIVE:
            return (True, True)
        seat = self.seat_of(user_id)
        if seat is None:  # the host of a voice room
            return (True, False)
        return (not (seat.muted_by_host or seat.self_muted), False)

    def publisher_candidates(self) -> set[str]:
        """Everyone who may currently hold a publishing role (present or not)."""
        out = {s.user_id for s in self.seats if s.user_id is not None}
        out.update(self.cohosts)
        if self.host_id is not None:
            out.add(self.host_id)
        return out

    def publisher_count(self) -> int:
        """Host slot (always reserved) + seat holders + co-hosts."""
        return 1 + sum(1 for s in self.seats if s.user_id is not None) + len(self.cohosts)

    def free_seat(self) -> Seat | None:
        for seat in self.seats:
            if seat.user_id is None and not seat.locked:
                return seat
        return None

    def roles(self, user_ids: Iterable[str]) -> dict[str, Role]:
        return {u: self.role_of(u) for u in user_ids if u in self.members}

    def forwardings(self, user_ids: Iterable[str]) -> dict[str, tuple[bool, bool]]:
        return {u: self.forwarding(u) for u in user_ids}

    # -- checks (raise, never mutate) ------------------------------------------------------

    def require_kind(self, kind: RoomKind) -> None:
        if self.kind is not kind:
            raise RoomError(ErrorCode.WRONG_ROOM_KIND, f"only in {kind.value} rooms")

    def require_member(self, user_id: str) -> Member:
        m = self.members.get(user_id)
        if m is None:
            raise RoomError(ErrorCode.NOT_IN_ROOM, f"{user_id} is not in the room")
        return m

    def require_staff(self, user_id: str) -> Member:
        m = self.require_member(user_id)
        if not self.is_staff(user_id):
            raise RoomError(ErrorCode.NOT_PERMITTED, "only the host or an admin may do this")
        return m

    def require_may_target(self, by: str, target: str) -> None:
        """``by`` (staff) may act on ``target``: nobody targets the host; admins not admins."""
        if target == by:
            return
        if target == self.host_id:
            raise RoomError(ErrorCode.CANNOT_TARGET_HOST)
        if by != self.host_id and self.members[target].info.grants.room_admin:
            raise RoomError(ErrorCode.NOT_PERMITTED, "only the host may act on an admin")

    def require_publisher_eligible(self, m: Member) -> None:
        """May hold a seat or be a co-host (the host neither: she always publishes)."""
        if m.info.user_id == self.host_id:
            raise RoomError(ErrorCode.NOT_PERMITTED, "the host publishes without a seat")
        if m.hidden:
            raise RoomError(ErrorCode.NOT_PERMITTED, "hidden members cannot publish")
        if not m.info.grants.can_publish:
            raise RoomError(ErrorCode.NOT_PERMITTED, "no can_publish grant")

    def require_publisher_slot(self) -> None:
        if self.publisher_count() >= self.config.publisher_limit(self.kind):
            raise RoomError(ErrorCode.PUBLISHERS_FULL)

    def require_seat(self, number: int) -> Seat:
        if not 1 <= number <= len(self.seats):
            raise RoomError(ErrorCode.NO_SUCH_SEAT, f"no seat {number}")
        return self.seats[number - 1]

    def require_takeable_seat(self, number: int | None) -> Seat:
        if number is None:
            seat = self.free_seat()
            if seat is None:
                raise RoomError(ErrorCode.NO_FREE_SEAT)
            return seat
        seat = self.require_seat(number)
        if seat.locked:
            raise RoomError(ErrorCode.SEAT_LOCKED, f"seat {number} is locked")
        if seat.user_id is not None:
            raise RoomError(ErrorCode.SEAT_TAKEN, f"seat {number} is taken")
        return seat

    def require_invite(self, user_id: str, kind: InviteKind, now: float) -> Invite:
        inv = self.invites.get(user_id)
        if inv is None or inv.kind != kind:
            raise RoomError(ErrorCode.NOT_INVITED)
        if now >= inv.expires_at:
            raise RoomError(ErrorCode.INVITE_EXPIRED)
        return inv

    # -- mutations shared by several handlers ----------------------------------------------

    def occupy(self, seat: Seat, user_id: str) -> Action:
        seat.user_id = user_id
        seat.self_muted = False
        return Broadcast(SeatChanged(seat.view()))

    def vacate(self, seat: Seat) -> Action:
        seat.user_id = None
        seat.self_muted = False
        return Broadcast(SeatChanged(seat.view()))

    def drop_cohost(self, user_id: str) -> Action:
        self.cohosts.remove(user_id)
        return Broadcast(CohostsChanged(tuple(self.cohosts)))

    def remove_member(self, user_id: str, reason: LeaveReason) -> list[Action]:
        """Remove a member as if she left: free her seat and co-host slot, drop her invite."""
        m = self.members[user_id]
        actions: list[Action] = []
        seat = self.seat_of(user_id)
        if seat is not None:
            actions.append(self.vacate(seat))
        if user_id in self.cohosts:
            actions.append(self.drop_cohost(user_id))
        self.invites.pop(user_id, None)
        del self.members[user_id]
        if m.connected and not m.hidden:
            self.connected_visible -= 1
        actions.append(Broadcast(MemberLeft(user_id, reason), staff_only=m.hidden))
        return actions

    def end(self, reason: str) -> list[Action]:
        actions: list[Action] = [Broadcast(RoomEnded(reason))]
        actions.extend(Disconnect(u, CLOSE_ROOM_ENDED, reason) for u in self.members)
        self.state = RoomState.ENDED
        self.end_reason = reason
        self.members.clear()
        self.seats.clear()
        self.cohosts.clear()
        self.invites.clear()
        self.connected_visible = 0
        self.idle_since = None
        return actions

    def refresh_idle(self, now: float) -> None:
        if self.connected_visible > 0:
            self.idle_since = None
        elif self.idle_since is None and self.state is RoomState.OPEN:
            self.idle_since = now
