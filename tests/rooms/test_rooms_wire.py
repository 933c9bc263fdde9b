"""Wire shapes: events, snapshots, errors are JSON-safe and carry no private data."""

from __future__ import annotations

import json
import typing

import pytest
from rooms_kit import HIDDEN_ADMIN, HOST, PUBLISHER, info, make_room

from livepark.auth.grants import Grants
from livepark.errors import LiveparkError
from livepark.rooms import ErrorCode, Role, RoomError, RoomKind, SeatView
from livepark.rooms import commands as c
from livepark.rooms import errors as errors_module
from livepark.rooms import events as ev
from livepark.rooms.members import MemberInfo

SAMPLES: list[ev.Event] = [
    ev.MemberJoined("u", "U", Role.VIEWER),
    ev.MemberLeft("u", "kicked"),
    ev.MemberAway("u"),
    ev.MemberBack("u"),
    ev.SeatChanged(SeatView(1, None, True, False, False)),
    ev.RoleChanged("u", Role.SPEAKER),
    ev.CohostsChanged(("a", "b")),
    ev.RoomEnded("idle"),
    ev.SeatInvited(None, "h", 30.0),
    ev.CohostInvited("h", 30.0),
    ev.InviteDeclined("seat", "u"),
    ev.InviteExpired("cohost", "u"),
]


def test_every_event_type_has_a_sample() -> None:
    all_types = typing.get_args(ev.RoomEvent) + typing.get_args(ev.PrivateEvent)
    assert {type(s) for s in SAMPLES} == set(all_types)


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: e.type)
def test_events_are_json_safe_and_tagged(event: ev.Event) -> None:
    wire = event.to_wire()
    assert json.loads(json.dumps(wire)) == wire
    assert wire["type"] == event.type


def test_snapshot_has_no_private_data() -> None:
    room = make_room(members=[("host", HOST), ("p", PUBLISHER)])
    room.handle(c.Join(MemberInfo("kid", "Kid", Grants(), verified=True, minor=True)), 0.0)
    text = json.dumps(room.snapshot("host").to_wire())
    for word in ("verified", "minor", "grants", "can_publish", "room_admin"):
        assert word not in text


def test_hidden_members_only_in_staff_snapshots() -> None:
    room = make_room(members=[("host", HOST), ("p", PUBLISHER), ("mod", HIDDEN_ADMIN)])
    assert "mod" not in json.dumps(room.snapshot("p").to_wire())
    assert "mod" not in json.dumps(room.snapshot(None).to_wire())
    assert room.staff_snapshot() == room.snapshot("host")
    staff = room.snapshot("host").to_wire()["members"]
    assert {"user_id": "mod", "name": "MOD", "role": "admin", "away": False, "hidden": True} in staff  # type: ignore[operator]


def test_snapshot_wire_shape() -> None:
    room = make_room(RoomKind.VOICE, members=[("host", HOST), ("p", PUBLISHER)])
    room.handle(c.TakeSeat("p", 2), 0.0)
    wire = room.snapshot("p").to_wire()
    assert wire["room_id"] == "r1" and wire["kind"] == "voice" and wire["state"] == "open"
    assert wire["host_id"] == "host" and wire["cohosts"] == []
    assert wire["seats"][1] == {  # type: ignore[index]
        "seat": 2,
        "user_id": "p",
        "locked": False,
        "muted_by_host": False,
        "self_muted": False,
    }


def test_error_codes_are_documented_and_wire_safe() -> None:
    doc = errors_module.__doc__ or ""
    for code in ErrorCode:
        assert f"``{code.value}``" in doc
    err = RoomError(ErrorCode.BANNED, retry_after=1.2)
    assert err.code == "banned" and err.retry_after == 2
    assert json.loads(json.dumps(err.to_wire())) == err.to_wire()
    assert isinstance(err, LiveparkError)


def test_member_view_is_server_side() -> None:
    room = make_room(members=[("host", HOST)])
    view = room.member("host")
    assert view is not None and view.info == info("host", HOST) and view.may_publish
    assert room.member("nobody") is None
