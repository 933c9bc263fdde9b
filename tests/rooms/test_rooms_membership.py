"""Joining, leaving, presence, kicking, ending."""

from __future__ import annotations

from rooms_kit import (
    ADMIN,
    HIDDEN_ADMIN,
    HOST,
    PUBLISHER,
    VIEWER,
    broadcasts,
    forwarding_of,
    info,
    make_room,
    refuse,
    seat_holder,
    types,
)

from livepark.auth.grants import Grants
from livepark.rooms import Role, Room, RoomConfig, RoomKind, RoomState
from livepark.rooms import commands as c
from livepark.rooms.actions import (
    CLOSE_KICKED,
    CLOSE_ROOM_ENDED,
    Broadcast,
    Disconnect,
    ReplaceConnection,
    RoomClosed,
    SetForwarding,
)
from livepark.rooms.events import MemberAway, MemberBack, MemberJoined, MemberLeft, RoomEnded


def test_first_admin_becomes_host_and_publishes() -> None:
    room = Room("r", RoomKind.LIVE, RoomConfig(), 0.0)
    actions = room.handle(c.Join(info("h", HOST)), 0.0)
    assert actions == [
        Broadcast(MemberJoined("h", "H", Role.HOST)),
        SetForwarding("h", True, True),
    ]
    assert room.host_id == "h"
    assert room.may_publish("h") and room.forwarding("h") == (True, True)
    # a second admin is an admin
    actions = room.handle(c.Join(info("a", ADMIN)), 0.0)
    assert broadcasts(actions) == [MemberJoined("a", "A", Role.ADMIN)]
    assert not room.may_publish("a")


def test_voice_host_forwards_audio_only() -> None:
    room = make_room(RoomKind.VOICE)
    assert room.forwarding("host") == (True, False)
    assert room.member("v").role is Role.LISTENER  # type: ignore[union-attr]


def test_viewer_role_in_live_room() -> None:
    room = make_room(RoomKind.LIVE)
    assert room.member("v").role is Role.VIEWER  # type: ignore[union-attr]


def test_designated_host() -> None:
    room = Room("r", RoomKind.VOICE, RoomConfig(), 0.0, host_id="boss")
    room.handle(c.Join(info("a", ADMIN)), 0.0)
    assert room.member("a").role is Role.ADMIN  # type: ignore[union-attr]
    room.handle(c.Join(info("boss", HOST)), 0.0)
    assert room.member("boss").role is Role.HOST  # type: ignore[union-attr]


def test_hidden_admin_never_becomes_host_and_is_announced_to_staff_only() -> None:
    room = Room("r", RoomKind.VOICE, RoomConfig(), 0.0)
    actions = room.handle(c.Join(info("mod", HIDDEN_ADMIN)), 0.0)
    assert room.host_id is None
    assert actions == [Broadcast(MemberJoined("mod", "MOD", Role.ADMIN, True), staff_only=True)]
    room.handle(c.Join(info("h", HOST)), 0.0)
    assert room.host_id == "h"
    assert [m.user_id for m in room.snapshot(None).members] == ["h"]
    assert [m.user_id for m in room.snapshot("h").members] == ["mod", "h"]
    assert [m.user_id for m in room.snapshot("mod").members] == ["mod", "h"]


def test_join_refusals() -> None:
    room = make_room()
    refuse(room, c.Join(info("x", Grants(room_join=False))), "not_permitted")
    refuse(room, c.Join(info("x", verified=False)), "not_verified")


def test_verification_can_be_waived() -> None:
    room = make_room(config=RoomConfig(require_verified=False))
    room.handle(c.Join(info("x", verified=False)), 0.0)
    assert "x" in room


def test_room_full_but_staff_gets_in() -> None:
    room = make_room(config=RoomConfig(max_participants=2), members=[("host", HOST), ("v", VIEWER)])
    refuse(room, c.Join(info("x")), "room_full")
    room.handle(c.Join(info("adm", ADMIN)), 0.0)
    assert room.member_count() == 3


