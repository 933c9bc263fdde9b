"""The rooms package's exception tree: one :class:`RoomError` carrying a stable ``code``.

A refused command raises :class:`RoomError` and leaves the room exactly as it was.
The ``code`` strings are part of the client protocol and never change meaning:

===================  =========================================================================
``not_verified``     the room requires a verified account (``RoomConfig.require_verified``)
``not_permitted``    the member's grants or role do not allow this (not ``room_join``, not
                     ``can_publish``, not host/admin, hidden members cannot publish, an admin
                     acting on another admin, the host trying to take a numbered seat, anyone
                     but the host inviting a co-host ...)
``room_not_found``   no such room and the joiner may not create it (not a visible room_admin)
``room_exists``      ``RoomRegistry.create`` for a room id that is already open
``room_full``        ``max_participants`` reached (hosts and admins are still let in), or a new
                     room beyond ``RoomRegistry``'s ``max_rooms``
``room_ended``       the room has ended; every command is refused
``banned``           kicked with a ban that has not expired; ``retry_after`` is set (seconds)
``not_in_room``      the acting member (or the target) is not a member of the room
``no_such_seat``     seat number outside ``1..RoomConfig.seats``
``seat_locked``      the seat is locked (cannot be taken or accepted into)
``seat_taken``       the seat is occupied by someone else
``no_free_seat``     ``TakeSeat(seat=None)`` / a seat-less invite found no free unlocked seat
``already_seated``   the member already holds a seat (leave it first)
``not_seated``       the member holds no seat
``seat_muted_by_host``  the occupant tried to unmute a seat the host/admin muted
``publishers_full``  ``max_publishers`` reached
``not_invited``      no pending invitation for this member
``invite_expired``   the invitation's time ran out
``wrong_room_kind``  a voice command in a live room, or the reverse
``cannot_target_host``  nobody can kick or remove the host, invite her to a seat or co-host
``already_cohost``   the target already is a co-host
``not_cohost``       ``RemoveCohost`` / ``StepDown`` for a member who is not a co-host
``cohosts_full``     ``max_cohosts`` reached
``bad_request``      a command argument is out of range (e.g. a negative ban)
===================  =========================================================================
"""

from __future__ import annotations

import math
from enum import StrEnum

from livepark.errors import LiveparkError


class ErrorCode(StrEnum):
    NOT_VERIFIED = "not_verified"
    NOT_PERMITTED = "not_permitted"
    ROOM_NOT_FOUND = "room_not_found"
    ROOM_EXISTS = "room_exists"
    ROOM_FULL = "room_full"
    ROOM_ENDED = "room_ended"
    BANNED = "banned"
    NOT_IN_ROOM = "not_in_room"
    NO_SUCH_SEAT = "no_such_seat"
    SEAT_LOCKED = "seat_locked"
    SEAT_TAKEN = "seat_taken"
    NO_FREE_SEAT = "no_free_seat"
    ALREADY_SEATED = "already_seated"
    NOT_SEATED = "not_seated"
    SEAT_MUTED_BY_HOST = "seat_muted_by_host"
    PUBLISHERS_FULL = "publishers_full"
    NOT_INVITED = "not_invited"
    INVITE_EXPIRED = "invite_expired"
    WRONG_ROOM_KIND = "wrong_room_kind"
    CANNOT_TARGET_HOST = "cannot_target_host"
    ALREADY_COHOST = "already_cohost"
    NOT_COHOST = "not_cohost"
    COHOSTS_FULL = "cohosts_full"
    BAD_REQUEST = "bad_request"


class RoomError(LiveparkError):
    """A command was refused; the room is unchanged.

    ``code`` is an :class:`ErrorCode` (a ``str``); ``retry_after`` (seconds, rounded up) is set
    for ``banned``.
    """

    code: str = "room_error"

    def __init__(self, code: ErrorCode, message: str = "", *, retry_after: float | None = None) -> None:
        super().__init__(message or code.value.replace("_", " "), code=code)
        self.error_code = code
        self.retry_after = None if retry_after is None else max(1, math.ceil(retry_after))

    def to_wire(self) -> dict[str, object]:
        """The error as a JSON-safe dict: ``{"code", "message"[, "retry_after"]}``."""
        wire: dict[str, object] = {"code": self.error_code.value, "message": self.message}
        if self.retry_after is not None:
            wire["retry_after"] = self.retry_after
        return wire

    def __repr__(self) -> str:
        return f"RoomError({self.error_code.value!r}, {self.message!r})"
