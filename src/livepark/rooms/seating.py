"""Handlers for the numbered mic seats of voice rooms."""

from __future__ import annotations

from livepark.rooms import commands as cmd
from livepark.rooms.actions import Action, Broadcast, Notify
from livepark.rooms.config import RoomKind
from livepark.rooms.errors import ErrorCode, RoomError
from livepark.rooms.events import InviteDeclined, SeatChanged, SeatInvited
from livepark.rooms.state import Invite, RoomData


def take_seat(d: RoomData, c: cmd.TakeSeat, now: float) -> list[Action]:
    d.require_kind(RoomKind.VOICE)
    m = d.require_member(c.user)
    d.require_publisher_eligible(m)
    if d.seat_of(c.user) is not None:
        raise RoomError(ErrorCode.ALREADY_SEATED)
    seat = d.require_takeable_seat(c.seat)
    d.require_publisher_slot()

    d.invites.pop(c.user, None)  # taking a seat supersedes a pending invitation
    return [d.occupy(seat, c.user)]


def leave_seat(d: RoomData, c: cmd.LeaveSeat, now: float) -> list[Action]:
    d.require_kind(RoomKind.VOICE)
    d.require_member(c.user)
    seat = d.seat_of(c.user)
    if seat is None:
        raise RoomError(ErrorCode.NOT_SEATED)
    return [d.vacate(seat)]


def invite_to_seat(d: RoomData, c: cmd.InviteToSeat, now: float) -> list[Action]:
    d.require_kind(RoomKind.VOICE)
    d.require_staff(c.by)
    target = d.require_member(c.target)
    if c.target == d.host_id:
        raise RoomError(ErrorCode.CANNOT_TARGET_HOST)
    d.require_publisher_eligible(target)
    if d.seat_of(c.target) is not None:
        raise RoomError(ErrorCode.ALREADY_SEATED)
    d.require_takeable_seat(c.seat)

    ttl = d.config.invite_ttl
    d.invites[c.target] = Invite("seat", c.by, c.seat, now + ttl)
    return [Notify(c.target, SeatInvited(c.seat, c.by, ttl))]


def accept_seat_invite(d: RoomData, c: cmd.AcceptSeatInvite, now: float) -> list[Action]:
    d.require_kind(RoomKind.VOICE)
    m = d.require_member(c.user)
    inv = d.require_invite(c.user, "seat", now)
    d.require_publisher_eligible(m)
    if d.seat_of(c.user) is not None:
        raise RoomError(ErrorCode.ALREADY_SEATED)
    seat = d.require_takeable_seat(inv.seat)
    d.require_publisher_slot()

    del d.invites[c.user]
    return [d.occupy(seat, c.user)]


def decline_seat_invite(d: RoomData, c: cmd.DeclineSeatInvite, now: float) -> list[Action]:
    d.require_kind(RoomKind.VOICE)
    d.require_member(c.user)
    inv = d.invites.get(c.user)
    if inv is None or inv.kind != "seat":
        raise RoomError(ErrorCode.NOT_INVITED)
    del d.invites[c.user]
    if inv.by in d.members and inv.by != c.user:
        return [Notify(inv.by, InviteDeclined("seat", c.user))]
    return []


def lock_seat(d: RoomData, c: cmd.LockSeat, now: float) -> list[Action]:
    d.require_kind(RoomKind.VOICE)
    d.require_staff(c.by)
    seat = d.require_seat(c.seat)
    if seat.locked == c.locked:
        return []
    seat.locked = c.locked
    return [Broadcast(SeatChanged(seat.view()))]


def mute_seat(d: RoomData, c: cmd.MuteSeat, now: float) -> list[Action]:
    d.require_kind(RoomKind.VOICE)
    d.require_staff(c.by)
    seat = d.require_seat(c.seat)
    if seat.user_id is not None:
        d.require_may_target(c.by, seat.user_id)
    if seat.muted_by_host == c.muted:
        return []
    seat.muted_by_host = c.muted
    return [Broadcast(SeatChanged(seat.view()))]


def self_mute(d: RoomData, c: cmd.SelfMute, now: float) -> list[Action]:
    d.require_kind(RoomKind.VOICE)
    d.require_member(c.user)
    seat = d.seat_of(c.user)
    if seat is None:
        raise RoomError(ErrorCode.NOT_SEATED)
    if not c.muted and seat.muted_by_host:
        raise RoomError(ErrorCode.SEAT_MUTED_BY_HOST)
    if seat.self_muted == c.muted:
        return []
    seat.self_muted = c.muted
    return [Broadcast(SeatChanged(seat.view()))]


def clear_seat(d: RoomData, c: cmd.ClearSeat, now: float) -> list[Action]:
    d.require_kind(RoomKind.VOICE)
    d.require_staff(c.by)
    seat = d.require_seat(c.seat)
    if seat.user_id is None:
        return []
    d.require_may_target(c.by, seat.user_id)
    return [d.vacate(seat)]
