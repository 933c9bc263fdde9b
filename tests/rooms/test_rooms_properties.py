"""Property tests: random command sequences against one room, checking invariants each step.

- a seat holds at most one member, a member at most one seat;
- a seat locked before a step is never newly taken by it;
- only present, visible, ``can_publish`` non-host members hold seats or co-host slots;
- refused commands change nothing;
- clients that start from ``snapshot()`` and apply only the broadcasts they receive stay equal
  to a fresh snapshot after every step (anonymous view, host view, and every member since her
  join), and every broadcast they apply changes their copy (no repeated or no-op events);
- private events (``Notify``) are exactly the invitations made, declined and expired by the
  step, with the right recipients and contents;
- ``SetForwarding`` actions track ``room.forwarding()`` exactly.
"""

from __future__ import annotations

import copy
from collections import Counter
from typing import Any

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)
from rooms_kit import HOST, PUBLISHER, Mirror

from livepark.auth.grants import Grants
from livepark.rooms import Room, RoomConfig, RoomError, RoomKind
from livepark.rooms import commands as c
from livepark.rooms.actions import (
    Action,
    Broadcast,
    Disconnect,
    Notify,
    ReplaceConnection,
    SetForwarding,
)
from livepark.rooms.events import (
    CohostInvited,
    InviteDeclined,
    InviteExpired,
    MemberJoined,
    PrivateEvent,
    SeatInvited,
)
from livepark.rooms.members import MemberInfo

PLAYERS = ["h", "u0", "u1", "u2", "u3", "u4"]
ACTORS = [*PLAYERS, "ghost"]  # ghost never joins
SEATS = 3

actors = st.sampled_from(ACTORS)
seat_numbers = st.sampled_from([None, None, 1, 2, 3, 0, 4])
connections = st.sampled_from([None, "c1", "c2"])
mostly_true = st.sampled_from([True, True, True, False])
mostly_zero = st.sampled_from([0.0, 0.0, 0.0, 11.0])  # 11 > invite_ttl

grants_strategy = st.builds(
    Grants,
    room_join=st.sampled_from([True] * 9 + [False]),
    room_admin=st.sampled_from([False, False, False, True]),
    can_publish=st.sampled_from([True, True, True, False]),
    can_subscribe=st.just(True),
    can_publish_data=st.just(True),
    hidden=st.sampled_from([False] * 7 + [True]),
)


def _open(m: RoomMachine) -> bool:
    return not m.room.ended


def _voice(m: RoomMachine) -> bool:
    return m.kind is RoomKind.VOICE and not m.room.ended


def _live(m: RoomMachine) -> bool:
    return m.kind is RoomKind.LIVE and not m.room.ended


def _new_connection(actions: list[Action], user: str) -> bool:
    for a in actions:
        if isinstance(a, ReplaceConnection) and a.user_id == user:
            return True
        if isinstance(a, Broadcast) and isinstance(a.event, MemberJoined):
            if a.event.user_id == user:
                return True
    return False


