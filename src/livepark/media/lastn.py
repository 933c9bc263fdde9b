"""Last-N: which N speakers of a voice room are forwarded (sans-I/O).

The selector keeps a *member set* of at most N publishers.  A publisher joins the set at once
while it has room (so small rooms forward everybody); when full, an active speaker outside the
set replaces the member that spoke least recently, but only a member that is silent now and
has been in the set for at least ``hold`` seconds — so N+1 people talking at once cannot make
slots flap.

:meth:`ranked` lists members first (most recently active first), then the others; a listener
gets the first N of it without herself, so a member speaker gets the best non-member instead
of her own voice.
"""

from __future__ import annotations

from collections.abc import Iterable


class LastNSelector:
    def __init__(self, n: int, hold: float = 2.0) -> None:
        if n < 0:
            raise ValueError("n must be >= 0")
        self.n = n
        self.hold = hold
        self._joined: dict[str, int] = {}
        self._join_counter = 0
        self._last_active: dict[str, float] = {}
        self._members: dict[str, float] = {}  # user -> entered at

    def add(self, user: str, now: float) -> bool:
        """An eligible publisher appeared. Returns True if the member set changed."""
        if user in self._joined:
            return False
        self._join_counter += 1
        self._joined[user] = self._join_counter
        if len(self._members) < self.n:
            self._members[user] = float("-inf")  # never spoke: evictable at once
            return True
        return False

    def remove(self, user: str) -> bool:
        """A publisher left (or became ineligible). Returns True if the member set changed."""
        self._joined.pop(user, None)
        self._last_active.pop(user, None)
        if self._members.pop(user, None) is None:
            return False
        # refill with the best non-member
        rest = [u for u in self._order(self._non_members())]
        if rest:
            self._members[rest[0]] = float("-inf")
        return True

    def update(self, active: Iterable[str], now: float) -> bool:
        """``active``: users speaking now, loudest first. Returns True if the set changed."""
        active = [u for u in active if u in self._joined]
        act = set(active)
        for u in active:
            self._last_active[u] = now
        changed = False
        for u in active:
            if u in self._members:
                continue
            if len(self._members) < self.n:
                self._members[u] = now
                changed = True
                continue
            victims = [
                m for m, entered in self._members.items() if m not in act and now - entered >= self.hold
            ]
            if not victims:
                continue
            victim = min(victims, key=lambda m: (self._last_active.get(m, float("-inf")), -self._joined[m]))
            del self._members[victim]
            self._members[u] = now
            changed = True
        return changed

    def members(self) -> set[str]:
        return set(self._members)

    def _non_members(self) -> list[str]:
        return [u for u in self._joined if u not in self._members]

    def _order(self, users: Iterable[str]) -> list[str]:
        return sorted(users, key=lambda u: (-self._last_active.get(u, float("-inf")), self._joined[u]))

    def ranked(self) -> list[str]:
        return self._order(self._members) + self._order(self._non_members())

    def select_for(self, listener: str) -> list[str]:
        """The (at most N) speakers forwarded to ``listener``."""
        return [u for u in self.ranked() if u != listener][: self.n]
