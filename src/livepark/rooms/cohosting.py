"""Handlers for co-hosts of live rooms: invited by the host only, accepted by the invitee;
the host or an admin may remove a co-host, who may also step down."""

from __future__ import annotations

from livepark.rooms import commands as cmd
from livepark.rooms.actions import Action, Broadcast, Notify
from livepark.rooms.config import RoomKind
from livepark.rooms.errors import ErrorCode, RoomError
from livepark.rooms.events import CohostInvited, CohostsChanged, InviteDeclined
from livepark.rooms.state import Invite, RoomData


def _require_cohost_slot(d: RoomData, user_id: str) -> None:
    if user_id in d.cohosts:
        raise RoomError(ErrorCode.ALREADY_COHOST)
    if len(d.cohosts) >= d.config.max_cohosts:
        raise RoomError(ErrorCode.COHOSTS_FULL)


def invite_cohost(d: RoomData, c: cmd.InviteCohost, now: float) -> list[Action]:
    d.require_kind(RoomKind.LIVE)
    d.require_member(c.by)
    if c.by != d.host_id:
        raise RoomError(ErrorCode.NOT_PERMITTED, "only the host invites co-hosts")
    target = d.require_member(c.target)
    if c.target == d.host_id:
        raise RoomError(ErrorCode.CANNOT_TARGET_HOST)
    d.require_publisher_eligible(target)
    _require_cohost_slot(d, c.target)

    ttl = d.config.invite_ttl
    d.invites[c.target] = Invite("cohost", c.by, None, now + ttl)
    return [Notify(c.target, CohostInvited(c.by, ttl))]


def accept_cohost(d: RoomData, c: cmd.AcceptCohost, now: float) -> list[Action]:
    d.require_kind(RoomKind.LIVE)
    m = d.require_member(c.user)
    d.require_invite(c.user, "cohost", now)
    d.require_publisher_eligible(m)
    _require_cohost_slot(d, c.user)
    d.require_publisher_slot()

    del d.invites[c.user]
    d.cohosts.append(c.user)
    return [Broadcast(CohostsChanged(tuple(d.cohosts)))]


def decline_cohost(d: RoomData, c: cmd.DeclineCohost, now: float) -> list[Action]:
    d.require_kind(RoomKind.LIVE)
    d.require_member(c.user)
    inv = d.invites.get(c.user)
    if inv is None or inv.kind != "cohost":
        raise RoomError(ErrorCode.NOT_INVITED)
    del d.invites[c.user]
    if inv.by in d.members and inv.by != c.user:
        return [Notify(inv.by, InviteDeclined("cohost", c.user))]
    return []


def remove_cohost(d: RoomData, c: cmd.RemoveCohost, now: float) -> list[Action]:
    d.require_kind(RoomKind.LIVE)
    d.require_staff(c.by)
    d.require_member(c.target)
    if c.target == d.host_id:
        raise RoomError(ErrorCode.CANNOT_TARGET_HOST)
    if c.target not in d.cohosts:
        raise RoomError(ErrorCode.NOT_COHOST)
    d.require_may_target(c.by, c.target)
    return [d.drop_cohost(c.target)]


def step_down(d: RoomData, c: cmd.StepDown, now: float) -> list[Action]:
    d.require_kind(RoomKind.LIVE)
    d.require_member(c.user)
    if c.user not in d.cohosts:
        raise RoomError(ErrorCode.NOT_COHOST)
    return [d.drop_cohost(c.user)]
