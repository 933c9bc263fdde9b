"""In-memory pub/sub backend: one :class:`InMemoryBroker` (plays the Redis server) shared by
any number of :class:`InMemoryPubSub` nodes in one process.

Deliveries are scheduled with ``loop.call_soon`` (asynchronous, like a network backend) in
publish order.  Sequenced history per channel is an authority :class:`EventLog`.
"""

from __future__ import annotations

import asyncio
import itertools

from livepark.clock import Clock, monotonic
from livepark.danmaku.eventlog import EventLog
from livepark.danmaku.pubsub import Callback, Message, Window

_node_ids = itertools.count(1)


class InMemoryBroker:
    """Channels, subscriptions and sequenced histories shared by in-process nodes."""

    def __init__(
        self, *, history_events: int = 1000, history_seconds: float = 300.0, clock: Clock = monotonic
    ) -> None:
        self.history_events = history_events
        self.history_seconds = history_seconds
        self.clock = clock
        self._subs: dict[str, dict[InMemoryPubSub, Callback]] = {}
        self._logs: dict[str, EventLog[bytes]] = {}

    def _log(self, channel: str) -> EventLog[bytes]:
        log = self._logs.get(channel)
        if log is None:
            log = self._logs[channel] = EventLog(self.history_events, self.history_seconds)
        return log

    def _deliver(self, message: Message) -> None:
        subs = self._subs.get(message.channel)
        if not subs:
            return
        call_soon = asyncio.get_running_loop().call_soon
        for callback in subs.values():
            call_soon(callback, message)

    def publish(self, channel: str, payload: bytes) -> None:
        self._deliver(Message(channel, payload))

    def append(self, channel: str, payload: bytes) -> int:
        entry = self._log(channel).append(payload, self.clock())
        self._deliver(Message(channel, payload, entry.seq))
        return entry.seq

    def read_after(self, channel: str, after: int) -> Window:
        log = self._logs.get(channel)
        if log is None:
            return Window([], 0, after == 0)
        now = self.clock()
        entries = log.since(after, now)
        if entries is not None:
            return Window([(e.seq, e.item) for e in entries], log.last_seq, True)
        rest = log.since(log.floor, now) or []
        return Window([(e.seq, e.item) for e in rest], log.last_seq, False)

    def subscribe(self, node: InMemoryPubSub, channel: str, callback: Callback) -> None:
        self._subs.setdefault(channel, {})[node] = callback

    def unsubscribe(self, node: InMemoryPubSub, channel: str) -> None:
        subs = self._subs.get(channel)
        if subs is not None:
            subs.pop(node, None)
            if not subs:
                del self._subs[channel]

    def delete(self, channel: str) -> None:
        self._logs.pop(channel, None)


class InMemoryPubSub:
    """One node's connection to an :class:`InMemoryBroker` (a private one by default)."""

    def __init__(self, broker: InMemoryBroker | None = None, node_id: str | None = None) -> None:
        self.broker = broker or InMemoryBroker()
        self._node_id = node_id or f"node-{next(_node_ids)}"
        self._channels: set[str] = set()

    @property
    def node_id(self) -> str:
        return self._node_id

    def publish(self, channel: str, payload: bytes) -> None:
        self.broker.publish(channel, payload)

    async def append(self, channel: str, payload: bytes) -> int:
        return self.broker.append(channel, payload)

    async def read_after(self, channel: str, after: int) -> Window:
        return self.broker.read_after(channel, after)

    async def subscribe(self, channel: str, callback: Callback) -> None:
        self._channels.add(channel)
        self.broker.subscribe(self, channel, callback)

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)
        self.broker.unsubscribe(self, channel)

    async def delete(self, channel: str) -> None:
        self.broker.delete(channel)

    async def close(self) -> None:
        for channel in list(self._channels):
            await self.unsubscribe(channel)
