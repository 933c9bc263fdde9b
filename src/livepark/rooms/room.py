"""The room state machine (sans-I/O): commands in, actions out; time is passed in as ``now``.

>>> from livepark.auth.grants import Grants
>>> from livepark.rooms.members import MemberInfo
>>> room = Room("r1", RoomKind.VOICE, RoomConfig(), now=0.0)
>>> host = MemberInfo("h", "Hana", Grants(room_admin=True, can_publish=True), verified=True)
>>> [type(a).__name__ for a in room.handle(cmd.Join(host), now=0.0)]
['Broadcast', 'SetForwarding']
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from livepark.rooms import cohosting, membership, seating
from livepark.rooms import commands as cmd
from livepark.rooms.actions import Action, Broadcast, Notify, RoomClosed, SetForwarding
from livepark.rooms.config import RoomConfig, RoomKind, RoomState
from livepark.rooms.errors import ErrorCode, RoomError
from livepark.rooms.events import InviteExpired, RoleChanged
from livepark.rooms.members import MemberView, Role
from livepark.rooms.snapshot import MemberEntry, RoomSnapshot
from livepark.rooms.state import NO_MEDIA, RoomData

_Handler = Callable[[RoomData, Any, float], list[Action]]

_HANDLERS: dict[type[Any], _Handler] = {
    cmd.Join: membership.join,
    cmd.Leave: membership.leave,
    cmd.Disconnect: membership.disconnect,
    cmd.Reconnect: membership.reconnect,
    cmd.Kick: membership.kick,
    cmd.EndRoom: membership.end_room,
    cmd.TakeSeat: seating.take_seat,
    cmd.LeaveSeat: seating.leave_seat,
    cmd.InviteToSeat: seating.invite_to_seat,
    cmd.AcceptSeatInvite: seating.accept_seat_invite,
    cmd.DeclineSeatInvite: seating.decline_seat_invite,
    cmd.LockSeat: seating.lock_seat,
    cmd.MuteSeat: seating.mute_seat,
    cmd.SelfMute: seating.self_mute,
    cmd.ClearSeat: seating.clear_seat,
    cmd.InviteCohost: cohosting.invite_cohost,
    cmd.AcceptCohost: cohosting.accept_cohost,
    cmd.DeclineCohost: cohosting.decline_cohost,
    cmd.RemoveCohost: cohosting.remove_cohost,
    cmd.StepDown: cohosting.step_down,
}


def _subjects(c: cmd.Command) -> set[str]:
    """Members a command may change the role of."""
    out: set[str] = set()
    for name in ("user", "by", "target"):
        value = getattr(c, name, None)
        if isinstance(value, str):
            out.add(value)
    return out


class Room:
    """One live or voice room.

    :meth:`handle` either returns the actions of a state change or raises :class:`RoomError`
    with the room unchanged. ``role.changed`` and :class:`SetForwarding` actions are derived
    here, by comparing roles and forwarding before and after each command, so that every
    change is announced exactly once.
    """

    def __init__(
        self,
        room_id: str,
        kind: RoomKind,
        config: RoomConfig,
        now: float,
        *,
        host_id: str | None = None,
    ) -> None:
        self._d = RoomData(room_id, kind, config, created_at=now, host_id=host_id)

    # -- identity and lifecycle -------------------------------------------------------------

    @property
    def room_id(self) -> str:
        return self._d.room_id

    @property
    def kind(self) -> RoomKind:
        return self._d.kind

    @property
    def config(self) -> RoomConfig:
        return self._d.config

    @property
    def state(self) -> RoomState:
        return self._d.state

    @property
    def ended(self) -> bool:
        return self._d.state is RoomState.ENDED

    @property
    def end_reason(self) -> str | None:
        return self._d.end_reason

    @property
    def host_id(self) -> str | None:
        return self._d.host_id

    @property
    def created_at(self) -> float:
        return self._d.created_at

    # -- commands and time ------------------------------------------------------------------

    def handle(self, command: cmd.Command, now: float) -> list[Action]:
        d = self._d
        if d.state is RoomState.ENDED:
            raise RoomError(ErrorCode.ROOM_ENDED)
        handler = _HANDLERS.get(type(command))
        if handler is None:
            raise TypeError(f"not a room command: {command!r}")
        subjects = _subjects(command)
        candidates = d.publisher_candidates() | subjects
        roles = d.roles(candidates)
        fwd = d.forwardings(candidates)
        actions = handler(d, command, now)
        return self._finish(actions, roles, fwd, now)

    def tick(self, now: float) -> list[Action]:
        """Remove members away past ``resume_grace`` (as a leave), drop expired bans, end the
        room after ``idle_timeout`` without a connected visible member, expire invitations."""
        d = self._d
        if d.state is RoomState.ENDED:
            return []
        fwd = d.forwardings(d.publisher_candidates())
        actions: list[Action] = []
        grace = d.config.resume_grace
        for uid, m in list(d.members.items()):
            if m.away_since is not None and now - m.away_since >= grace:
                actions.extend(d.remove_member(uid, "timeout"))
        for uid, until in list(d.bans.items()):
            if now >= until:
                del d.bans[uid]
        d.refresh_idle(now)
        if d.idle_since is not None and now - d.idle_since >= d.config.idle_timeout:
            actions.extend(d.end("idle"))
            return self._finish(actions, {}, fwd, now)
        for target, inv in list(d.invites.items()):
            if now >= inv.expires_at:
                del d.invites[target]
                actions.append(Notify(target, InviteExpired(inv.kind, target)))
                if inv.by in d.members and inv.by != target:
                    actions.append(Notify(inv.by, InviteExpired(inv.kind, target)))
        return self._finish(actions, {}, fwd, now)

    def next_deadline(self) -> float | None:
        """The earliest ``now`` at which :meth:`tick` has work, or ``None``."""
        d = self._d
        if d.state is RoomState.ENDED:
            return None
        times = [inv.expires_at for inv in d.invites.values()]
        times.extend(d.bans.values())
        grace = d.config.resume_grace
        times.extend(m.away_since + grace for m in d.members.values() if m.away_since is not None)
        if d.idle_since is not None:
            times.append(d.idle_since + d.config.idle_timeout)
        return min(times, default=None)

    def _finish(
        self,
        actions: list[Action],
        roles_before: dict[str, Role],
        fwd_before: dict[str, tuple[bool, bool]],
        now: float,
    ) -> list[Action]:
        d = self._d
        for uid, role in roles_before.items():
            if uid in d.members and (new_role := d.role_of(uid)) is not role:
                actions.append(Broadcast(RoleChanged(uid, new_role)))
        fwd_after = d.forwardings(d.publisher_candidates() | set(fwd_before))
        for uid, now_fwd in fwd_after.items():
            if now_fwd != fwd_before.get(uid, NO_MEDIA):
                actions.append(SetForwarding(uid, *now_fwd))
        if d.state is RoomState.ENDED:
            actions.append(RoomClosed(d.room_id, d.end_reason or "ended"))
        else:
            d.refresh_idle(now)
        return actions

    # -- queries ----------------------------------------------------------------------------

    def snapshot(self, viewer_id: str | None = None) -> RoomSnapshot:
        """The room as ``viewer_id`` may see it (``None``: an anonymous, non-staff view)."""
        return self._snapshot(viewer_id is not None and self._d.is_staff(viewer_id))

    def staff_snapshot(self) -> RoomSnapshot:
        """The room as the host and admins see it (hidden members included): admin API."""
        return self._snapshot(True)

    def _snapshot(self, staff: bool) -> RoomSnapshot:
        d = self._d
        members = tuple(
            MemberEntry(uid, m.info.name, d.role_of(uid), not m.connected, m.hidden)
            for uid, m in d.members.items()
            if staff or not m.hidden
        )
        return RoomSnapshot(
            room_id=d.room_id,
            kind=d.kind,
            state=d.state,
            host_id=d.host_id,
            members=members,
            seats=tuple(s.view() for s in d.seats),
            cohosts=tuple(d.cohosts),
        )

    def member(self, user_id: str) -> MemberView | None:
        d = self._d
        m = d.members.get(user_id)
        if m is None:
            return None
        seat = d.seat_of(user_id)
        return MemberView(
            user_id=user_id,
            name=m.info.name,
            role=d.role_of(user_id),
            hidden=m.hidden,
            away=not m.connected,
            seat=None if seat is None else seat.number,
            cohost=user_id in d.cohosts,
            may_publish=d.may_publish(user_id),
            joined_at=m.joined_at,
            info=m.info,
        )

    def __contains__(self, user_id: object) -> bool:
        return user_id in self._d.members

    def member_ids(self) -> Iterator[str]:
        return iter(list(self._d.members))

    def is_staff(self, user_id: str) -> bool:
        """Host or a room_admin member: receives ``staff_only`` broadcasts."""
        return self._d.is_staff(user_id)

    def may_publish(self, user_id: str) -> bool:
        """Holds a publishing role now (host, seat holder or co-host) and has ``can_publish``."""
        return self._d.may_publish(user_id)

    def forwarding(self, user_id: str) -> tuple[bool, bool]:
        """(audio, video): what of this member's media may be forwarded now."""
        return self._d.forwarding(user_id)

    def member_count(self) -> int:
        return len(self._d.members)

    def connected_count(self) -> int:
        return sum(1 for m in self._d.members.values() if m.connected)

    def publisher_count(self) -> int:
        return sum(1 for u in self._d.publisher_candidates() if self._d.may_publish(u))

    def pending_invite(self, user_id: str) -> tuple[str, int | None, float] | None:
        """(kind, seat, expires_at) of the member's pending invitation, for resume."""
        inv = self._d.invites.get(user_id)
        return None if inv is None else (inv.kind, inv.seat, inv.expires_at)

    def __repr__(self) -> str:
        d = self._d
        return f"<Room {d.room_id} {d.kind.value} {d.state.value} members={len(d.members)}>"
