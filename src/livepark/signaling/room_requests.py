"""Map room requests (``seat.take``, ``member.kick`` ...) to room-core commands.

The acting member is always the connection's verified identity, never client input.
Argument errors raise :class:`BadArguments` (sent as ``bad_request``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from livepark.rooms import commands as c
from livepark.rooms.commands import Command

MAX_BAN_SECONDS = 7 * 24 * 3600.0


class BadArguments(ValueError):
    """A request's ``data`` does not fit the message's schema."""


def _seat(data: Mapping[str, Any], required: bool = True) -> int | None:
    seat = data.get("seat")
    if seat is None and not required:
        return None
    if isinstance(seat, bool) or not isinstance(seat, int) or not 0 < seat < 1000:
        raise BadArguments("seat must be a seat number")
    return seat


def _user(data: Mapping[str, Any]) -> str:
    user = data.get("user_id")
    if not isinstance(user, str) or not 0 < len(user) <= 128:
        raise BadArguments("user_id must be a member's id")
    return user


def _flag(data: Mapping[str, Any], name: str, default: bool = True) -> bool:
    value = data.get(name, default)
    if not isinstance(value, bool):
        raise BadArguments(f"{name} must be true or false")
    return value


def _ban(data: Mapping[str, Any]) -> float:
    value = data.get("ban_seconds", 0)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= MAX_BAN_SECONDS:
        raise BadArguments(f"ban_seconds must be between 0 and {int(MAX_BAN_SECONDS)}")
    return float(value)


Builder = Callable[[str, Mapping[str, Any]], Command]

BUILDERS: dict[str, Builder] = {
    "seat.take": lambda me, d: c.TakeSeat(me, _seat(d, required=False)),
    "seat.leave": lambda me, d: c.LeaveSeat(me),
    "seat.invite": lambda me, d: c.InviteToSeat(me, _user(d), _seat(d, required=False)),
    "seat.accept": lambda me, d: c.AcceptSeatInvite(me),
    "seat.decline": lambda me, d: c.DeclineSeatInvite(me),
    "seat.lock": lambda me, d: c.LockSeat(me, _seat(d) or 0, _flag(d, "locked")),
    "seat.mute": lambda me, d: c.MuteSeat(me, _seat(d) or 0, _flag(d, "muted")),
    "seat.self_mute": lambda me, d: c.SelfMute(me, _flag(d, "muted")),
    "seat.clear": lambda me, d: c.ClearSeat(me, _seat(d) or 0),
    "member.kick": lambda me, d: c.Kick(me, _user(d), _ban(d)),
    "cohost.invite": lambda me, d: c.InviteCohost(me, _user(d)),
    "cohost.accept": lambda me, d: c.AcceptCohost(me),
    "cohost.decline": lambda me, d: c.DeclineCohost(me),
    "cohost.remove": lambda me, d: c.RemoveCohost(me, _user(d)),
    "cohost.step_down": lambda me, d: c.StepDown(me),
    "room.end": lambda me, d: c.EndRoom(me, "ended_by_host"),
}


def build_command(request_type: str, user_id: str, data: Mapping[str, Any]) -> Command | None:
    """The command for a room request, or ``None`` when the type is not a room request."""
    builder = BUILDERS.get(request_type)
    return None if builder is None else builder(user_id, data)
