"""Per-room state on one node and the write loops that move prebuilt frames to members.

Nothing here schedules timers or awaits: the hub calls these with ``now`` and acts on the
returned members to kick.  The loops are the hot path (one iteration per member per
frame): they read the outbound buffer size, write shared ``bytes`` and count.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from livepark.danmaku.batcher import Batcher
from livepark.danmaku.config import HubConfig
from livepark.danmaku.eventlog import EventLog
from livepark.danmaku.frames import BatchFrames, FrameKind, Frames
from livepark.danmaku.history import CommentHistory
from livepark.danmaku.subscriber import Subscriber


class LossyItem(NamedTuple):
    """A lossy item: its wire dict, and the only user who may see it (shadowed) if any."""

    payload: Mapping[str, Any]
    to: str | None = None


class Member:
    """A subscriber attached to a room, with its slow-consumer bookkeeping."""

    __slots__ = (
        "buffered",
        "counted",
        "kind",
        "skipped_batches",
        "skipped_items",
        "stalled_since",
        "sub",
        "user_id",
        "write",
    )

    def __init__(self, sub: Subscriber, kind: FrameKind, counted: bool) -> None:
        self.sub = sub
        self.user_id = sub.user_id
        self.kind = kind
        self.counted = counted
        self.write: Callable[[bytes], bool] = sub.write_frame
        self.buffered: Callable[[], int] = sub.buffered
        self.skipped_items = 0
        self.skipped_batches = 0
        self.stalled_since: float | None = None


@dataclass(slots=True)
class WriteReport:
    """What one fan-out did; the hub turns it into metrics and kicks."""

    writes: int = 0
    deliveries: int = 0
    skipped: int = 0
    kick: list[tuple[Member, str]] = field(default_factory=list)
    dead: list[Member] = field(default_factory=list)


class Room:
    """Danmaku state of one room on this node."""

    def __init__(self, room_id: str, config: HubConfig, now: float) -> None:
        self.id = room_id
        self.channel = f"danmaku:{room_id}"
        self.config = config
        self.members: dict[Subscriber, Member] = {}
        self.groups: dict[FrameKind, dict[Subscriber, Member]] = {k: {} for k in FrameKind}
        self.users: dict[str, int] = {}  # counted users -> connections
        self.batcher: Batcher[LossyItem] = Batcher(
            config.batch_window, config.batch_max_items, config.batch_max_bytes
        )
        self.log: EventLog[Frames] = EventLog(config.history_events, config.history_seconds, primed=False)
        self.event_queue: list[Frames] = []
        self.history = CommentHistory(config.history_comments)
        self.history_cache: dict[FrameKind, bytes] = {}  # public history frames
        self.likes_local = 0
        self.remote: dict[str, tuple[int, int, float]] = {}  # node -> (online, likes, at)
        self.pushed: tuple[int, int] | None = None
        self.published: tuple[int, int] | None = None
        self.last_active = now
        self.ready: asyncio.Future[None] | None = None
        self.flush_handle: asyncio.TimerHandle | None = None
        self.event_handle: asyncio.Handle | None = None
        self.fill_task: asyncio.Task[None] | None = None

    # membership

    def add(self, member: Member) -> None:
        self.members[member.sub] = member
        self.groups[member.kind][member.sub] = member
        if member.counted:
            self.users[member.user_id] = self.users.get(member.user_id, 0) + 1

    def remove(self, sub: Subscriber) -> Member | None:
        member = self.members.pop(sub, None)
        if member is None:
            return None
        del self.groups[member.kind][sub]
        if member.counted:
            left = self.users[member.user_id] - 1
            if left:
                self.users[member.user_id] = left
            else:
                del self.users[member.user_id]
        return member

    @property
    def online_local(self) -> int:
        return len(self.users)

    def totals(self, now: float, expiry: float) -> tuple[int, int]:
        """(online, likes) over this node and the other nodes heard from recently."""
        online, likes = self.online_local, self.likes_local
        for node_online, node_likes, at in self.remote.values():
            likes += node_likes
            if now - at <= expiry:
                online += node_online
        return online, likes

    # history of comments for joiners

    def remember(self, item: LossyItem) -> None:
        self.history.add(item.payload, item.to)
        if item.to is None:
            self.history_cache.clear()

    def history_frame(self, kind: FrameKind, user_id: str) -> bytes:
        """The ``danmaku.history`` frame for ``user_id`` (with her own shadowed comments)."""
        if self.history.has_shadowed(user_id):
            items = self.history.items_for(user_id)
            return BatchFrames(self.id, items, type="danmaku.history").get(kind)
        frame = self.history_cache.get(kind)
        if frame is None:
            items = self.history.public()
            frame = self.history_cache[kind] = BatchFrames(self.id, items, type="danmaku.history").get(kind)
        return frame

    # write loops

    def write_batch(
        self,
        frames: BatchFrames | None,
        n_items: int,
        variants: Mapping[str, tuple[BatchFrames, int]],
        now: float,
    ) -> WriteReport:
        """Write one lossy batch: shared frames, or a user's variant with her shadowed items."""
        soft = self.config.soft_limit
        stall = self.config.stall_timeout
        report = WriteReport()
        writes = deliveries = skipped = 0
        for kind, group in self.groups.items():
            if not group:
                continue
            frame0 = frames.get(kind) if frames is not None else b""
            for member in group.values():
                if variants and member.user_id in variants:
                    vframes, count = variants[member.user_id]
                else:
                    if frames is None:
                        continue
                    vframes, count = frames, n_items
                if member.buffered() > soft:
                    skipped += 1
                    member.skipped_items += count
                    member.skipped_batches += 1
                    if member.stalled_since is None:
                        member.stalled_since = now
                    elif now - member.stalled_since > stall:
                        report.kick.append((member, "stalled"))
                    continue
                if member.skipped_items or vframes is not frames:
                    frame = vframes.get(kind, member.skipped_items)
                    member.skipped_items = member.skipped_batches = 0
                else:
                    frame = frame0
                member.stalled_since = None
                if member.write(frame):
                    writes += 1
                    deliveries += count
                else:
                    report.dead.append(member)
        report.writes, report.deliveries, report.skipped = writes, deliveries, skipped
        return report

    def write_lossy_frame(self, frames: Frames) -> WriteReport:
        """Write a standalone lossy frame (stats) to members below the soft limit."""
        soft = self.config.soft_limit
        report = WriteReport()
        for kind, group in self.groups.items():
            if not group:
                continue
            frame = frames.get(kind)
            for member in group.values():
                if member.buffered() > soft:
                    report.skipped += 1
                elif member.write(frame):
                    report.writes += 1
                else:
                    report.dead.append(member)
        return report

    def write_reliable(self, data: Mapping[FrameKind, bytes], count: int) -> WriteReport:
        """Write must-not-lose frames; a member they would push past the hard limit is kicked."""
        hard = self.config.hard_limit
        report = WriteReport()
        for kind, group in self.groups.items():
            if not group:
                continue
            chunk = data[kind]
            limit = hard - len(chunk)
            for member in group.values():
                if member.buffered() > limit:
                    report.kick.append((member, "hard_limit"))
                elif member.write(chunk):
                    report.writes += 1
                    report.deliveries += count
                else:
                    report.dead.append(member)
        return report

    def write_one(self, member: Member, chunk: bytes) -> str | None:
        """Write directly to one member; return a kick reason if it cannot take it."""
        if member.buffered() + len(chunk) > self.config.hard_limit:
            return "hard_limit"
        member.write(chunk)
        return None


def join_frames(entries: Iterable[Frames], kinds: Iterable[FrameKind]) -> dict[FrameKind, bytes]:
    """Concatenate the frames of several events per kind (one transport write each)."""
    entries = list(entries)
    return {kind: b"".join(e.get(kind) for e in entries) for kind in kinds}