class RoomMachine(RuleBasedStateMachine):
    kind = RoomKind.VOICE

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self.room: Room
        self.config: RoomConfig
        self.infos: dict[str, MemberInfo] = {}
        self.mirrors: dict[str, Mirror] = {}
        self.anon: Mirror
        self.host_view: Mirror | None = None
        self.fwd: dict[str, tuple[bool, bool]] = {}

    @initialize(
        grants=st.lists(grants_strategy, min_size=3, max_size=3),
        verified=st.lists(st.sampled_from([True] * 7 + [False]), min_size=3, max_size=3),
        designated_host=st.booleans(),
        max_publishers=st.sampled_from([None, 2, 3]),
        max_participants=st.sampled_from([4, 10]),
        first=st.permutations(PLAYERS),
        host_first=st.sampled_from([True, True, True, False]),
        how_many=st.sampled_from([len(PLAYERS), len(PLAYERS), 4, 2, 0]),
    )
    def setup(
        self,
        grants: list[Grants],
        verified: list[bool],
        designated_host: bool,
        max_publishers: int | None,
        max_participants: int,
        first: list[str],
        host_first: bool,
        how_many: int,
    ) -> None:
        self.config = RoomConfig(
            seats=SEATS,
            max_cohosts=2,
            invite_ttl=10.0,
            max_participants=max_participants,
            max_publishers=max_publishers,
            idle_timeout=120.0,
            resume_grace=20.0,
        )
        self.infos = {"h": MemberInfo("h", "Host", HOST, True)}
        # u0, u1: ordinary verified publishers; u2..u4: random grants and verification
        grants = [PUBLISHER, PUBLISHER, *grants]
        verified = [True, True, *verified]
        for i, (g, v) in enumerate(zip(grants, verified, strict=True)):
            self.infos[f"u{i}"] = MemberInfo(f"u{i}", f"User {i}", g, v)
        if host_first:  # most runs have the host in the room, as in real life
            first = ["h", *(u for u in first if u != "h")]
        self.open_room(designated_host, first[:how_many])

    def open_room(self, designated_host: bool, joiners: list[str]) -> None:
        host_id = "h" if designated_host else None
        self.room = Room("r", self.kind, self.config, self.now, host_id=host_id)
        self.mirrors = {}
        self.fwd = {}
        self.anon = Mirror(self.room, None, staff=False)
        self.host_view = None
        if designated_host:  # an observer with the host's view even while she is away
            self.host_view = Mirror(self.room, "h", staff=True)
        for user in joiners:
            self.step(c.Join(self.infos[user]))

    @precondition(lambda self: self.room.ended)
    @rule(designated_host=st.booleans(), joiners=st.permutations(PLAYERS[1:]))
    def reopen(self, designated_host: bool, joiners: list[str]) -> None:
        """Every command is refused once the room ended; carry on with a fresh room."""
        self.step(c.Join(self.infos["h"]))
        self.open_room(designated_host, ["h", *joiners])

    # -- the step: run, check refusal or apply ---------------------------------------------

    def step(self, command: c.Command) -> None:
        room = self.room
        before = copy.deepcopy(vars(room))
        locked_before = {s.seat: s.user_id for s in room.snapshot(None).seats if s.locked}
        try:
            actions = room.handle(command, self.now)
        except RoomError as e:
            assert vars(room) == before, f"refused {command} changed the room"
            event(f"refused {type(command).__name__}: {e.code}")
            return
        event(f"ok {type(command).__name__}")
        joined = command.user if isinstance(command, c.Join) else None
        self.after(actions, locked_before, joined, before["_d"].invites, command)

    def after(
        self,
        actions: list[Action],
        locked_before: dict[int, str | None],
        joined: str | None,
        invites_before: dict[str, Any],
        command: c.Command | None,
    ) -> None:
        room = self.room
        self.check_private_events(actions, invites_before, command)
        for seat in room.snapshot(None).seats:
            if seat.seat in locked_before:
                assert seat.user_id in (None, locked_before[seat.seat]), "locked seat taken"
        # a new connection (first join, or another device) starts from a snapshot
        fresh = joined if joined is not None and _new_connection(actions, joined) else None
        for uid, mirror in self.mirrors.items():
            if uid != fresh:
                mirror.apply(actions)
        if fresh is not None:
            self.mirrors[fresh] = Mirror(room, fresh, staff=room.is_staff(fresh))
        self.anon.apply(actions)
        if self.host_view is not None:
            self.host_view.apply(actions)
        for a in actions:
            if isinstance(a, SetForwarding):
                new = (a.audio, a.video)
                assert self.fwd.get(a.user_id, (False, False)) != new, "redundant SetForwarding"
                self.fwd[a.user_id] = new
            elif isinstance(a, Notify):
                assert a.user_id in room, "notified a non-member"
            elif isinstance(a, Disconnect):
                assert a.user_id not in room, "disconnected a member who stays"
        for uid in list(self.mirrors):
            if uid not in room:
                del self.mirrors[uid]
        # after every step, not only after every rule: a lost event fails where it was lost
        self.anon.check(room, "anonymous")
        if self.host_view is not None:
            self.host_view.check(room, "host view")
        for uid, mirror in self.mirrors.items():
            mirror.check(room, f"of {uid}")

    def check_private_events(
        self, actions: list[Action], invites_before: dict[str, Any], command: c.Command | None
    ) -> None:
        """The step's ``Notify`` actions are exactly what its invitation changes call for."""
        room = self.room
        after: dict[str, Any] = vars(room)["_d"].invites
        ttl = self.config.invite_ttl
        expected: list[tuple[str, PrivateEvent]] = []
        invited = command.target if isinstance(command, c.InviteToSeat | c.InviteCohost) else None
        for uid, inv in after.items():
            if uid == invited or invites_before.get(uid) != inv:  # a new invitation
                assert inv.expires_at == self.now + ttl
                made: PrivateEvent = (
                    SeatInvited(inv.seat, inv.by, ttl) if inv.kind == "seat" else CohostInvited(inv.by, ttl)
                )
                expected.append((uid, made))
        declined = command.user if isinstance(command, c.DeclineSeatInvite | c.DeclineCohost) else None
        for uid, old in invites_before.items():
            if after.get(uid) == old or room.ended:
                continue
            if uid == declined:
                if old.by in room and old.by != uid:
                    expected.append((old.by, InviteDeclined(old.kind, uid)))
            elif command is None and self.now >= old.expires_at and uid in room:
                expected.append((uid, InviteExpired(old.kind, uid)))
                if old.by in room and old.by != uid:
                    expected.append((old.by, InviteExpired(old.kind, uid)))
        notified = [(a.user_id, a.event) for a in actions if isinstance(a, Notify)]
        assert Counter(notified) == Counter(expected), f"private events {notified} != {expected}"

    # -- rules --------------------------------------------------------------------------------
    # Actors are drawn mostly from present members (so that commands can succeed), sometimes
    # from everyone (absent members, "ghost").

    def pick(self, data: st.DataObject, label: str) -> str:
        """Mostly a present member fitting ``label``; sometimes anyone (absent, "ghost")."""
        room = self.room
        present = [u for u in PLAYERS if u in room]
        fitting = {
            "by": lambda u: room.is_staff(u),
            "invitee": lambda u: room.pending_invite(u) is not None,
            "seated": lambda u: getattr(room.member(u), "seat", None) is not None,
            "cohost": lambda u: getattr(room.member(u), "cohost", False),
            "target": self._promotable,
        }.get(label)
        preferred = [u for u in present if fitting(u)] if fitting else []
        i = data.draw(st.integers(0, 9), label=label)
        if i < 5 and preferred:
            return preferred[i % len(preferred)]
        if i < 8 and present:
            return present[i % len(present)]
        return ACTORS[i % len(ACTORS)]

    def _promotable(self, user: str) -> bool:
        view = self.room.member(user)
        return (
            view is not None
            and view.info.grants.can_publish
            and not view.hidden
            and view.role.value not in ("host", "cohost", "speaker")
        )

    @precondition(_voice)
    @rule(data=st.data(), seat=seat_numbers, accept=mostly_true, wait=mostly_zero)
    def seat_invitation_round(self, data: st.DataObject, seat: int | None, accept: bool, wait: float) -> None:
        target = self.pick(data, "target")
        self.step(c.InviteToSeat(self.pick(data, "by"), target, seat))
        self.now += wait
        self.step(c.AcceptSeatInvite(target) if accept else c.DeclineSeatInvite(target))

    @precondition(_live)
    @rule(data=st.data(), accept=mostly_true, wait=mostly_zero)
    def cohost_invitation_round(self, data: st.DataObject, accept: bool, wait: float) -> None:
        target = self.pick(data, "target")
        self.step(c.InviteCohost(self.pick(data, "by"), target))
        self.now += wait
        self.step(c.AcceptCohost(target) if accept else c.DeclineCohost(target))

    @precondition(_open)
    @rule(user=st.sampled_from(PLAYERS), conn=connections)
    def join(self, user: str, conn: str | None) -> None:
        self.step(c.Join(self.infos[user], conn))

    @precondition(_open)
    @rule(data=st.data())
    def leave(self, data: st.DataObject) -> None:
        self.step(c.Leave(self.pick(data, "user")))

    @precondition(_open)
    @rule(data=st.data(), conn=connections)
    def disconnect(self, data: st.DataObject, conn: str | None) -> None:
        self.step(c.Disconnect(self.pick(data, "user"), conn))

    @precondition(_open)
    @rule(data=st.data(), conn=connections)
    def reconnect(self, data: st.DataObject, conn: str | None) -> None:
        self.step(c.Reconnect(self.pick(data, "user"), conn))

    @precondition(_voice)
    @rule(data=st.data(), seat=seat_numbers)
    def take_seat(self, data: st.DataObject, seat: int | None) -> None:
        self.step(c.TakeSeat(self.pick(data, "user"), seat))

    @precondition(_voice)
    @rule(data=st.data())
    def leave_seat(self, data: st.DataObject) -> None:
        self.step(c.LeaveSeat(self.pick(data, "seated")))

    @precondition(_voice)
    @rule(data=st.data(), seat=seat_numbers)
    def invite_to_seat(self, data: st.DataObject, seat: int | None) -> None:
        self.step(c.InviteToSeat(self.pick(data, "by"), self.pick(data, "any"), seat))

    @precondition(_voice)
    @rule(data=st.data(), accept=st.booleans())
    def answer_seat_invite(self, data: st.DataObject, accept: bool) -> None:
        user = self.pick(data, "invitee")
        self.step(c.AcceptSeatInvite(user) if accept else c.DeclineSeatInvite(user))

    @precondition(_voice)
    @rule(data=st.data(), seat=seat_numbers, on=st.booleans())
    def lock_seat(self, data: st.DataObject, seat: int | None, on: bool) -> None:
        self.step(c.LockSeat(self.pick(data, "by"), seat or 1, on))

    @precondition(_voice)
    @rule(data=st.data(), seat=seat_numbers, on=st.booleans())
    def mute_seat(self, data: st.DataObject, seat: int | None, on: bool) -> None:
        self.step(c.MuteSeat(self.pick(data, "by"), seat or 1, on))

    @precondition(_voice)
    @rule(data=st.data(), on=st.booleans())
    def self_mute(self, data: st.DataObject, on: bool) -> None:
        self.step(c.SelfMute(self.pick(data, "seated"), on))

    @precondition(_voice)
    @rule(data=st.data(), seat=seat_numbers)
    def clear_seat(self, data: st.DataObject, seat: int | None) -> None:
        self.step(c.ClearSeat(self.pick(data, "by"), seat or 2))

    @precondition(_open)
    @rule(data=st.data(), ban=st.sampled_from([0.0, 10.0, 100.0]), system=st.integers(0, 9))
    def kick(self, data: st.DataObject, ban: float, system: int) -> None:
        by = None if system == 0 else self.pick(data, "by")
        self.step(c.Kick(by, self.pick(data, "any"), ban))

    @precondition(_live)
    @rule(data=st.data())
    def invite_cohost(self, data: st.DataObject) -> None:
        self.step(c.InviteCohost(self.pick(data, "by"), self.pick(data, "any")))

    @precondition(_live)
    @rule(data=st.data(), accept=st.booleans())
    def answer_cohost_invite(self, data: st.DataObject, accept: bool) -> None:
        user = self.pick(data, "invitee")
        self.step(c.AcceptCohost(user) if accept else c.DeclineCohost(user))

    @precondition(_live)
    @rule(data=st.data())
    def remove_cohost(self, data: st.DataObject) -> None:
        self.step(c.RemoveCohost(self.pick(data, "by"), self.pick(data, "cohost")))

    @precondition(_live)
    @rule(data=st.data())
    def step_down(self, data: st.DataObject) -> None:
        self.step(c.StepDown(self.pick(data, "cohost")))

    @precondition(_open)
    @rule(data=st.data(), system=st.booleans(), dice=st.integers(0, 39))
    def end_room(self, data: st.DataObject, system: bool, dice: int) -> None:
        if dice == 0:  # rare, or every run would end early
            self.step(c.EndRoom(None if system else self.pick(data, "by"), "test"))

    @precondition(_open)
    @rule(dt=st.sampled_from([0.0, 1.0, 2.0, 5.0, 10.0, 25.0, 130.0]))
    def advance(self, dt: float) -> None:
        self.now += dt
        locked_before = {s.seat: s.user_id for s in self.room.snapshot(None).seats if s.locked}
        invites_before = copy.deepcopy(vars(self.room)["_d"].invites)
        self.after(self.room.tick(self.now), locked_before, None, invites_before, None)

    # -- invariants -----------------------------------------------------------------------

    @invariant()
    def seats_and_cohosts(self) -> None:
        room = self.room
        snap = room.snapshot("h")
        holders = [s.user_id for s in snap.seats if s.user_id is not None]
        assert not any(s.self_muted for s in snap.seats if s.user_id is None)
        assert len(holders) == len(set(holders)), "a member on two seats"
        assert len(snap.cohosts) == len(set(snap.cohosts)) <= room.config.max_cohosts
        for uid in [*holders, *snap.cohosts]:
            view = room.member(uid)
            assert view is not None, "seat or co-host slot held by a non-member"
            assert view.info.grants.can_publish and not view.hidden
            assert uid != room.host_id
        if self.kind is RoomKind.LIVE:
            assert holders == []
        else:
            assert list(snap.cohosts) == []
        limit = room.config.publisher_limit(room.kind)
        assert 1 + len(holders) + len(snap.cohosts) <= limit

    @invariant()
    def roles_are_consistent(self) -> None:
        room = self.room
        for entry in room.snapshot("h").members:
            assert (entry.role == "host") == (entry.user_id == room.host_id)
            view = room.member(entry.user_id)
            assert view is not None and view.role is entry.role and view.away is entry.away
        # the internal idle counter agrees with a recount
        d = vars(room)["_d"]
        assert d.connected_visible == sum(1 for m in d.members.values() if m.connected and not m.hidden)

    @invariant()
    def mirrors_match(self) -> None:
        room = self.room
        assert self.anon.matches(room, None), "anonymous mirror diverged"
        if self.host_view is not None:
            assert self.host_view.matches(room, "h"), "host mirror diverged"
        for uid, mirror in self.mirrors.items():
            assert mirror.matches(room, uid), f"mirror of {uid} diverged"

    @invariant()
    def forwarding_matches(self) -> None:
        for uid in PLAYERS:
            assert self.fwd.get(uid, (False, False)) == self.room.forwarding(uid), uid

    @invariant()
    def ended_room_refuses_everything(self) -> None:
        if self.room.ended:
            assert self.room.snapshot("h").members == ()
            try:
                self.room.handle(c.Join(self.infos["h"]), self.now)
            except RoomError as e:
                assert e.code == "room_ended"
            else:
                raise AssertionError("an ended room accepted a join")


class LiveRoomMachine(RoomMachine):
    kind = RoomKind.LIVE


_SETTINGS = settings(
    max_examples=80,
    stateful_step_count=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

TestVoiceRoom = RoomMachine.TestCase
TestVoiceRoom.settings = _SETTINGS
TestLiveRoom = LiveRoomMachine.TestCase
TestLiveRoom.settings = _SETTINGS
