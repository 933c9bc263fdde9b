"""Who is speaking, from RFC 6464 audio levels (sans-I/O; never decodes audio).

Each audio packet carries ``-dBov`` (0 = loudest, 127 = silence) in the ``ssrc-audio-level``
header extension.  Levels are mapped to 0..1 (``silence_db`` dBov or quieter → 0, 0 dBov → 1),
smoothed with a fast attack / slow release, and decay to 0 when packets stop (muted / DTX).
:meth:`SpeakerDetector.poll` yields a new ranking at most every ``interval`` seconds and only
when it changed (order of active speakers, or a level moved by a 0.1 step).
"""

from __future__ import annotations


class _Level:
    __slots__ = ("last", "value")

    def __init__(self) -> None:
        self.value = 0.0
        self.last = float("-inf")


class SpeakerDetector:
    def __init__(
        self,
        *,
        threshold: float = 0.25,
        interval: float = 0.3,
        silence_db: int = 70,
        attack: float = 0.4,
        release: float = 0.08,
        stale: float = 0.5,
    ) -> None:
        self.threshold = threshold
        self.interval = interval
        self.silence_db = silence_db
        self.attack = attack
        self.release = release
        self.stale = stale
        self._levels: dict[str, _Level] = {}
        self._last_emit = float("-inf")
        self._last_key: tuple[tuple[str, int], ...] = ()

    def add(self, user: str, dbov: int, now: float) -> None:
        """One packet's level: ``dbov`` is the extension's value (0..127, i.e. -dBov)."""
        s = self._levels.get(user)
        if s is None:
            s = self._levels[user] = _Level()
        sd = self.silence_db
        v = (sd - dbov) / sd if dbov < sd else 0.0
        cur = s.value
        if now - s.last > self.stale:
            cur = 0.0
        s.value = cur + (self.attack if v > cur else self.release) * (v - cur)
        s.last = now

    def remove(self, user: str) -> None:
        self._levels.pop(user, None)

    def level(self, user: str, now: float) -> float:
        s = self._levels.get(user)
        if s is None or now - s.last > self.stale:
            return 0.0
        return s.value

    def active(self, now: float) -> list[tuple[str, float]]:
        """Speakers above the threshold, loudest first."""
        out = []
        for user, s in self._levels.items():
            if now - s.last <= self.stale and s.value >= self.threshold:
                out.append((user, round(s.value, 2)))
        out.sort(key=lambda x: (-x[1], x[0]))
        return out

    def poll(self, now: float) -> tuple[tuple[str, float], ...] | None:
        """The active speakers if an event is due (changed and interval elapsed), else None."""
        if now - self._last_emit < self.interval:
            return None
        act = self.active(now)
        key = tuple((u, int(level * 10)) for u, level in act)
        if key == self._last_key:
            return None
        self._last_key = key
        self._last_emit = now
        return tuple(act)
