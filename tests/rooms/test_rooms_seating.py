"""Voice-room mic seats."""

from __future__ import annotations

import pytest
from rooms_kit import (
    ADMIN,
    HIDDEN_PUBLISHER,
    HOST,
    PUBLISHER,
    VIEWER,
    broadcasts,
    forwarding_of,
    make_room,
    notified,
    refuse,
    seat_holder,
    types,
)

from livepark.rooms import Role, RoomConfig, RoomKind, SeatView
from livepark.rooms import commands as c
from livepark.rooms.actions import Broadcast, Notify, SetForwarding
from livepark.rooms.events import (
    InviteDeclined,
    InviteExpired,
    RoleChanged,
    SeatChanged,
    SeatInvited,
)


def test_take_seat() -> None:
    room = make_room()
    actions = room.handle(c.TakeSeat("p1", 4), 0.0)
    assert actions == [
        Broadcast(SeatChanged(SeatView(4, "p1", False, False, False))),
        Broadcast(RoleChanged("p1", Role.SPEAKER)),
        SetForwarding("p1", True, False),
    ]
    assert room.member("p1").seat == 4 and room.may_publish("p1")  # type: ignore[union-attr]


def test_take_lowest_free_unlocked_seat() -> None:
    room = make_room()
    room.handle(c.TakeSeat("p1", 1), 0.0)
    room.handle(c.LockSeat("host", 2, True), 0.0)
    room.handle(c.TakeSeat("p2"), 0.0)
    assert seat_holder(room, 3) == "p2"


def test_admin_on_a_seat_stays_admin() -> None:
    room = make_room()
    actions = room.handle(c.TakeSeat("adm"), 0.0)
    assert types(actions) == ["seat.changed", "SetForwarding"]
    assert room.member("adm").role is Role.ADMIN  # type: ignore[union-attr]


def test_take_seat_refusals() -> None:
    room = make_room(
        members=[
            ("host", HOST),
            ("p1", PUBLISHER),
            ("p2", PUBLISHER),
            ("v", VIEWER),
            ("hid", HIDDEN_PUBLISHER),
        ]
    )
    room.handle(c.TakeSeat("p1", 1), 0.0)
    room.handle(c.LockSeat("host", 2, True), 0.0)
    refuse(room, c.TakeSeat("ghost", 3), "not_in_room")
    refuse(room, c.TakeSeat("v", 3), "not_permitted")
    refuse(room, c.TakeSeat("hid", 3), "not_permitted")
    refuse(room, c.TakeSeat("host", 3), "not_permitted")
    refuse(room, c.TakeSeat("p1", 3), "already_seated")
    refuse(room, c.TakeSeat("p2", 0), "no_such_seat")
    refuse(room, c.TakeSeat("p2", 9), "no_such_seat")
    refuse(room, c.TakeSeat("p2", 2), "seat_locked")
    refuse(room, c.TakeSeat("p2", 1), "seat_taken")


def test_no_free_seat() -> None:
    room = make_room(config=RoomConfig(seats=2))
    room.handle(c.TakeSeat("p1"), 0.0)
    room.handle(c.LockSeat("host", 2, True), 0.0)
    refuse(room, c.TakeSeat("p2"), "no_free_seat")
    refuse(room, c.InviteToSeat("host", "p2"), "no_free_seat")


def test_publishers_full() -> None:
    room = make_room(config=RoomConfig(max_publishers=2))
    room.handle(c.InviteToSeat("host", "p2"), 0.0)
    room.handle(c.TakeSeat("p1"), 0.0)
    refuse(room, c.TakeSeat("p2"), "publishers_full")  # and her invitation is kept
    refuse(room, c.AcceptSeatInvite("p2"), "publishers_full")
    room.handle(c.LeaveSeat("p1"), 0.0)
    room.handle(c.AcceptSeatInvite("p2"), 0.0)


def test_seat_commands_in_live_room() -> None:
    room = make_room(RoomKind.LIVE)
    commands: list[c.Command] = [
        c.TakeSeat("p1"),
        c.LeaveSeat("p1"),
        c.InviteToSeat("host", "p1"),
        c.AcceptSeatInvite("p1"),
        c.DeclineSeatInvite("p1"),
        c.LockSeat("host", 1),
        c.MuteSeat("host", 1),
        c.SelfMute("p1"),
        c.ClearSeat("host", 1),
    ]
    for command in commands:
        refuse(room, command, "wrong_room_kind")


