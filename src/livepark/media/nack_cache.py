"""A bounded per-track history of forwarded packets, to answer subscribers' NACKs.

A ring of ``capacity`` entries indexed by ``seq % capacity``: when full, the oldest entry is
overwritten (no error: a NACK for an overwritten packet simply goes unanswered, counted as a
miss).  Entries older than ``max_age`` seconds are ignored too.
"""

from __future__ import annotations

from typing import NamedTuple


class CachedPacket(NamedTuple):
    seq: int
    ts: int
    marker: int
    payload_type: int
    payload: bytes
    time: float


class PacketCache:
    __slots__ = ("_ring", "capacity", "hits", "max_age", "misses")

    def __init__(self, capacity: int = 1024, max_age: float = 5.0) -> None:
        if capacity <= 0:
            raise ValueError("capacity must be positive")
        self.capacity = capacity
        self.max_age = max_age
        self._ring: list[CachedPacket | None] = [None] * capacity
        self.hits = 0
        self.misses = 0

    def put(self, seq: int, ts: int, marker: int, payload_type: int, payload: bytes, now: float) -> None:
        self._ring[seq % self.capacity] = CachedPacket(seq, ts, marker, payload_type, payload, now)

    def contains(self, seq: int, now: float) -> bool:
        entry = self._ring[seq % self.capacity]
        return entry is not None and entry.seq == seq and now - entry.time <= self.max_age

    def get(self, seq: int, now: float) -> CachedPacket | None:
        entry = self._ring[seq % self.capacity]
        if entry is None or entry.seq != seq or now - entry.time > self.max_age:
            self.misses += 1
            return None
        self.hits += 1
        return entry

    def clear(self) -> None:
        self._ring = [None] * self.capacity
