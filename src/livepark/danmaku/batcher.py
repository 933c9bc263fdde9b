"""Sans-I/O batcher for the lossy path: items in, whole batches out when a window elapses.

A batch opens with its first item at ``now`` and closes at ``opened + window`` or as soon as
one more item would exceed ``max_items`` / ``max_bytes``.  The caller runs a timer at
:attr:`Batcher.deadline` and calls :meth:`Batcher.poll`; nothing here reads a clock.

Guarantees (property-tested): every added item is in exactly one batch unless it was
replaced by a later item with the same ``key`` in the same batch (coalescing, for state
snapshots such as speaker levels: the latest value takes the slot of the first); items keep
their order; a batch never holds more than ``max_items`` items or (unless a single item is
bigger) more than ``max_bytes`` -- a replacement that would not fit closes the batch and
opens the next one; every item in a batch was added within ``window`` seconds of the
batch's first item.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

T = TypeVar("T")

CloseReason = Literal["window", "size", "flush"]


@dataclass(frozen=True, slots=True)
class Batch(Generic[T]):
    """A closed batch: ``items`` in arrival order, when it opened and why it closed."""

    items: tuple[T, ...]
    opened_at: float
    nbytes: int
    reason: CloseReason


class Batcher(Generic[T]):
    """Collects items into batches bounded by time (``window``) and size."""

    def __init__(self, window: float, max_items: int, max_bytes: int) -> None:
        if window <= 0 or max_items <= 0 or max_bytes <= 0:
            raise ValueError("window, max_items and max_bytes must be positive")
        self.window = window
        self.max_items = max_items
        self.max_bytes = max_bytes
        self._items: list[T] = []
        self._sizes: list[int] = []
        self._keys: dict[Hashable, int] = {}
        self._nbytes = 0
        self._opened_at: float | None = None

    def __len__(self) -> int:
        return len(self._items)

    @property
    def deadline(self) -> float | None:
        """When the open batch must be closed, or None when nothing is pending."""
        return None if self._opened_at is None else self._opened_at + self.window

    @property
    def pending_bytes(self) -> int:
        return self._nbytes

    def add(self, item: T, size: int, now: float, key: Hashable | None = None) -> Batch[T] | None:
        """Add ``item``; return the batch this closed (window elapsed or full), if any."""
        closed: Batch[T] | None = None
        if self._opened_at is not None and now >= self._opened_at + self.window:
            closed = self._close("window")
        if key is not None and key in self._keys:
            index = self._keys[key]
            grown = self._nbytes + size - self._sizes[index]
            if grown <= self.max_bytes or len(self._items) == 1:
                self._nbytes = grown
                self._items[index] = item
                self._sizes[index] = size
                return closed
            assert closed is None  # a window-closed batch leaves the batcher empty
            closed = self._close("size")  # the replacement does not fit: next batch
        elif self._items and (len(self._items) + 1 > self.max_items or self._nbytes + size > self.max_bytes):
            assert closed is None  # a window-closed batch leaves the batcher empty
            closed = self._close("size")
        if self._opened_at is None:
            self._opened_at = now
        if key is not None:
            self._keys[key] = len(self._items)
        self._items.append(item)
        self._sizes.append(size)
        self._nbytes += size
        return closed

    def close_if_full(self, size: int, key: Hashable | None = None) -> Batch[T] | None:
        """Close the open batch now if an item of ``size`` would not fit in it.

        Lets an I/O layer fan a full batch out *before* the next item opens a new batch, so
        the new batch's window starts after that (possibly slow) fan-out.
        """
        if not self._items:
            return None
        if key is not None and key in self._keys:
            replaced = self._sizes[self._keys[key]]
            fits = self._nbytes + size - replaced <= self.max_bytes or len(self._items) == 1
        else:
            fits = len(self._items) + 1 <= self.max_items and self._nbytes + size <= self.max_bytes
        return None if fits else self._close("size")

    def poll(self, now: float) -> Batch[T] | None:
        """Close and return the open batch if its window has elapsed at ``now``."""
        deadline = self.deadline
        if deadline is None or now < deadline:
            return None
        return self._close("window")

    def flush(self) -> Batch[T] | None:
        """Close the open batch now (room closing, shutdown)."""
        return self._close("flush") if self._items else None

    def _close(self, reason: CloseReason) -> Batch[T]:
        assert self._opened_at is not None
        batch = Batch(tuple(self._items), self._opened_at, self._nbytes, reason)
        self._items = []
        self._sizes = []
        self._keys = {}
        self._nbytes = 0
        self._opened_at = None
        return batch
