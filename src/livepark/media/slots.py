"""Sticky assignment of sources to a subscriber's fixed slots (sans-I/O).

A subscriber leg has a fixed set of transceivers ("slots").  :meth:`SlotAllocator.assign`
takes the sources that should be forwarded now and keeps every source that stays in the slot
it already had; newcomers take the lowest free slots; sources beyond capacity are left out.
"""

from __future__ import annotations

from collections.abc import Sequence


class SlotAllocator:
    __slots__ = ("slots",)

    def __init__(self, size: int) -> None:
        self.slots: list[str | None] = [None] * size

    def assign(self, desired: Sequence[str]) -> list[int]:
        """Update the slots; return the indices whose source changed."""
        want = list(dict.fromkeys(desired))[: len(self.slots)]
        wanted = set(want)
        changed: list[int] = []
        for i, user in enumerate(self.slots):
            if user is not None and user not in wanted:
                self.slots[i] = None
                changed.append(i)
        present = {u for u in self.slots if u is not None}
        for user in want:
            if user in present:
                continue
            i = self.slots.index(None)
            self.slots[i] = user
            if i not in changed:
                changed.append(i)
        changed.sort()
        return changed

    def slot_of(self, user: str) -> int | None:
        try:
            return self.slots.index(user)
        except ValueError:
            return None
