"""The registry: creation on first join, lookup, ticking, removal."""

from __future__ import annotations

import pytest
from rooms_kit import ADMIN, HIDDEN_ADMIN, HOST, PUBLISHER, info

from livepark.rooms import RoomConfig, RoomError, RoomKind, RoomRegistry
from livepark.rooms import commands as c
from livepark.rooms.actions import RoomClosed


def test_admin_join_creates_room_and_becomes_host() -> None:
    reg = RoomRegistry()
    room, actions = reg.join("r", info("h", HOST), 0.0, RoomKind.LIVE)
    assert [type(a).__name__ for a in actions] == ["Broadcast", "SetForwarding"]
    assert room.kind is RoomKind.LIVE and room.host_id == "h" and reg.get("r") is room
    room2, _ = reg.join("r", info("p", PUBLISHER), 0.0)
    assert room2 is room and room.member_count() == 2


@pytest.mark.parametrize("grants", [PUBLISHER, HIDDEN_ADMIN])
def test_missing_room_is_not_created_by_others(grants: object) -> None:
    reg = RoomRegistry()
    with pytest.raises(RoomError) as e:
        reg.join("r", info("x", grants), 0.0)  # type: ignore[arg-type]
    assert e.value.code == "room_not_found"
    assert reg.get("r") is None and len(reg) == 0


def test_failed_first_join_registers_nothing() -> None:
    reg = RoomRegistry()
    with pytest.raises(RoomError):
        reg.join("r", info("h", HOST, verified=False), 0.0)
    assert "r" not in reg


def test_create_then_first_admin_is_host() -> None:
    reg = RoomRegistry(lambda kind: RoomConfig(seats=4 if kind is RoomKind.VOICE else 8))
    room = reg.create("r", RoomKind.VOICE, 0.0)
    assert len(room.snapshot(None).seats) == 4 and room.host_id is None
    reg.join("r", info("p", PUBLISHER), 0.0)
    reg.join("r", info("a", ADMIN), 0.0)
    assert room.host_id == "a"
    with pytest.raises(RoomError) as e:
        reg.create("r", RoomKind.VOICE, 0.0)
    assert e.value.code == "room_exists"


def test_create_with_host_id() -> None:
    reg = RoomRegistry()
    room = reg.create("r", RoomKind.LIVE, 0.0, host_id="star")
    reg.join("r", info("a", ADMIN), 0.0)
    reg.join("r", info("star", HOST), 0.0)
    assert room.host_id == "star"


def test_ended_rooms_are_removed_and_ids_reusable() -> None:
    reg = RoomRegistry()
    reg.join("r", info("h", HOST), 0.0)
    actions = reg.handle("r", c.EndRoom("h"), 1.0)
    assert actions[-1] == RoomClosed("r", "ended")
    assert reg.get("r") is None
    with pytest.raises(RoomError) as e:
        reg.handle("r", c.Leave("h"), 2.0)
    assert e.value.code == "room_not_found"
    room, _ = reg.join("r", info("h", HOST), 3.0)
    assert not room.ended


def test_room_ended_directly_is_replaced_on_join() -> None:
    reg = RoomRegistry()
    room, _ = reg.join("r", info("h", HOST), 0.0)
    room.handle(c.EndRoom(None, "moderation"), 1.0)
    new, _ = reg.join("r", info("h", HOST), 2.0)
    assert new is not room


def test_tick_and_counts() -> None:
    reg = RoomRegistry(lambda kind: RoomConfig(idle_timeout=50))
    reg.join("a", info("h", HOST), 0.0, RoomKind.LIVE)
    reg.join("b", info("h2", HOST), 0.0)
    reg.join("b", info("p", PUBLISHER), 0.0)
    reg.handle("b", c.TakeSeat("p"), 0.0)
    counts = reg.counts()
    assert (counts.rooms, counts.live_rooms, counts.voice_rooms) == (2, 1, 1)
    assert (counts.members, counts.connected, counts.publishers) == (3, 3, 3)
    reg.handle("a", c.Disconnect("h"), 10.0)
    assert reg.next_deadline() == 30.0
    out = reg.tick(30.0)
    assert {rid for rid, _ in out} == {"a"}
    out = reg.tick(60.0)
    assert ("a", RoomClosed("a", "idle")) in out
    assert [r.room_id for r in reg.rooms()] == ["b"]
    assert reg.remove("b") is not None and len(reg) == 0


def test_max_rooms() -> None:
    reg = RoomRegistry(max_rooms=1)
    reg.join("a", info("h", HOST), 0.0)
    with pytest.raises(RoomError) as e:
        reg.join("b", info("h", HOST), 0.0)
    assert e.value.code == "room_full"
