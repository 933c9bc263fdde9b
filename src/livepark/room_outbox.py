"""Ordered, bounded delivery of room events to the hub's sequenced stream.

The room core emits events synchronously and in order; the hub's ``publish_event`` is async
(the pub/sub backend assigns the seq).  One FIFO per room, drained by one task, keeps the
stream's order equal to the core's order even when several requests run at once.

Bound: ``max_pending`` events per room.  Past it (the backend is down or far behind), new
events are dropped, counted in ``livepark_room_events_dropped_total`` and logged: members
reconcile with ``room.snapshot``.  Nothing else blocks.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from prometheus_client import Counter

log = logging.getLogger(__name__)

DROPPED = Counter("livepark_room_events_dropped_total", "Room events dropped: outbox full")
FAILED = Counter("livepark_room_events_failed_total", "Room events the hub refused")

Publish = Callable[[str, str, Mapping[str, Any]], Awaitable[int]]


class RoomOutbox:
    def __init__(self, publish: Publish, *, max_pending: int = 10_000) -> None:
        self._publish = publish
        self._max = max_pending
        self._queues: dict[str, deque[tuple[str, Mapping[str, Any]]]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._idle: dict[str, asyncio.Event] = {}

    def push(self, room_id: str, event_type: str, data: Mapping[str, Any]) -> None:
        queue = self._queues.setdefault(room_id, deque())
        if len(queue) >= self._max:
            DROPPED.inc()
            log.error("room %s: outbox full, dropping %s", room_id, event_type)
            return
        queue.append((event_type, data))
        self._idle.setdefault(room_id, asyncio.Event()).clear()
        if room_id not in self._workers:
            self._workers[room_id] = asyncio.get_running_loop().create_task(self._drain(room_id))

    async def _drain(self, room_id: str) -> None:
        queue = self._queues[room_id]
        try:
            while queue:
                event_type, data = queue[0]
                try:
                    await self._publish(room_id, event_type, data)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    FAILED.inc()
                    log.exception("room %s: publishing %s failed", room_id, event_type)
                queue.popleft()
        finally:
            del self._workers[room_id]
            if not queue:
                self._queues.pop(room_id, None)
                self._idle.pop(room_id, asyncio.Event()).set()

    async def flushed(self, room_id: str) -> None:
        """Wait until every event pushed for ``room_id`` so far has been published."""
        idle = self._idle.get(room_id)
        if idle is not None and room_id in self._workers:
            await idle.wait()

    def pending(self, room_id: str) -> int:
        return len(self._queues.get(room_id, ()))

    async def close(self) -> None:
        for room_id in list(self._workers):
            await self.flushed(room_id)
