"""Live-room co-hosts."""

from __future__ import annotations

from rooms_kit import (
    ADMIN,
    HOST,
    PUBLISHER,
    VIEWER,
    forwarding_of,
    info,
    make_room,
    refuse,
    types,
)

from livepark.rooms import Role, RoomConfig, RoomKind
from livepark.rooms import commands as c
from livepark.rooms.actions import Broadcast, Notify, SetForwarding
from livepark.rooms.events import (
    CohostInvited,
    CohostsChanged,
    InviteDeclined,
    InviteExpired,
    RoleChanged,
)


def test_invite_and_accept() -> None:
    room = make_room(RoomKind.LIVE)
    assert room.handle(c.InviteCohost("host", "p1"), 0.0) == [Notify("p1", CohostInvited("host", 30.0))]
    actions = room.handle(c.AcceptCohost("p1"), 1.0)
    assert actions == [
        Broadcast(CohostsChanged(("p1",))),
        Broadcast(RoleChanged("p1", Role.COHOST)),
        SetForwarding("p1", True, True),
    ]
    assert room.snapshot(None).cohosts == ("p1",)
    assert room.member("p1").cohost  # type: ignore[union-attr]


def test_only_the_host_invites_but_an_admin_may_remove() -> None:
    room = make_room(RoomKind.LIVE)
    refuse(room, c.InviteCohost("adm", "p1"), "not_permitted")
    refuse(room, c.InviteCohost("adm", "adm"), "not_permitted")
    room.handle(c.InviteCohost("host", "p1"), 0.0)
    room.handle(c.AcceptCohost("p1"), 0.0)
    actions = room.handle(c.RemoveCohost("adm", "p1"), 0.0)
    assert types(actions) == ["cohosts.changed", "role.changed", "SetForwarding"]
    assert room.snapshot(None).cohosts == ()


def test_admin_cohost_stays_admin() -> None:
    room = make_room(RoomKind.LIVE)
    room.handle(c.InviteCohost("host", "adm"), 0.0)
    actions = room.handle(c.AcceptCohost("adm"), 0.0)
    assert types(actions) == ["cohosts.changed", "SetForwarding"]


def test_decline() -> None:
    room = make_room(RoomKind.LIVE)
    room.handle(c.InviteCohost("host", "p1"), 0.0)
    assert room.handle(c.DeclineCohost("p1"), 0.0) == [Notify("host", InviteDeclined("cohost", "p1"))]
    refuse(room, c.AcceptCohost("p1"), "not_invited")
    refuse(room, c.DeclineCohost("p1"), "not_invited")


def test_expiry() -> None:
    room = make_room(RoomKind.LIVE, RoomConfig(invite_ttl=5))
    room.handle(c.InviteCohost("host", "p1"), 0.0)
    refuse(room, c.AcceptCohost("p1"), "invite_expired", now=5.0)
    assert room.tick(5.0) == [
        Notify("p1", InviteExpired("cohost", "p1")),
        Notify("host", InviteExpired("cohost", "p1")),
    ]


def test_invite_refusals() -> None:
    room = make_room(RoomKind.LIVE)
    refuse(room, c.InviteCohost("p2", "p1"), "not_permitted")
    refuse(room, c.InviteCohost("host", "v"), "not_permitted")
    refuse(room, c.InviteCohost("host", "host"), "cannot_target_host")
    refuse(room, c.InviteCohost("host", "ghost"), "not_in_room")
    room.handle(c.InviteCohost("host", "p1"), 0.0)
    room.handle(c.AcceptCohost("p1"), 0.0)
    refuse(room, c.InviteCohost("host", "p1"), "already_cohost")


def test_cohosts_full() -> None:
    room = make_room(RoomKind.LIVE, RoomConfig(max_cohosts=1))
    room.handle(c.InviteCohost("host", "p1"), 0.0)
    room.handle(c.InviteCohost("host", "p2"), 0.0)
    room.handle(c.AcceptCohost("p1"), 0.0)
    refuse(room, c.AcceptCohost("p2"), "cohosts_full")
    refuse(room, c.InviteCohost("host", "p3"), "cohosts_full")


def test_publishers_full() -> None:
    room = make_room(RoomKind.LIVE, RoomConfig(max_publishers=2))
    room.handle(c.InviteCohost("host", "p1"), 0.0)
    room.handle(c.InviteCohost("host", "p2"), 0.0)
    room.handle(c.AcceptCohost("p1"), 0.0)
    refuse(room, c.AcceptCohost("p2"), "publishers_full")


def test_remove_and_step_down() -> None:
    room = make_room(RoomKind.LIVE)
    for uid in ("p1", "p2"):
        room.handle(c.InviteCohost("host", uid), 0.0)
        room.handle(c.AcceptCohost(uid), 0.0)
    actions = room.handle(c.RemoveCohost("adm", "p1"), 0.0)
    assert actions == [
        Broadcast(CohostsChanged(("p2",))),
        Broadcast(RoleChanged("p1", Role.VIEWER)),
        SetForwarding("p1", False, False),
    ]
    assert forwarding_of(room.handle(c.StepDown("p2"), 0.0)) == {"p2": (False, False)}
    refuse(room, c.StepDown("p2"), "not_cohost")
    refuse(room, c.RemoveCohost("host", "p1"), "not_cohost")
    refuse(room, c.RemoveCohost("adm", "host"), "cannot_target_host")
    refuse(room, c.RemoveCohost("p3", "p1"), "not_permitted")


def test_admin_cannot_remove_admin_cohost() -> None:
    room = make_room(RoomKind.LIVE, members=[("host", HOST), ("a1", ADMIN), ("a2", ADMIN)])
    room.handle(c.InviteCohost("host", "a2"), 0.0)
    room.handle(c.AcceptCohost("a2"), 0.0)
    refuse(room, c.RemoveCohost("a1", "a2"), "not_permitted")
    room.handle(c.RemoveCohost("host", "a2"), 0.0)


def test_leaving_cohost_is_announced() -> None:
    room = make_room(RoomKind.LIVE, members=[("host", HOST), ("p1", PUBLISHER), ("v", VIEWER)])
    room.handle(c.InviteCohost("host", "p1"), 0.0)
    room.handle(c.AcceptCohost("p1"), 0.0)
    actions = room.handle(c.Leave("p1"), 0.0)
    assert types(actions) == ["cohosts.changed", "member.left", "SetForwarding"]


def test_cohost_commands_in_voice_room() -> None:
    room = make_room(RoomKind.VOICE)
    commands: list[c.Command] = [
        c.InviteCohost("host", "p1"),
        c.AcceptCohost("p1"),
        c.DeclineCohost("p1"),
        c.RemoveCohost("host", "p1"),
        c.StepDown("p1"),
    ]
    for command in commands:
        refuse(room, command, "wrong_room_kind")


def test_invitee_leaving_drops_invite() -> None:
    room = make_room(RoomKind.LIVE)
    room.handle(c.InviteCohost("host", "p1"), 0.0)
    room.handle(c.Leave("p1"), 0.0)
    room.handle(c.Join(info("p1")), 0.0)
    refuse(room, c.AcceptCohost("p1"), "not_invited")