def test_leave_seat() -> None:
    room = make_room()
    room.handle(c.TakeSeat("p1", 5), 0.0)
    actions = room.handle(c.LeaveSeat("p1"), 1.0)
    assert actions == [
        Broadcast(SeatChanged(SeatView(5, None, False, False, False))),
        Broadcast(RoleChanged("p1", Role.LISTENER)),
        SetForwarding("p1", False, False),
    ]
    refuse(room, c.LeaveSeat("p1"), "not_seated")


def test_invite_accept() -> None:
    room = make_room()
    actions = room.handle(c.InviteToSeat("adm", "p1", 6), 0.0)
    assert actions == [Notify("p1", SeatInvited(6, "adm", 30.0))]
    assert room.pending_invite("p1") == ("seat", 6, 30.0)
    actions = room.handle(c.AcceptSeatInvite("p1"), 10.0)
    assert seat_holder(room, 6) == "p1"
    assert forwarding_of(actions) == {"p1": (True, False)}
    assert room.pending_invite("p1") is None
    refuse(room, c.AcceptSeatInvite("p1"), "not_invited")


def test_invite_without_seat_gets_lowest_free_at_accept() -> None:
    room = make_room()
    room.handle(c.InviteToSeat("host", "p1"), 0.0)
    room.handle(c.TakeSeat("p2", 1), 0.0)
    room.handle(c.AcceptSeatInvite("p1"), 1.0)
    assert seat_holder(room, 2) == "p1"


def test_invite_refusals() -> None:
    room = make_room(
        members=[
            ("host", HOST),
            ("adm", ADMIN),
            ("p1", PUBLISHER),
            ("p2", PUBLISHER),
            ("v", VIEWER),
            ("hid", HIDDEN_PUBLISHER),
        ]
    )
    room.handle(c.TakeSeat("p2", 1), 0.0)
    room.handle(c.LockSeat("host", 2), 0.0)
    refuse(room, c.InviteToSeat("p2", "p1"), "not_permitted")
    refuse(room, c.InviteToSeat("host", "ghost"), "not_in_room")
    refuse(room, c.InviteToSeat("adm", "host"), "cannot_target_host")
    refuse(room, c.InviteToSeat("host", "v"), "not_permitted")
    refuse(room, c.InviteToSeat("host", "hid"), "not_permitted")
    refuse(room, c.InviteToSeat("host", "p2"), "already_seated")
    refuse(room, c.InviteToSeat("host", "p1", 1), "seat_taken")
    refuse(room, c.InviteToSeat("host", "p1", 2), "seat_locked")
    refuse(room, c.InviteToSeat("host", "p1", 99), "no_such_seat")


def test_accept_fails_cleanly_when_seat_became_taken_or_locked() -> None:
    room = make_room()
    room.handle(c.InviteToSeat("host", "p1", 3), 0.0)
    room.handle(c.TakeSeat("p2", 3), 1.0)
    refuse(room, c.AcceptSeatInvite("p1"), "seat_taken", now=2.0)
    room.handle(c.LeaveSeat("p2"), 3.0)
    room.handle(c.LockSeat("host", 3), 3.0)
    refuse(room, c.AcceptSeatInvite("p1"), "seat_locked", now=4.0)
    room.handle(c.LockSeat("host", 3, False), 5.0)
    room.handle(c.AcceptSeatInvite("p1"), 6.0)  # the invitation survived the refusals
    assert seat_holder(room, 3) == "p1"


def test_invite_expires() -> None:
    room = make_room()
    room.handle(c.InviteToSeat("adm", "p1", 2), 0.0)
    refuse(room, c.AcceptSeatInvite("p1"), "invite_expired", now=30.0)
    assert room.next_deadline() == 30.0
    actions = room.tick(30.0)
    assert actions == [
        Notify("p1", InviteExpired("seat", "p1")),
        Notify("adm", InviteExpired("seat", "p1")),
    ]
    refuse(room, c.AcceptSeatInvite("p1"), "not_invited", now=31.0)


def test_decline_notifies_inviter() -> None:
    room = make_room()
    room.handle(c.InviteToSeat("adm", "p1"), 0.0)
    assert room.handle(c.DeclineSeatInvite("p1"), 1.0) == [Notify("adm", InviteDeclined("seat", "p1"))]
    refuse(room, c.DeclineSeatInvite("p1"), "not_invited")


