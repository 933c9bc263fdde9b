"""What a connection is sent when it attaches: history, a replay, or ``resume.gap_too_old``.

Sans-I/O: :func:`plan_join` reads the room's comment history and event log and returns the
bytes to write first and the outcome; the hub writes them and counts.

A resume is replayed only if the replay fits in the connection's outbound budget
(``hard_limit`` minus what is already buffered).  A replay that would not fit is answered
with ``resume.gap_too_old`` like one outside the window: the client reloads the room
snapshot and follows live events from ``latest_seq``.  Closing it with 4010 instead would
make it reconnect and ask for the same replay again, forever.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from livepark.danmaku.frames import PROTOCOL_VERSION, FrameKind, Frames
from livepark.danmaku.room import Room

Outcome = Literal["fresh", "replayed", "gap_too_old"]


@dataclass(frozen=True, slots=True)
class JoinPlan:
    outcome: Outcome
    chunk: bytes  # frames to write before the connection joins the room's fan-out
    replayed: int = 0
    too_large: bool = False  # gap_too_old because the replay exceeded the budget


def gap_notice(room_id: str, latest_seq: int, requested: int | None = None) -> Frames:
    """The ``resume.gap_too_old`` frame (``requested`` omitted for a pub/sub gap)."""
    notice: dict[str, Any] = {"v": PROTOCOL_VERSION, "type": "resume.gap_too_old", "room": room_id}
    if requested is not None:
        notice["requested"] = requested
    notice["latest_seq"] = latest_seq
    return Frames(notice)


def plan_join(
    room: Room,
    kind: FrameKind,
    user_id: str,
    *,
    resume_from: int | None,
    history: bool | None,
    budget: int,
    now: float,
) -> JoinPlan:
    """Plan an attach (see :meth:`DanmakuHub.attach` for ``resume_from`` and ``history``)."""
    if resume_from is None:
        return JoinPlan("fresh", room.history_frame(kind, user_id))
    head = room.history_frame(kind, user_id) if history else b""
    entries = room.log.since(resume_from, now)
    if entries is not None:
        replay = b"".join(e.item.get(kind) for e in entries)
        if len(head) + len(replay) <= budget:
            return JoinPlan("replayed", head + replay, len(entries))
    notice = gap_notice(room.id, room.log.last_seq, resume_from).get(kind)
    return JoinPlan("gap_too_old", head + notice, too_large=entries is not None)
