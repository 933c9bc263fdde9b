"""Handlers for joining, leaving, presence (away/back), kicking and ending a room."""

from __future__ import annotations

import math

from livepark.rooms import commands as cmd
from livepark.rooms.actions import CLOSE_KICKED, Action, Broadcast, Disconnect, ReplaceConnection
from livepark.rooms.errors import ErrorCode, RoomError
from livepark.rooms.events import MemberAway, MemberBack, MemberJoined
from livepark.rooms.state import Member, RoomData


def join(d: RoomData, c: cmd.Join, now: float) -> list[Action]:
    info = c.member
    uid = info.user_id
    grants = info.grants
    if not grants.room_join:
        raise RoomError(ErrorCode.NOT_PERMITTED, "no room_join grant")
    if d.config.require_verified and not info.verified:
        raise RoomError(ErrorCode.NOT_VERIFIED)
    until = d.bans.get(uid)
    if until is not None and now < until:
        raise RoomError(ErrorCode.BANNED, retry_after=until - now)

    present = d.members.get(uid)
    if present is not None:
        return _rejoin(d, present, c.connection_id)

    becomes_host = d.host_id is None and grants.room_admin and not grants.hidden
    is_host = uid == d.host_id or becomes_host
    if not (is_host or grants.room_admin) and len(d.members) >= d.config.max_participants:
        raise RoomError(ErrorCode.ROOM_FULL)

    if becomes_host:
        d.host_id = uid
    hidden = grants.hidden and not is_host  # the host is never hidden
    d.members[uid] = Member(info, hidden, now, connection_id=c.connection_id)
    if not hidden:
        d.connected_visible += 1
    event = MemberJoined(uid, info.name, d.role_of(uid), hidden)
    return [Broadcast(event, staff_only=hidden)]


def _rejoin(d: RoomData, m: Member, connection_id: str | None) -> list[Action]:
    """Same member again: another device, or a resume through Join. State is kept."""
    uid = m.info.user_id
    if m.connected:
        if connection_id is not None and connection_id == m.connection_id:
            return []
        m.connection_id = connection_id
        return [ReplaceConnection(uid)]
    m.connection_id = connection_id
    return _back(d, m)


def _back(d: RoomData, m: Member) -> list[Action]:
    m.connected = True
    m.away_since = None
    if not m.hidden:
        d.connected_visible += 1
    return [Broadcast(MemberBack(m.info.user_id), staff_only=m.hidden)]


def leave(d: RoomData, c: cmd.Leave, now: float) -> list[Action]:
    d.require_member(c.user)
    return d.remove_member(c.user, "left")


def disconnect(d: RoomData, c: cmd.Disconnect, now: float) -> list[Action]:
    m = d.members.get(c.user)
    if m is None or not m.connected:
        return []
    if c.connection_id is not None and m.connection_id not in (None, c.connection_id):
        return []  # a stale connection, already replaced
    m.connected = False
    m.away_since = now
    if not m.hidden:
        d.connected_visible -= 1
    return [Broadcast(MemberAway(c.user), staff_only=m.hidden)]


def reconnect(d: RoomData, c: cmd.Reconnect, now: float) -> list[Action]:
    m = d.require_member(c.user)
    return _rejoin(d, m, c.connection_id)


def kick(d: RoomData, c: cmd.Kick, now: float) -> list[Action]:
    if not (math.isfinite(c.ban_seconds) and c.ban_seconds >= 0):
        raise RoomError(ErrorCode.BAD_REQUEST, "ban_seconds must be a finite number >= 0")
    if c.by is not None:
        d.require_staff(c.by)
    d.require_member(c.target)
    if c.by is not None:
        if c.target == c.by:
            raise RoomError(ErrorCode.NOT_PERMITTED, "cannot kick yourself")
        d.require_may_target(c.by, c.target)

    actions = d.remove_member(c.target, "kicked")
    actions.append(Disconnect(c.target, CLOSE_KICKED, "kicked"))
    if c.ban_seconds > 0:
        d.bans[c.target] = now + c.ban_seconds
    return actions


def end_room(d: RoomData, c: cmd.EndRoom, now: float) -> list[Action]:
    if c.by is not None:
        d.require_staff(c.by)
    return d.end(c.reason or "ended")
