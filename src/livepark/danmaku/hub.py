"""The danmaku hub: the asyncio layer that runs timers, talks to pub/sub and writes bytes.

Decisions live in the sans-I/O cores (:mod:`.batcher`, :mod:`.eventlog`, :mod:`.policy`,
:mod:`.history`, :mod:`.join`); frames are built once per encoding (:mod:`.frames`) and
written by :class:`.room.Room`.  See docs/protocol-danmaku.md for the wire format and the
module docs for each piece.

Flow of a comment: ``send_comment`` -> :mod:`.intake` (policy admit -> moderator -> policy
commit) -> local batcher *and* ``pubsub.publish`` (other nodes batch it for their own
members; our echo is dropped).
Flow of an event: ``publish_event`` -> ``pubsub.append`` (the backend assigns the seq) ->
local :class:`EventLog` (echo deduplicated by seq) -> queued ``event_window`` -> written.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import msgpack

from livepark.clock import Clock, monotonic, wall
from livepark.danmaku import metrics
from livepark.danmaku.batcher import Batch
from livepark.danmaku.config import HubConfig
from livepark.danmaku.errors import CommentRefused, HubClosed, InvalidEvent, RoomClosed
from livepark.danmaku.frames import (
    CLOSE_SLOW_CONSUMER,
    CLOSE_SLOW_CONSUMER_REASON,
    PROTOCOL_VERSION,
    BatchFrames,
    FrameKind,
    Frames,
    check_serialisable,
    dumps_json,
)
from livepark.danmaku.intake import admit_comment
from livepark.danmaku.join import gap_notice, plan_join
from livepark.danmaku.moderation import AllowAll, Decision, TextModerator
from livepark.danmaku.policy import PolicyLimits, SenderPolicy
from livepark.danmaku.pubsub import Message, PubSub
from livepark.danmaku.pubsub_memory import InMemoryBroker, InMemoryPubSub
from livepark.danmaku.room import LossyItem, Member, Room, WriteReport, join_frames
from livepark.danmaku.subscriber import Subscriber

log = logging.getLogger(__name__)

KickHook = Callable[[str, Subscriber, str], None]
_pack = msgpack.Packer(use_bin_type=True).pack


@dataclass(frozen=True, slots=True)
class Sender:
    """Who sends a comment, as shown to everyone (``attrs``: level, badge ... optional)."""

    user_id: str
    name: str
    attrs: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class CommentResult:
    """Returned to the sender (identical for passed and shadowed comments)."""

    id: str
    ts: int
    text: str

    def to_wire(self) -> dict[str, Any]:
        return {"comment_id": self.id, "ts": self.ts, "text": self.text}


@dataclass(frozen=True, slots=True)
class AttachResult:
    """What ``attach`` did: ``latest_seq`` is the room's last event seq at attach time."""

    latest_seq: int
    outcome: Literal["fresh", "replayed", "gap_too_old"]
    replayed: int = 0

    @property
    def gap_too_old(self) -> bool:
        return self.outcome == "gap_too_old"


@dataclass(frozen=True, slots=True)
class RoomStats:
    online: int
    likes: int
    connections: int
    last_seq: int
    pending_items: int


