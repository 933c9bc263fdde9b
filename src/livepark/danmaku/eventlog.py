"""Sans-I/O sequencer and bounded history for must-not-lose room events.

One :class:`EventLog` per room plays one of two parts:

- *authority* (:meth:`EventLog.append`): assigns ``seq`` 1, 2, 3 ... — used by the pub/sub
  backend that owns a channel (the in-memory broker today, a Redis script later), so every
  node sees one numbering however many nodes publish;
- *follower* (:meth:`EventLog.offer` / :meth:`EventLog.prime`): a node's local copy fed by
  the backend; it drops duplicates (a node hears its own events twice: directly and as the
  echo), holds early arrivals until the gap is filled, and reports gaps to its caller.

Both keep the last ``max_events`` events no older than ``max_age`` seconds, and answer
:meth:`EventLog.since` — "what came after seq N?" — with the missing entries, or ``None``
when N is outside the window (the client must reload state).  Nothing here reads a clock.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import islice
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(slots=True)
class Entry(Generic[T]):
    """One sequenced event; ``at`` is when this log stored it (for age trimming)."""

    seq: int
    at: float
    item: T


class EventLog(Generic[T]):
    """Contiguous, bounded window of sequenced events (see module docstring)."""

    def __init__(self, max_events: int, max_age: float, *, primed: bool = True) -> None:
        if max_events <= 0 or max_age <= 0:
            raise ValueError("max_events and max_age must be positive")
        self.max_events = max_events
        self.max_age = max_age
        self.last_seq = 0
        self.primed = primed
        self._entries: deque[Entry[T]] = deque(maxlen=max_events)
        self._pending: dict[int, tuple[float, T]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def floor(self) -> int:
        """The smallest ``after`` for which :meth:`since` can answer."""
        return self._entries[0].seq - 1 if self._entries else self.last_seq

    @property
    def pending(self) -> int:
        """Events held because an earlier seq has not arrived yet."""
        return len(self._pending)

    # authority

    def append(self, item: T, now: float) -> Entry[T]:
        """Assign the next seq to ``item`` and store it."""
        if not self.primed:
            raise RuntimeError("a follower log cannot assign seqs before it is primed")
        entry = Entry(self.last_seq + 1, now, item)
        self._store(entry, now)
        return entry

    # follower

    def offer(self, seq: int, item: T, now: float) -> tuple[list[Entry[T]], bool]:
        """Take an event numbered elsewhere; return (entries now deliverable, gap seen).

        Entries come back in seq order, each exactly once over the life of the log.
        """
        if seq <= self.last_seq and self.primed:
            return [], False
        if not self.primed or seq != self.last_seq + 1:
            if seq not in self._pending and len(self._pending) >= self.max_events:
                return [], True  # bounded: the caller must refetch or skip
            self._pending[seq] = (now, item)
            return [], self.primed
        entry = Entry(seq, now, item)
        self._store(entry, now)
        return [entry, *self._drain(now)], False

    def prime(self, entries: Iterable[tuple[int, T]], last_seq: int, now: float) -> list[Entry[T]]:
        """Start following from the backend's window (``entries`` end at ``last_seq``).

        Returns events offered before priming that follow on contiguously.
        """
        kept: list[tuple[int, T]] = []
        expect = last_seq
        for seq, item in sorted(entries, key=lambda e: e[0], reverse=True):
            if seq != expect:
                break
            kept.append((seq, item))
            expect -= 1
        self.primed = True
        self.last_seq = last_seq
        self._entries.clear()
        for seq, item in reversed(kept):
            self._entries.append(Entry(seq, now, item))
        for seq in [s for s in self._pending if s <= last_seq]:
            del self._pending[seq]
        return self._drain(now)

    def missing_after(self) -> int | None:
        """If a gap is open, the seq after which events are missing."""
        return self.last_seq if self._pending and self.primed else None

    def skip_gap(self, now: float) -> list[Entry[T]]:
        """Give up on a gap: forget history before it and deliver what was held.

        The history before the gap can no longer be replayed contiguously, so it is dropped;
        resumes from before the gap are then answered "too old".
        """
        if not self._pending:
            return []
        self._entries.clear()
        self.last_seq = min(self._pending) - 1
        return self._drain(now)

    # both

    def since(self, after: int, now: float) -> list[Entry[T]] | None:
        """Entries with ``seq > after`` in order, or None if ``after`` is outside the window."""
        self.trim(now)
        if after < 0 or after > self.last_seq:
            return None
        floor = self.floor
        if after < floor:
            return None
        return list(islice(self._entries, after - floor, None))

    def trim(self, now: float) -> None:
        """Drop entries older than ``max_age`` (count is bounded by the deque itself)."""
        horizon = now - self.max_age
        entries = self._entries
        while entries and entries[0].at < horizon:
            entries.popleft()

    def _store(self, entry: Entry[T], now: float) -> None:
        self.last_seq = entry.seq
        self._entries.append(entry)
        self.trim(now)

    def _drain(self, now: float) -> list[Entry[T]]:
        out: list[Entry[T]] = []
        while self._pending and (nxt := self._pending.pop(self.last_seq + 1, None)):
            entry = Entry(self.last_seq + 1, nxt[0], nxt[1])
            self._store(entry, now)
            out.append(entry)
        for seq in [s for s in self._pending if s <= self.last_seq]:
            del self._pending[seq]
        return out