def test_join_twice_replaces_connection_and_keeps_state() -> None:
    room = make_room()
    room.handle(c.TakeSeat("p1", 2), 0.0)
    before = room.snapshot("host")
    assert room.handle(c.Join(info("p1"), "conn2"), 1.0) == [ReplaceConnection("p1")]
    assert room.snapshot("host") == before
    # the replaced connection's close is ignored
    assert room.handle(c.Disconnect("p1", "conn1"), 2.0) == []
    assert not room.member("p1").away  # type: ignore[union-attr]
    assert room.handle(c.Disconnect("p1", "conn2"), 2.0) == [Broadcast(MemberAway("p1"))]


def test_disconnect_keeps_seat_and_reconnect_restores() -> None:
    room = make_room()
    room.handle(c.TakeSeat("p1", 3), 0.0)
    assert room.handle(c.Disconnect("p1"), 1.0) == [Broadcast(MemberAway("p1"))]
    assert room.member("p1").away and seat_holder(room, 3) == "p1"  # type: ignore[union-attr]
    assert room.handle(c.Disconnect("p1"), 2.0) == []  # already away
    assert room.tick(1.0 + 19.9) == []
    assert room.handle(c.Reconnect("p1", "k2"), 20.0) == [Broadcast(MemberBack("p1"))]
    assert room.handle(c.Reconnect("p1", "k2"), 20.0) == []  # same connection: nothing to do
    # a resume while the old connection still looks alive (mobile network switch)
    assert room.handle(c.Reconnect("p1", "k3"), 20.0) == [ReplaceConnection("p1")]
    assert room.tick(100.0) == []
    assert seat_holder(room, 3) == "p1"


def test_join_while_away_is_a_resume() -> None:
    room = make_room()
    room.handle(c.Disconnect("p1"), 1.0)
    assert room.handle(c.Join(info("p1")), 2.0) == [Broadcast(MemberBack("p1"))]


def test_disconnect_of_non_member_is_a_noop() -> None:
    room = make_room()
    assert room.handle(c.Disconnect("nobody"), 0.0) == []


def test_resume_grace_expiry_is_a_leave() -> None:
    room = make_room()
    room.handle(c.TakeSeat("p1", 1), 0.0)
    room.handle(c.Disconnect("p1"), 10.0)
    actions = room.tick(30.0)
    assert types(actions) == ["seat.changed", "member.left", "SetForwarding"]
    assert broadcasts(actions)[1] == MemberLeft("p1", "timeout")
    assert "p1" not in room and seat_holder(room, 1) is None
    refuse(room, c.Reconnect("p1"), "not_in_room", now=31.0)


def test_leave() -> None:
    room = make_room()
    room.handle(c.TakeSeat("p2"), 0.0)
    actions = room.handle(c.Leave("p2"), 1.0)
    assert types(actions) == ["seat.changed", "member.left", "SetForwarding"]
    assert forwarding_of(actions) == {"p2": (False, False)}
    refuse(room, c.Leave("p2"), "not_in_room")


def test_kick_with_ban() -> None:
    room = make_room()
    room.handle(c.TakeSeat("p1", 1), 0.0)
    actions = room.handle(c.Kick("adm", "p1", 60), 10.0)
    assert MemberLeft("p1", "kicked") in broadcasts(actions)
    assert Disconnect("p1", CLOSE_KICKED, "kicked") in actions
    assert forwarding_of(actions) == {"p1": (False, False)}
    err = refuse(room, c.Join(info("p1")), "banned", now=20.0)
    assert err.retry_after == 50 and err.to_wire()["retry_after"] == 50
    room.tick(70.0)  # ban dropped
    room.handle(c.Join(info("p1")), 70.0)


