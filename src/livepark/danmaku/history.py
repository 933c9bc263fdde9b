"""Sans-I/O comment history for fresh joiners: public comments, and shadowed ones per sender.

A shadowed comment (moderation verdict ``shadow``) is shown to its sender only, in her
batches and in her own join history, looking like any other comment.  So that a spammer
whose comments are all shadowed cannot push real comments out of everybody's history, the
two are kept apart:

- public comments: the last ``size`` of them, in one deque;
- shadowed comments: the last ``size`` per sender, for at most ``max_senders`` senders (the
  sender who shadowed least recently is forgotten first).

:meth:`CommentHistory.items_for` merges a user's own shadowed comments into the public ones
in arrival order and returns the last ``size``.  Memory per room is bounded by
``size * (1 + max_senders)`` comments.
"""

from __future__ import annotations

import heapq
import itertools
from collections import OrderedDict, deque
from collections.abc import Mapping
from typing import Any, NamedTuple

Payload = Mapping[str, Any]


class _Kept(NamedTuple):
    order: int
    payload: Payload


class CommentHistory:
    """The last ``size`` comments each user should see on joining (see module docstring)."""

    def __init__(self, size: int, *, max_senders: int = 64) -> None:
        if size < 0 or max_senders <= 0:
            raise ValueError("size must be >= 0 and max_senders positive")
        self.size = size
        self.max_senders = max_senders
        self._order = itertools.count()
        self._public: deque[_Kept] = deque(maxlen=size)
        self._shadowed: OrderedDict[str, deque[_Kept]] = OrderedDict()

    def add(self, payload: Payload, shadowed_for: str | None = None) -> None:
        """Remember a comment; ``shadowed_for``: the only user who may see it."""
        if self.size == 0:
            return
        kept = _Kept(next(self._order), payload)
        if shadowed_for is None:
            self._public.append(kept)
            return
        mine = self._shadowed.get(shadowed_for)
        if mine is None:
            mine = self._shadowed[shadowed_for] = deque(maxlen=self.size)
            while len(self._shadowed) > self.max_senders:
                self._shadowed.popitem(last=False)
        else:
            self._shadowed.move_to_end(shadowed_for)
        mine.append(kept)

    def has_shadowed(self, user_id: str) -> bool:
        return user_id in self._shadowed

    @property
    def senders(self) -> int:
        """Senders whose shadowed comments are kept."""
        return len(self._shadowed)

    def public(self) -> list[Payload]:
        """The last ``size`` public comments, oldest first (what everyone sees)."""
        return [k.payload for k in self._public]

    def items_for(self, user_id: str) -> list[Payload]:
        """The last ``size`` comments ``user_id`` may see, oldest first."""
        mine = self._shadowed.get(user_id)
        if not mine:
            return self.public()
        merged = list(heapq.merge(self._public, mine))
        return [k.payload for k in merged[-self.size :]]
