"""A livepark node: wires the room core to signaling, the danmaku hub and the SFU.

The room core decides; this module carries its actions out:
``Broadcast`` → the hub's sequenced room stream, ``Notify`` → one connection,
``SetForwarding`` → the SFU, ``Disconnect``/``ReplaceConnection`` → close connections,
``RoomClosed`` → release hub, SFU and resume state.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Iterable
from typing import Any

from livepark import metrics
from livepark.auth.errors import AuthError, NotVerified
from livepark.auth.tokens import Claims, TokenVerifier
from livepark.clock import Clock, monotonic
from livepark.config import Config
from livepark.danmaku.hub import DanmakuHub, Sender
from livepark.danmaku.ws_subscriber import WebSocketSubscriber
from livepark.errors import LiveparkError
from livepark.media import events as me
from livepark.media.events import MediaEvent
from livepark.media.sfu import Sfu
from livepark.room_outbox import RoomOutbox
from livepark.rooms import actions as a
from livepark.rooms import commands as c
from livepark.rooms.config import RoomConfig, RoomKind
from livepark.rooms.errors import ErrorCode, RoomError
from livepark.rooms.members import MemberInfo
from livepark.rooms.registry import RoomRegistry
from livepark.rooms.room import Room
from livepark.signaling.codes import CloseCode
from livepark.signaling.connection import Connection
from livepark.signaling.envelope import event
from livepark.signaling.resume import ResumeTable

log = logging.getLogger(__name__)

TICK_SECONDS = 1.0


class HttpRefused(LiveparkError):
    """A refusal on an HTTP endpoint, with the status to answer."""

    def __init__(self, message: str, *, code: str, http_status: int) -> None:
        super().__init__(message, code=code)
        self.http_status = http_status


class Node:
    def __init__(
        self,
        config: Config,
        verifier: TokenVerifier,
        hub: DanmakuHub,
        sfu: Sfu,
        clock: Clock = monotonic,
    ) -> None:
        self.config = config
        self.verifier = verifier
        self.clock = clock
        rc = config.rooms
        self.room_config: RoomConfig = rc.room_config()
        self.registry = RoomRegistry(lambda kind: self.room_config, max_rooms=rc.max_rooms)
        self.resume = ResumeTable(rc.resume_grace)
        self.hub = hub
        self.sfu = sfu
        self.outbox = RoomOutbox(hub.publish_event)
        self.members: dict[tuple[str, str], Connection] = {}
        self.headless: set[tuple[str, str]] = set()
        """Members present only through a WHIP session (OBS): they leave when it stops."""
        self._ticker: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self._ticker = asyncio.get_running_loop().create_task(self._tick_forever())

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        await self.outbox.close()
        for task in list(self._background):
            task.cancel()

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            try:
                self.tick()
            except Exception:
                log.exception("room tick failed")

    def tick(self) -> None:
        for room_id, action in self.registry.tick(self.clock()):
            self.apply(room_id, [action])
        self._update_gauges()

    def _update_gauges(self) -> None:
        counts = self.registry.counts()
        metrics.ROOMS.labels(RoomKind.LIVE.value).set(counts.live_rooms)
        metrics.ROOMS.labels(RoomKind.VOICE.value).set(counts.voice_rooms)
        metrics.PARTICIPANTS.set(counts.members)

    # ------------------------------------------------------------------ identity
    def member_info(self, claims: Claims) -> MemberInfo:
        return MemberInfo(claims.user_id, claims.name, claims.grants, claims.verified, claims.minor)

    def authenticate(self, token: Any, room: Any = None) -> Claims:
        claims = self.verifier.verify(
            token if isinstance(token, str) else None, room=room if isinstance(room, str) else None
        )
        claims.require("room_join")
        if self.config.rooms.require_verified and not claims.verified:
            raise NotVerified("this community requires a verified account")
        return claims

    # ------------------------------------------------------------------ join / resume / leave
    async def join(self, conn: Connection, claims: Claims, kind: RoomKind) -> dict[str, Any]:
        """Admit ``conn`` into its token's room; returns the reply data."""
        room, actions = self.registry.join(
            claims.room,
            self.member_info(claims),
            self.clock(),
            kind=kind,
            connection_id=str(conn.id),
        )
        self._bind(conn, claims, room, actions, secrets.token_urlsafe(12))
        return await self._welcome(conn, room)

    async def resume_session(self, conn: Connection, token: str) -> dict[str, Any]:
        ticket = self.resume.redeem(token, self.clock())
        if ticket is None:
            raise LiveparkError("resume token unknown or expired: join again", code="resume_failed")
        room = self.registry.get(ticket.room_id)
        if room is None:
            raise LiveparkError("the room has ended", code="resume_failed")
        try:
            actions = room.handle(c.Reconnect(ticket.user_id, str(conn.id)), self.clock())
        except RoomError as exc:
            raise LiveparkError(f"cannot resume: {exc.code}", code="resume_failed") from exc
        self._bind(conn, ticket.claims, room, actions, ticket.session_id)
        return await self._welcome(conn, room)

    def _bind(
        self, conn: Connection, claims: Claims, room: Room, actions: list[a.Action], session_id: str
    ) -> None:
        key = (claims.room, claims.user_id)
        old = self.members.get(key)
        if old is not None and old is not conn:
            old.left_on_purpose = True
            if old.subscriber is not None:
                self.hub.detach(claims.room, old.subscriber)
            old.close(CloseCode.REPLACED, "joined from another connection")
        conn.bind(
            claims,
            session_id,
            WebSocketSubscriber(
                conn.ws,
                claims.user_id,
                encoding=conn.encoding,
                close_grace=self.hub.config.close_grace,
            ),
        )
        self.members[key] = conn
        self.apply(claims.room, [x for x in actions if not isinstance(x, a.ReplaceConnection)])

    async def _welcome(self, conn: Connection, room: Room) -> dict[str, Any]:
        """The join/resume reply: taken after this join's events reached the stream, so
        ``room`` already reflects every event up to ``last_seq``."""
        claims = conn.claims
        assert claims is not None and conn.session_id is not None
        await self.outbox.flushed(room.room_id)
        view = room.member(claims.user_id)
        return {
            "session_id": conn.session_id,
            "resume_token": self.resume.issue(claims, conn.session_id),
            "resume_grace": self.config.rooms.resume_grace,
            "heartbeat_interval": self.config.signaling.heartbeat_interval,
            "you": {
                "user_id": claims.user_id,
                "name": claims.name,
                "role": view.role.value if view else None,
                "seat": view.seat if view else None,
            },
            "room": room.snapshot(claims.user_id).to_wire(),
            "last_seq": self.last_seq(room.room_id),
            "ice_servers": self.sfu.ice_servers(),
        }

    def last_seq(self, room_id: str) -> int:
        stats = self.hub.room_stats(room_id)
        return stats.last_seq if stats is not None else 0

    def online(self, room_id: str) -> int:
        stats = self.hub.room_stats(room_id)
        return stats.online if stats is not None else 0

    async def attach_stream(
        self, conn: Connection, *, resume_from: int | None, history: bool, compress: bool
    ) -> None:
        """Start the room stream on ``conn``: events after ``resume_from`` (and, on a fresh
        join, the last comments)."""
        room_id, sub = conn.room_id, conn.subscriber
        if room_id is None or sub is None or self.members.get((room_id, sub.user_id)) is not conn:
            return
        hidden = conn.claims is not None and conn.claims.grants.hidden
        await self.hub.attach(
            room_id,
            sub,
            resume_from=resume_from,
            history=history,
            compress=compress and conn.encoding == "msgpack",
            counted=not hidden,
        )

    def leave(self, conn: Connection) -> None:
        room_id, user_id = conn.room_id, conn.user_id
        if room_id is None or user_id is None:
            return
        conn.left_on_purpose = True
        self.resume.revoke(room_id, user_id)
        room = self.registry.get(room_id)
        if room is not None and room.member(user_id) is not None:
            self.apply(room_id, room.handle(c.Leave(user_id), self.clock()))
        self._forget(conn)

    async def connection_closed(self, conn: Connection) -> None:
        room_id, user_id = conn.room_id, conn.user_id
        if room_id is None or user_id is None:
            return
        if conn.subscriber is not None:
            self.hub.detach(room_id, conn.subscriber)
        if self.members.get((room_id, user_id)) is not conn:
            return  # replaced by a newer connection
        if conn.left_on_purpose:
            self._forget(conn)
            return
        del self.members[(room_id, user_id)]
        room = self.registry.get(room_id)
        if room is None:
            return
        self.resume.start_grace(room_id, user_id, self.clock())
        self.apply(room_id, room.handle(c.Disconnect(user_id, str(conn.id)), self.clock()))

    def _forget(self, conn: Connection) -> None:
        if conn.room_id is None or conn.user_id is None:
            return
        key = (conn.room_id, conn.user_id)
        if self.members.get(key) is conn:
            del self.members[key]
        if conn.subscriber is not None:
            self.hub.detach(conn.room_id, conn.subscriber)

    # ------------------------------------------------------------------ commands
    def command(self, room_id: str, command: c.Command) -> None:
        self.apply(room_id, self.registry.handle(room_id, command, self.clock()))

    def end_room(self, room_id: str, reason: str) -> None:
        """End a room for a trusted caller (admin API, moderation)."""
        self.command(room_id, c.EndRoom(None, reason))

    # ------------------------------------------------------------------ actions
    def apply(self, room_id: str, actions: Iterable[a.Action]) -> None:
        for action in actions:
            try:
                self._apply_one(room_id, action)
            except Exception:
                log.exception("applying %s in room %s failed", type(action).__name__, room_id)

    def _apply_one(self, room_id: str, action: a.Action) -> None:
        if isinstance(action, a.Broadcast):
            wire = dict(action.event.to_wire())
            name = str(wire.pop("type"))
            if action.staff_only:
                self._send_to_staff(room_id, name, wire)
            else:
                self.outbox.push(room_id, name, wire)
            if name == "member.left":
                user = str(wire["user_id"])
                self.resume.revoke(room_id, user)
                self._spawn(self.sfu.remove_participant(room_id, user))
        elif isinstance(action, a.Notify):
            conn = self.members.get((room_id, action.user_id))
            if conn is not None:
                wire = dict(action.event.to_wire())
                conn.send(event(str(wire.pop("type")), wire))
        elif isinstance(action, a.SetForwarding):
            self.sfu.set_forwarding(room_id, action.user_id, audio=action.audio, video=action.video)
        elif isinstance(action, a.Disconnect):
            conn = self.members.pop((room_id, action.user_id), None)
            self.resume.revoke(room_id, action.user_id)
            self._spawn(self.sfu.remove_participant(room_id, action.user_id))
            if conn is not None:
                conn.left_on_purpose = True
                self._spawn(self._disconnect(room_id, conn, action.close_code, action.reason))
        elif isinstance(action, a.RoomClosed):
            self.resume.revoke_room(room_id)
            self._spawn(self._close_room(room_id, action.reason))

    def _send_to_staff(self, room_id: str, name: str, data: dict[str, Any]) -> None:
        room = self.registry.get(room_id)
        for (rid, user), conn in self.members.items():
            if rid == room_id and room is not None and room.is_staff(user):
                conn.send(event(name, data))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # ------------------------------------------------------------------ media events
    def on_media_event(self, event: MediaEvent) -> None:
        try:
            self._media_event(event)
        except Exception:
            log.exception("media event %s failed", type(event).__name__)

    def _media_event(self, ev: MediaEvent) -> None:
        if isinstance(ev, me.SpeakersChanged):
            if self.registry.get(ev.room_id) is not None:
                levels = [[user, round(level, 3)] for user, level in ev.levels]
                self.hub.publish_lossy(ev.room_id, "speakers", {"levels": levels}, key="speakers")
        elif isinstance(ev, me.SlotsChanged):
            conn = self.members.get((ev.room_id, ev.subscriber_id))
            if conn is not None:
                conn.send(event("media.slots", {"slots": dict(ev.slots)}))
        elif isinstance(ev, me.PublisherStarted):
            room = self.registry.get(ev.room_id)
            if room is not None:
                audio, video = room.forwarding(ev.user_id)
                self.sfu.set_forwarding(ev.room_id, ev.user_id, audio=audio, video=video)
                self.outbox.push(
                    ev.room_id, "publisher.started", {"user_id": ev.user_id, "kinds": list(ev.kinds)}
                )
        elif isinstance(ev, me.PublisherStopped):
            room = self.registry.get(ev.room_id)
            if room is not None:
                self.outbox.push(
                    ev.room_id, "publisher.stopped", {"user_id": ev.user_id, "reason": ev.reason}
                )
                if (ev.room_id, ev.user_id) in self.headless and ev.reason != "replaced":
                    self.headless.discard((ev.room_id, ev.user_id))
                    if room.member(ev.user_id) is not None:
                        self.apply(ev.room_id, room.handle(c.Leave(ev.user_id), self.clock()))
        elif isinstance(ev, me.LegFailed):
            conn = self.members.get((ev.room_id, ev.user_id))
            if conn is not None:
                conn.send(event("media.failed", {"role": ev.role, "reason": ev.reason}))

    async def _disconnect(self, room_id: str, conn: Connection, code: int, reason: str) -> None:
        """Close after the events that explain it (and the caller's reply) went out."""
        await self.outbox.flushed(room_id)
        self.hub.flush_events(room_id)
        if conn.subscriber is not None:
            self.hub.detach(room_id, conn.subscriber)
        conn.close(code, reason)

    async def _close_room(self, room_id: str, reason: str) -> None:
        """The room ended: its room.ended event goes out first, then connections close."""
        await self.outbox.flushed(room_id)
        self.hub.flush_events(room_id)
        for (rid, user), conn in list(self.members.items()):
            if rid == room_id:
                conn.left_on_purpose = True
                if conn.subscriber is not None:
                    self.hub.detach(room_id, conn.subscriber)
                conn.close(CloseCode.ROOM_ENDED, reason)
                del self.members[(rid, user)]
        await self.hub.close_room(room_id)
        await self.sfu.close_room(room_id)

    # ------------------------------------------------------------------ requests of other packages
    async def send_comment(self, conn: Connection, text: Any, mode: Any, color: Any) -> dict[str, Any]:
        claims = conn.claims
        assert claims is not None
        claims.require("can_publish_data")
        if not isinstance(text, str):
            raise LiveparkError("text must be a string", code="bad_request")
        result = await self.hub.send_comment(
            claims.room,
            Sender(claims.user_id, claims.name),
            text,
            mode=mode if isinstance(mode, str) else "scroll",
            color=color if isinstance(color, int) and not isinstance(color, bool) else None,
        )
        return result.to_wire()

    async def publish_media(self, conn: Connection, sdp: Any) -> dict[str, Any]:
        claims, room = self._media_member(conn)
        claims.require("can_publish")
        if not room.may_publish(claims.user_id):
            raise LiveparkError("take a seat (or be invited as co-host) to publish", code="not_permitted")
        if not isinstance(sdp, str) or not sdp:
            raise LiveparkError("sdp (the offer) is required", code="bad_request")
        answer = await self.sfu.publish(room.room_id, claims.user_id, sdp, kind=room.kind.value)
        audio, video = room.forwarding(claims.user_id)
        self.sfu.set_forwarding(room.room_id, claims.user_id, audio=audio, video=video)
        return {"sdp": answer}

    async def subscribe_media(self, conn: Connection) -> dict[str, Any]:
        claims, room = self._media_member(conn)
        claims.require("can_subscribe")
        offer = await self.sfu.subscribe(room.room_id, claims.user_id, kind=room.kind.value)
        return {"sdp": offer}

    async def answer_media(self, conn: Connection, sdp: Any) -> dict[str, Any]:
        claims, room = self._media_member(conn)
        if not isinstance(sdp, str) or not sdp:
            raise LiveparkError("sdp (the answer) is required", code="bad_request")
        await self.sfu.subscriber_answer(room.room_id, claims.user_id, sdp)
        return {}

    async def unpublish_media(self, conn: Connection) -> dict[str, Any]:
        claims, room = self._media_member(conn)
        await self.sfu.unpublish(room.room_id, claims.user_id)
        return {}

    async def authorize_http(self, token: str, room_id: str, action: str) -> str:
        """WHIP/WHEP: check the bearer token and the room's rules; return the user id.

        A WHIP publisher who is not in the room joins it headless (creating it when her
        token has room_admin, as a first join does) and leaves when her stream stops.
        """
        try:
            claims = self.authenticate(token, room_id)
            if action == "subscribe":
                claims.require("can_subscribe")
                if self.registry.get(room_id) is None:
                    raise RoomError(ErrorCode.ROOM_NOT_FOUND, "no such room")
                return claims.user_id
            claims.require("can_publish")
            room = self.registry.get(room_id)
            joined_now = room is None or room.member(claims.user_id) is None
            if joined_now:
                room, actions = self.registry.join(
                    room_id,
                    self.member_info(claims),
                    self.clock(),
                    kind=RoomKind.LIVE,
                    connection_id="whip",
                )
                self.headless.add((room_id, claims.user_id))
                self.apply(room_id, actions)
                self._spawn(self._headless_watch(room_id, claims.user_id))
            assert room is not None
            if not room.may_publish(claims.user_id):
                if joined_now:
                    # joined only for this refused request: do not leave her in the room
                    self.headless.discard((room_id, claims.user_id))
                    self.apply(room_id, room.handle(c.Leave(claims.user_id), self.clock()))
                raise RoomError(ErrorCode.NOT_PERMITTED, "take a seat or be the host to publish")
            return claims.user_id
        except RoomError as exc:
            status = 404 if exc.code in ("room_not_found", "room_ended") else 403
            raise HttpRefused(exc.message, code=exc.code, http_status=status) from exc

    async def _headless_watch(self, room_id: str, user_id: str) -> None:
        """A WHIP publisher joined for a request that then failed (bad SDP, no codec, ...)
        has no stream whose end would make her leave: she leaves when no publisher leg of
        hers exists ``connect_timeout`` after she joined."""
        await asyncio.sleep(self.config.media.connect_timeout)
        key = (room_id, user_id)
        if key not in self.headless or self.sfu.leg_id(room_id, user_id, "publisher") is not None:
            return
        self.headless.discard(key)
        if key in self.members:
            return  # she has since joined over the WebSocket: she stays
        room = self.registry.get(room_id)
        if room is not None and room.member(user_id) is not None:
            self.apply(room_id, room.handle(c.Leave(user_id), self.clock()))

    def _media_member(self, conn: Connection) -> tuple[Claims, Room]:
        claims = conn.claims
        assert claims is not None
        room = self.registry.get(claims.room)
        if room is None:
            raise LiveparkError("the room has ended", code="room_ended")
        return claims, room


__all__ = ["AuthError", "Node"]
