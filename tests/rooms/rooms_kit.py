"""Helpers for the rooms tests: members, prepared rooms, refusal checks, a client mirror."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from typing import Any

import pytest

from livepark.auth.grants import Grants
from livepark.rooms import Room, RoomConfig, RoomError, RoomKind, commands
from livepark.rooms.actions import Action, Broadcast, Notify, SetForwarding
from livepark.rooms.events import Event, RoomEvent
from livepark.rooms.members import MemberInfo

HOST = Grants(room_admin=True, can_publish=True)
ADMIN = Grants(room_admin=True, can_publish=True)
PUBLISHER = Grants(can_publish=True)
VIEWER = Grants()
HIDDEN_ADMIN = Grants(room_admin=True, hidden=True)
HIDDEN_PUBLISHER = Grants(can_publish=True, hidden=True)


def info(uid: str, grants: Grants = PUBLISHER, *, verified: bool = True) -> MemberInfo:
    return MemberInfo(uid, uid.upper(), grants, verified)


def make_room(
    kind: RoomKind = RoomKind.VOICE,
    config: RoomConfig | None = None,
    *,
    members: Iterable[tuple[str, Grants]] = (
        ("host", HOST),
        ("adm", ADMIN),
        ("p1", PUBLISHER),
        ("p2", PUBLISHER),
        ("p3", PUBLISHER),
        ("v", VIEWER),
    ),
    now: float = 0.0,
) -> Room:
    room = Room("r1", kind, config or RoomConfig(), now)
    for uid, grants in members:
        room.handle(commands.Join(info(uid, grants)), now)
    return room


def state_of(room: Room) -> Any:
    return copy.deepcopy(vars(room))


def refuse(room: Room, command: commands.Command, code: str, now: float = 0.0) -> RoomError:
    """Assert ``command`` is refused with ``code`` and that the room did not change."""
    before = state_of(room)
    with pytest.raises(RoomError) as excinfo:
        room.handle(command, now)
    assert excinfo.value.code == code, excinfo.value
    assert vars(room) == before
    return excinfo.value


def broadcasts(actions: Iterable[Action]) -> list[RoomEvent]:
    return [a.event for a in actions if isinstance(a, Broadcast)]


def types(actions: Iterable[Action]) -> list[str]:
    out: list[str] = []
    for a in actions:
        if isinstance(a, Broadcast | Notify):
            out.append(a.event.type)
        else:
            out.append(type(a).__name__)
    return out


def notified(actions: Iterable[Action], user_id: str) -> list[Event]:
    return [a.event for a in actions if isinstance(a, Notify) and a.user_id == user_id]


def forwarding_of(actions: Iterable[Action]) -> dict[str, tuple[bool, bool]]:
    return {a.user_id: (a.audio, a.video) for a in actions if isinstance(a, SetForwarding)}


def seat_holder(room: Room, seat: int) -> str | None:
    return room.snapshot(None).seats[seat - 1].user_id


class Mirror:
    """A client's copy of the room: starts from a snapshot, applies only broadcast events
    (as JSON, the way a client receives them).

    Strict: every event must change the copy (a repeated or no-op broadcast is a bug, it
    costs every client a frame), and :meth:`check` compares the copy with the room's real
    state, so a missing event shows up at the step that lost it.
    """

    def __init__(self, room: Room, viewer: str | None, *, staff: bool) -> None:
        self.staff = staff
        self.viewer = viewer
        self.state: dict[str, Any] = json.loads(json.dumps(room.snapshot(viewer).to_wire()))

    def apply(self, actions: Iterable[Action]) -> None:
        for a in actions:
            if isinstance(a, Broadcast) and (self.staff or not a.staff_only):
                ev = json.loads(json.dumps(a.event.to_wire()))
                before = copy.deepcopy(self.state)
                self.apply_event(ev)
                assert self.state != before, f"redundant event {ev} (changes nothing)"

    def apply_event(self, ev: dict[str, Any]) -> None:
        s = self.state
        members: list[dict[str, Any]] = s["members"]
        kind = ev["type"]
        assert s["state"] == "open", f"{kind} after room.ended"
        if kind == "member.joined":
            assert all(m["user_id"] != ev["user_id"] for m in members), "joined twice"
            members.append(
                {
                    "user_id": ev["user_id"],
                    "name": ev["name"],
                    "role": ev["role"],
                    "away": False,
                    "hidden": ev["hidden"],
                }
            )
            if ev["role"] == "host":
                s["host_id"] = ev["user_id"]
        elif kind == "member.left":
            before = len(members)
            s["members"] = [m for m in members if m["user_id"] != ev["user_id"]]
            assert len(s["members"]) == before - 1, "left but was not there"
        elif kind in ("member.away", "member.back"):
            (m,) = [m for m in members if m["user_id"] == ev["user_id"]]
            m["away"] = kind == "member.away"
        elif kind == "seat.changed":
            seat = {k: v for k, v in ev.items() if k != "type"}
            s["seats"][seat["seat"] - 1] = seat
        elif kind == "role.changed":
            (m,) = [m for m in members if m["user_id"] == ev["user_id"]]
            m["role"] = ev["role"]
        elif kind == "cohosts.changed":
            s["cohosts"] = ev["cohosts"]
        elif kind == "room.ended":
            s.update(state="ended", members=[], seats=[], cohosts=[])
        else:
            raise AssertionError(f"unknown event {kind}")

    def matches(self, room: Room, viewer: str | None) -> bool:
        fresh: dict[str, Any] = json.loads(json.dumps(room.snapshot(viewer).to_wire()))
        return self.state == fresh

    def check(self, room: Room, label: str) -> None:
        """The copy equals the room as this viewer may see it (a missing event fails here)."""
        fresh: dict[str, Any] = json.loads(json.dumps(room.snapshot(self.viewer).to_wire()))
        assert self.state == fresh, f"mirror {label} diverged:\n{self.state}\n!=\n{fresh}"