def test_taking_a_seat_drops_a_pending_invite() -> None:
    room = make_room()
    room.handle(c.InviteToSeat("adm", "p1", 2), 0.0)
    room.handle(c.TakeSeat("p1", 5), 0.0)
    assert room.pending_invite("p1") is None


def test_lock_occupied_seat_keeps_occupant() -> None:
    room = make_room()
    room.handle(c.TakeSeat("p1", 1), 0.0)
    actions = room.handle(c.LockSeat("adm", 1, True), 0.0)
    assert broadcasts(actions) == [SeatChanged(SeatView(1, "p1", True, False, False))]
    assert room.forwarding("p1") == (True, False)
    room.handle(c.LeaveSeat("p1"), 0.0)
    refuse(room, c.TakeSeat("p1", 1), "seat_locked")
    assert room.handle(c.LockSeat("adm", 1, True), 0.0) == []  # unchanged: nothing to say
    refuse(room, c.LockSeat("p1", 2), "not_permitted")
    refuse(room, c.LockSeat("adm", 9), "no_such_seat")


def test_host_mute_and_self_mute() -> None:
    room = make_room()
    room.handle(c.TakeSeat("p1", 1), 0.0)
    actions = room.handle(c.MuteSeat("host", 1, True), 0.0)
    assert actions == [
        Broadcast(SeatChanged(SeatView(1, "p1", False, True, False))),
        SetForwarding("p1", False, False),
    ]
    refuse(room, c.SelfMute("p1", False), "seat_muted_by_host")
    room.handle(c.SelfMute("p1", True), 0.0)
    assert room.handle(c.MuteSeat("host", 1, False), 0.0) == [
        Broadcast(SeatChanged(SeatView(1, "p1", False, False, True)))
    ]  # still self-muted: no forwarding change
    actions = room.handle(c.SelfMute("p1", False), 0.0)
    assert forwarding_of(actions) == {"p1": (True, False)}
    refuse(room, c.SelfMute("p2", True), "not_seated")
    refuse(room, c.MuteSeat("p1", 1), "not_permitted")


def test_host_mute_stays_with_the_seat() -> None:
    room = make_room()
    room.handle(c.MuteSeat("host", 2, True), 0.0)
    actions = room.handle(c.TakeSeat("p1", 2), 0.0)
    assert room.forwarding("p1") == (False, False)
    assert "SetForwarding" not in types(actions)


def test_admins_cannot_act_on_admin_seats_but_host_can() -> None:
    room = make_room(members=[("host", HOST), ("adm", ADMIN), ("adm2", ADMIN)])
    room.handle(c.TakeSeat("adm2", 1), 0.0)
    refuse(room, c.MuteSeat("adm", 1), "not_permitted")
    refuse(room, c.ClearSeat("adm", 1), "not_permitted")
    room.handle(c.MuteSeat("host", 1), 0.0)
    room.handle(c.ClearSeat("host", 1), 0.0)
    assert seat_holder(room, 1) is None


def test_clear_seat() -> None:
    room = make_room()
    room.handle(c.TakeSeat("p1", 7), 0.0)
    room.handle(c.SelfMute("p1", True), 0.0)
    actions = room.handle(c.ClearSeat("adm", 7), 0.0)
    assert actions == [
        Broadcast(SeatChanged(SeatView(7, None, False, False, False))),
        Broadcast(RoleChanged("p1", Role.LISTENER)),
    ]  # was self-muted: forwarding was already off
    assert room.handle(c.ClearSeat("adm", 7), 0.0) == []
    refuse(room, c.ClearSeat("p1", 7), "not_permitted")


@pytest.mark.parametrize("seats", [1, 3, 12])
def test_configurable_seat_count(seats: int) -> None:
    room = make_room(config=RoomConfig(seats=seats))
    assert [s.seat for s in room.snapshot(None).seats] == list(range(1, seats + 1))


def test_seat_invite_notifications_go_to_the_invitee_only() -> None:
    room = make_room()
    actions = room.handle(c.InviteToSeat("host", "p3", None), 0.0)
    assert notified(actions, "p3") == [SeatInvited(None, "host", 30.0)]
    assert broadcasts(actions) == []