def test_kick_refusals() -> None:
    room = make_room(members=[("host", HOST), ("adm", ADMIN), ("adm2", ADMIN), ("p1", PUBLISHER)])
    refuse(room, c.Kick("p1", "adm", 0), "not_permitted")
    refuse(room, c.Kick("adm", "host", 0), "cannot_target_host")
    refuse(room, c.Kick("adm", "adm2", 0), "not_permitted")
    refuse(room, c.Kick("adm", "adm", 0), "not_permitted")
    refuse(room, c.Kick("adm", "ghost", 0), "not_in_room")
    refuse(room, c.Kick("ghost", "p1", 0), "not_in_room")
    refuse(room, c.Kick("adm", "p1", -1), "bad_request")
    refuse(room, c.Kick("adm", "p1", float("inf")), "bad_request")
    room.handle(c.Kick("host", "adm2", 0), 0.0)  # the host may kick an admin
    room.handle(c.Join(info("adm2", ADMIN)), 0.0)  # no ban


def test_system_kick_may_remove_anyone() -> None:
    room = make_room()
    actions = room.handle(c.Kick(None, "host", 30), 0.0)
    assert MemberLeft("host", "kicked") in broadcasts(actions)
    assert forwarding_of(actions) == {"host": (False, False)}
    refuse(room, c.Join(info("host", HOST)), "banned", now=10.0)
    room.handle(c.Join(info("host", HOST)), 30.0)
    assert room.member("host").role is Role.HOST  # type: ignore[union-attr]


def test_end_room_by_host() -> None:
    room = make_room()
    room.handle(c.TakeSeat("p1", 1), 0.0)
    actions = room.handle(c.EndRoom("host", "bye"), 5.0)
    assert actions[0] == Broadcast(RoomEnded("bye"))
    assert Disconnect("v", CLOSE_ROOM_ENDED, "bye") in actions
    assert forwarding_of(actions) == {"host": (False, False), "p1": (False, False)}
    assert actions[-1] == RoomClosed("r1", "bye")
    assert room.state is RoomState.ENDED and room.ended
    snap = room.snapshot("host")
    assert snap.members == () and snap.seats == () and snap.state is RoomState.ENDED
    refuse(room, c.Join(info("new")), "room_ended")
    refuse(room, c.Leave("v"), "room_ended")
    assert room.tick(1000.0) == []


def test_end_room_by_admin_and_moderation_but_not_members() -> None:
    room = make_room()
    refuse(room, c.EndRoom("p1"), "not_permitted")
    refuse(room, c.EndRoom("ghost"), "not_in_room")
    room.handle(c.EndRoom("adm"), 0.0)
    room2 = make_room()
    actions = room2.handle(c.EndRoom(None, "moderation"), 0.0)
    assert actions[0] == Broadcast(RoomEnded("moderation"))


def test_idle_timeout_ends_room() -> None:
    room = make_room(members=[("host", HOST)])
    room.handle(c.Disconnect("host"), 100.0)
    assert room.next_deadline() == 120.0
    room.tick(120.0)  # host removed after the grace
    assert "host" not in room and not room.ended
    assert room.next_deadline() == 400.0
    assert room.tick(399.0) == []
    actions = room.tick(400.0)
    assert actions[0] == Broadcast(RoomEnded("idle"))
    assert actions[-1] == RoomClosed("r1", "idle")


def test_new_room_nobody_joins_ends_after_idle_timeout() -> None:
    room = Room("r", RoomKind.VOICE, RoomConfig(idle_timeout=60), 0.0)
    assert room.tick(59.0) == []
    assert types(room.tick(60.0)) == ["room.ended", "RoomClosed"]


def test_hidden_members_do_not_keep_a_room_alive() -> None:
    room = make_room(members=[("host", HOST), ("mod", HIDDEN_ADMIN)])
    room.handle(c.Leave("host"), 0.0)
    assert types(room.tick(300.0)) == ["room.ended", "Disconnect", "RoomClosed"]