class DanmakuHub:
    """Channels of all rooms on this node (public API documented per method)."""

    def __init__(
        self,
        config: HubConfig | None = None,
        *,
        pubsub: PubSub | None = None,
        moderator: TextModerator | None = None,
        clock: Clock = monotonic,
        wall_clock: Clock = wall,
        on_kick: KickHook | None = None,
    ) -> None:
        self.config = cfg = config or HubConfig()
        if pubsub is None:  # a private in-memory backend keeping the configured window
            broker = InMemoryBroker(
                history_events=cfg.history_events, history_seconds=cfg.history_seconds, clock=clock
            )
            pubsub = InMemoryPubSub(broker)
        self.pubsub: PubSub = pubsub
        self.moderator: TextModerator = moderator or AllowAll()
        self.clock = clock
        self.wall_clock = wall_clock
        self.on_kick = on_kick
        self.policy = SenderPolicy(
            PolicyLimits(
                cfg.rate, cfg.burst, cfg.max_chars, cfg.dup_window, cfg.dup_memory,
                cfg.like_rate, cfg.like_burst, cfg.max_like_count,
            )
        )  # fmt: skip
        self.node_id = self.pubsub.node_id
        self._rooms: dict[str, Room] = {}
        self._ids = itertools.count(1)
        self._id_prefix = f"{os.getpid():x}{id(self) & 0xFFFF:04x}"
        self._ticker: asyncio.Task[None] | None = None
        self._background: set[asyncio.Future[None]] = set()
        self._closed = False

    # lifecycle

    async def aclose(self) -> None:
        """Flush and forget every room, stop timers, close the pub/sub backend."""
        self._closed = True
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        for room_id in list(self._rooms):
            await self.close_room(room_id, delete_history=False)
        await self.pubsub.close()

    def rooms(self) -> list[str]:
        return list(self._rooms)

    def room_stats(self, room_id: str) -> RoomStats | None:
        room = self._rooms.get(room_id)
        if room is None:
            return None
        online, likes = room.totals(self.clock(), 3 * self.config.stats_interval)
        return RoomStats(online, likes, len(room.members), room.log.last_seq, len(room.batcher))

    def _room(self, room_id: str) -> Room:
        if self._closed:
            raise HubClosed("hub is closed")
        room = self._rooms.get(room_id)
        if room is None:
            room = Room(room_id, self.config, self.clock())
            self._rooms[room_id] = room
            room.ready = asyncio.ensure_future(self._prime(room))
            if self._ticker is None:
                self._ticker = asyncio.get_running_loop().create_task(self._tick_forever())
        return room

    async def _ready(self, room_id: str) -> Room:
        room = self._room(room_id)
        assert room.ready is not None
        await asyncio.shield(room.ready)
        if self._rooms.get(room_id) is not room:
            raise RoomClosed(f"room {room_id} was closed")
        return room

    async def _prime(self, room: Room) -> None:
        try:
            await self.pubsub.subscribe(room.channel, lambda m: self._on_message(room, m))
            window = await self.pubsub.read_after(room.channel, 0)
        except BaseException:
            if self._rooms.get(room.id) is room:
                del self._rooms[room.id]
            raise
        entries = [(seq, self._event_frames(room, seq, p)) for seq, p in window.entries]
        primed = room.log.prime(entries, window.last_seq, self.clock())
        self._queue_events(room, [e.item for e in primed])

    # attach / detach

    async def attach(
        self,
        room_id: str,
        subscriber: Subscriber,
        *,
        resume_from: int | None = None,
        compress: bool = False,
        counted: bool = True,
        history: bool | None = None,
    ) -> AttachResult:
        """Start delivering ``room_id``'s channel to ``subscriber``.

        Fresh join (``resume_from`` None): a ``danmaku.history`` frame with the last
        ``history_comments`` comments.  Resume: every event with seq > ``resume_from`` is
        replayed (then live events follow, none twice), or ``resume.gap_too_old`` is sent
        when the window no longer covers it or the replay would not fit under
        ``hard_limit``.  ``compress``: zlib batches (msgpack only).
        ``counted``: include the user in the online count (False for hidden members).
        ``history``: send the ``danmaku.history`` frame (default: on fresh joins only); a
        fresh join that already holds a snapshot at seq N passes ``resume_from=N`` and
        ``history=True`` to get both the comments and any event published after N.
        """
        room = await self._ready(room_id)
        if subscriber in room.members:
            room.remove(subscriber)
        self._flush_events(room)  # queued events go to current members only: no duplicates
        now = self.clock()
        kind = FrameKind.of(subscriber.encoding, compress)
        member = Member(subscriber, kind, counted)
        latest = room.log.last_seq
        budget = self.config.hard_limit - subscriber.buffered()
        plan = plan_join(room, kind, member.user_id, resume_from=resume_from, history=history,
                         budget=budget, now=now)  # fmt: skip
        metrics.RESUMES.labels(plan.outcome).inc()
        if plan.too_large:
            metrics.RESUMES_TOO_LARGE.inc()
            log.info("room %s: replay after seq %s exceeds hard_limit for %r; sent gap_too_old",
                     room_id, resume_from, subscriber)  # fmt: skip
        room.last_active = now
        chunk = plan.chunk
        if chunk and room.write_one(member, chunk) is not None:
            subscriber.close(CLOSE_SLOW_CONSUMER, CLOSE_SLOW_CONSUMER_REASON)
            metrics.SLOW_CONSUMER_DISCONNECTS.labels("hard_limit").inc()
        else:
            room.add(member)
            if chunk:
                metrics.FRAME_WRITES.labels("direct").inc()
        return AttachResult(latest, plan.outcome, plan.replayed)

    def flush_events(self, room_id: str) -> None:
        """Write the room's queued must-not-lose events now (before closing connections)."""
        room = self._rooms.get(room_id)
        if room is not None:
            self._flush_events(room)

    def detach(self, room_id: str, subscriber: Subscriber) -> None:
        """Stop delivering to ``subscriber`` (idempotent; call when the connection ends)."""
        room = self._rooms.get(room_id)
        if room is not None and room.remove(subscriber) is not None:
            room.last_active = self.clock()

    # senders

    async def send_comment(
        self,
        room_id: str,
        sender: Sender,
        text: str,
        *,
        mode: str = "scroll",
        color: int | None = None,
    ) -> CommentResult:
        """Check, moderate and fan out a comment; raise a ``CommentRefused`` subclass if not.

        Refusals (``.code``): empty, too_long, duplicate, rate_limited (``.retry_after``),
        invalid_mode, rejected, moderation_unavailable (token and duplicate rules: see
        :mod:`.intake`).  A shadowed comment returns the same result as a passed one and is
        shown to the sender's connections only.
        """
        if self._closed:
            raise HubClosed("hub is closed")
        try:
            shown, decision = await admit_comment(
                self.policy, self.moderator, self.config, room_id, sender.user_id, text,
                mode=mode, color=color, now=self.clock(),
            )  # fmt: skip
        except CommentRefused as exc:
            metrics.REFUSED.labels(exc.code).inc()
            raise
        room = self._room(room_id)
        ts = int(self.wall_clock() * 1000)
        cid = f"{self._id_prefix}-{next(self._ids):x}"
        user: dict[str, Any] = {"id": sender.user_id, "name": sender.name}
        if sender.attrs:
            user.update(sender.attrs)
        payload: dict[str, Any] = {
            "kind": "comment", "id": cid, "user": user, "text": shown, "mode": mode, "ts": ts,
        }  # fmt: skip
        if color is not None:
            payload["color"] = color
        item = LossyItem(payload, sender.user_id if decision is Decision.SHADOW else None)
        self._add_lossy(room, item, len(shown) * 3 + 96, None, comment=True)
        self.pubsub.publish(room.channel, _pack({"n": self.node_id, "k": "c", "i": payload, "to": item.to}))
        metrics.MESSAGES_IN.labels("comment").inc()
        return CommentResult(cid, ts, shown)

    def like(self, room_id: str, user_id: str, count: int = 1) -> int:
        """Add likes (aggregated, pushed in ``danmaku.stats``); return how many counted."""
        granted = self.policy.check_likes(user_id, count, self.clock())
        if granted:
            self._room(room_id).likes_local += granted
            metrics.MESSAGES_IN.labels("like").inc(granted)
        return granted

    def publish_lossy(
        self, room_id: str, kind: str, data: Mapping[str, Any], *, key: str | None = None
    ) -> None:
        """Batch a lossy item (speaker levels ...); items with the same ``key`` in one
        batch replace each other (latest wins)."""
        if not kind or kind == "comment":
            raise InvalidEvent("lossy kind must be a non-empty name other than 'comment'")
        room = self._room(room_id)
        payload = {"kind": kind, "data": dict(data), "ts": int(self.wall_clock() * 1000)}
        check_serialisable(payload)
        encoded = _pack({"n": self.node_id, "k": "l", "i": payload, "key": key})
        self._add_lossy(room, LossyItem(payload), len(encoded) + 16, key, comment=False)
        self.pubsub.publish(room.channel, encoded)
        metrics.MESSAGES_IN.labels("lossy").inc()

    async def publish_event(self, room_id: str, event_type: str, data: Mapping[str, Any]) -> int:
        """Publish a must-not-lose room event; return its seq (1, 2, 3 ... per room).

        Async because the seq comes from the pub/sub backend, the one numbering authority
        shared by all nodes.
        """
        if not event_type or len(event_type) > 64:
            raise InvalidEvent("event type must be 1..64 characters")
        data = dict(data)
        check_serialisable(data)
        room = await self._ready(room_id)
        ts = int(self.wall_clock() * 1000)
        payload = _pack({"n": self.node_id, "e": event_type, "d": data, "t": ts})
        seq = await self.pubsub.append(room.channel, payload)
        if self._rooms.get(room_id) is room:
            self._offer_event(room, seq, self._envelope(room, seq, event_type, data, ts))
        metrics.MESSAGES_IN.labels("event").inc()
        return seq

    async def close_room(self, room_id: str, *, delete_history: bool = True) -> None:
        """Flush what is pending and forget the room on this node (members are detached,
        not closed; the signaling layer owns the connections)."""
        room = self._rooms.pop(room_id, None)
        if room is None:
            return
        batch = room.batcher.flush()
        if batch is not None:
            self._fanout(room, batch)
        self._flush_events(room)
        for handle in (room.flush_handle, room.event_handle):
            if handle is not None:
                handle.cancel()
        if room.fill_task is not None:
            room.fill_task.cancel()
        room.members.clear()
        for group in room.groups.values():
            group.clear()
        with contextlib.suppress(Exception):
            await self.pubsub.unsubscribe(room.channel)
            if delete_history:
                await self.pubsub.delete(room.channel)

    # lossy path

    def _add_lossy(self, room: Room, item: LossyItem, size: int, key: str | None, *, comment: bool) -> None:
        now = self.clock()
        batcher = room.batcher
        # Close a due or full batch first and read the clock again, so a slow fan-out (tens
        # of ms at 10k members) does not leave the next batch already expired.
        closed = batcher.poll(now) or batcher.close_if_full(size, key)
        if closed is not None:
            self._fanout(room, closed)
            now = self.clock()
        batch = batcher.add(item, size, now, key)
        if comment:
            room.remember(item)
        room.last_active = now
        if batch is not None:
            self._fanout(room, batch)
        if room.flush_handle is None:
            deadline = room.batcher.deadline
            if deadline is not None:
                loop = asyncio.get_running_loop()
                room.flush_handle = loop.call_later(
                    max(0.0, deadline - now) + 0.0005, self._on_flush_timer, room
                )

    def _on_flush_timer(self, room: Room) -> None:
        room.flush_handle = None
        now = self.clock()
        batch = room.batcher.poll(now)
        if batch is not None:
            self._fanout(room, batch)
            now = self.clock()
        deadline = room.batcher.deadline
        if deadline is not None and self._rooms.get(room.id) is room:
            loop = asyncio.get_running_loop()
            room.flush_handle = loop.call_later(max(0.0, deadline - now) + 0.0005, self._on_flush_timer, room)

    def _fanout(self, room: Room, batch: Batch[LossyItem]) -> None:
        metrics.BATCHES.labels(batch.reason).inc()
        if not room.members:
            return
        items = batch.items
        cmin = self.config.compress_min_bytes
        shared = [it.payload for it in items if it.to is None]
        frames = BatchFrames(room.id, shared, compress_min=cmin) if shared else None
        variants: dict[str, tuple[BatchFrames, int]] = {}
        if len(shared) != len(items):
            for user in {it.to for it in items if it.to is not None}:
                mine = [it.payload for it in items if it.to is None or it.to == user]
                variants[user] = (BatchFrames(room.id, mine, compress_min=cmin), len(mine))
        report = room.write_batch(frames, len(shared), variants, self.clock())
        metrics.FRAME_WRITES.labels("lossy").inc(report.writes)
        metrics.DELIVERIES.labels("lossy").inc(report.deliveries)
        if report.skipped:
            metrics.SKIPPED_BATCHES.inc(report.skipped)
        self._settle(room, report)

    def _settle(self, room: Room, report: WriteReport) -> None:
        for member in report.dead:
            room.remove(member.sub)
        for member, reason in report.kick:
            if room.remove(member.sub) is None:
                continue
            metrics.SLOW_CONSUMER_DISCONNECTS.labels(reason).inc()
            log.info("slow consumer %r in room %s (%s)", member.sub, room.id, reason)
            member.sub.close(CLOSE_SLOW_CONSUMER, CLOSE_SLOW_CONSUMER_REASON)
            if self.on_kick is not None:
                self.on_kick(room.id, member.sub, reason)

    # must-not-lose path

    def _envelope(self, room: Room, seq: int, event: str, data: Any, ts: int) -> Frames:
        return Frames(
            {
                "v": PROTOCOL_VERSION, "type": "event", "room": room.id,
                "seq": seq, "event": event, "data": data, "ts": ts,
            }
        )  # fmt: skip

    def _event_frames(self, room: Room, seq: int, payload: bytes) -> Frames:
        msg = msgpack.unpackb(payload, raw=False)
        return self._envelope(room, seq, msg["e"], msg["d"], msg["t"])

    def _offer_event(self, room: Room, seq: int, frames: Frames) -> None:
        delivered, gap = room.log.offer(seq, frames, self.clock())
        if delivered:
            self._queue_events(room, [e.item for e in delivered])
        if gap and room.fill_task is None:
            room.fill_task = asyncio.ensure_future(self._fill_gap(room))

    def _queue_events(self, room: Room, frames: list[Frames]) -> None:
        if not frames:
            return
        room.event_queue.extend(frames)
        if room.event_handle is None:
            loop = asyncio.get_running_loop()
            window = self.config.event_window
            room.event_handle = (
                loop.call_later(window, self._flush_events, room)
                if window > 0
                else loop.call_soon(self._flush_events, room)
            )

    def _flush_events(self, room: Room) -> None:
        if room.event_handle is not None:
            room.event_handle.cancel()
            room.event_handle = None
        queue, room.event_queue = room.event_queue, []
        if not queue or not room.members:
            return
        kinds = [k for k, g in room.groups.items() if g]
        report = room.write_reliable(join_frames(queue, kinds), len(queue))
        metrics.FRAME_WRITES.labels("reliable").inc(report.writes)
        metrics.DELIVERIES.labels("reliable").inc(report.deliveries)
        self._settle(room, report)

    async def _fill_gap(self, room: Room) -> None:
        """Refetch events missing between ``last_seq`` and held early arrivals."""
        try:
            await asyncio.sleep(0.05)  # reordering usually heals by itself
            after = room.log.missing_after()
            if after is None:
                return
            window = await self.pubsub.read_after(room.channel, after)
            now = self.clock()
            for seq, payload in window.entries:
                got, _ = room.log.offer(seq, self._event_frames(room, seq, payload), now)
                self._queue_events(room, [e.item for e in got])
            if room.log.missing_after() is not None:
                log.warning("room %s: events after %s are lost; members must reload",
                            room.id, room.log.last_seq)  # fmt: skip
                self._flush_events(room)
                notice = gap_notice(room.id, room.log.last_seq)
                kinds = [k for k, g in room.groups.items() if g]
                self._settle(room, room.write_reliable({k: notice.get(k) for k in kinds}, 1))
                self._queue_events(room, [e.item for e in room.log.skip_gap(now)])
        finally:
            room.fill_task = None

    # pub/sub input

    def _on_message(self, room: Room, message: Message) -> None:
        if self._rooms.get(room.id) is not room:
            return
        if message.seq is not None:
            frames = self._event_frames(room, message.seq, message.payload)
            self._offer_event(room, message.seq, frames)
            return
        msg = msgpack.unpackb(message.payload, raw=False)
        if msg.get("n") == self.node_id:
            return  # our own echo: already delivered locally
        kind = msg.get("k")
        if kind == "c":
            item = LossyItem(msg["i"], msg.get("to"))
            self._add_lossy(room, item, len(message.payload) + 16, None, comment=True)
        elif kind == "l":
            key = msg.get("key")
            self._add_lossy(room, LossyItem(msg["i"]), len(message.payload) + 16, key,
                            comment=False)  # fmt: skip
        elif kind == "s":
            room.remote[msg["n"]] = (int(msg["online"]), int(msg["likes"]), self.clock())

    # periodic work

    async def _tick_forever(self) -> None:
        interval = self.config.stats_interval
        while True:
            await asyncio.sleep(interval)
            try:
                self.tick()
            except Exception:
                log.exception("danmaku tick failed")

    def tick(self) -> None:
        """Push stats, publish this node's counts, sample gauges, forget idle state."""
        cfg = self.config
        now = self.clock()
        pending = buffered = biggest = lagging = subscribers = queued = held = 0
        for room in list(self._rooms.values()):
            mine = (room.online_local, room.likes_local)
            if mine != room.published or room.members:
                room.published = mine
                self.pubsub.publish(room.channel, _pack({"n": self.node_id, "k": "s",
                                    "online": mine[0], "likes": mine[1]}))  # fmt: skip
            online, likes = room.totals(now, 3 * cfg.stats_interval)
            if room.members and (online, likes) != room.pushed:
                new = likes - room.pushed[1] if room.pushed else 0
                room.pushed = (online, likes)
                frames = Frames({"v": PROTOCOL_VERSION, "type": "danmaku.stats", "room": room.id,
                                 "online": online, "likes": likes, "new_likes": new})  # fmt: skip
                report = room.write_lossy_frame(frames)
                metrics.FRAME_WRITES.labels("stats").inc(report.writes)
                if report.skipped:
                    metrics.SKIPPED_BATCHES.inc(report.skipped)
                self._settle(room, report)
            pending += len(room.batcher)
            queued += len(room.event_queue)
            held += room.log.pending
            subscribers += len(room.members)
            for member in room.members.values():
                size = member.buffered()
                buffered += size
                biggest = max(biggest, size)
                lagging += member.stalled_since is not None
            idle = not room.members and not len(room.batcher) and not room.event_queue
            if idle and now - room.last_active > cfg.room_idle_ttl:
                task = asyncio.ensure_future(self.close_room(room.id, delete_history=False))
                self._background.add(task)
                task.add_done_callback(self._background.discard)
        self.policy.sweep(now)
        metrics.PENDING_ITEMS.set(pending)
        metrics.RELIABLE_QUEUE.set(queued)
        metrics.PENDING_EVENTS.set(held)
        metrics.OUTBOUND_BYTES.set(buffered)
        metrics.MAX_OUTBOUND_BYTES.set(biggest)
        metrics.LAGGING.set(lagging)
        metrics.SUBSCRIBERS.set(subscribers)
        metrics.ROOMS.set(len(self._rooms))


def error_response(request_id: Any, exc: CommentRefused | InvalidEvent) -> bytes:
    """Helper for the signaling layer: a JSON ``error`` response body for a request."""
    return dumps_json({"v": PROTOCOL_VERSION, "type": "error", "id": request_id,
                       "error": exc.to_wire()})  # fmt: skip
