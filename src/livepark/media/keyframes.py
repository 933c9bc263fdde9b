"""When to send a PLI to a publisher's video track (sans-I/O: callers pass ``now``).

Rules (LiveKit/mediasoup style):

- an explicit request (a subscriber started waiting, or sent PLI/FIR) is remembered as a
  *wish* until a PLI goes out or a keyframe arrives;
- while any subscriber is still waiting ("keyframe outstanding"), ask again every
  ``retry_interval``;
- never more than one PLI per ``min_interval`` per track: wishes made meanwhile are
  coalesced and sent when the interval has passed.
"""

from __future__ import annotations


class KeyframeRequester:
    __slots__ = ("_last", "_wanted", "min_interval", "retry_interval", "sent")

    def __init__(self, min_interval: float = 1.0, retry_interval: float = 0.5) -> None:
        self.min_interval = min_interval
        self.retry_interval = retry_interval
        self._last: float | None = None
        self._wanted = False
        self.sent = 0

    def wish(self) -> None:
        """Record a wish without sending (the next :meth:`poll` decides)."""
        self._wanted = True

    def request(self, now: float) -> bool:
        """Record a wish; return True if a PLI must be sent right now."""
        self._wanted = True
        return self.poll(now, outstanding=True)

    def poll(self, now: float, outstanding: bool) -> bool:
        """Return True if a PLI must be sent now (call periodically)."""
        last = self._last
        due = self._wanted or (outstanding and (last is None or now - last >= self.retry_interval))
        if not due:
            return False
        if last is not None and now - last < self.min_interval:
            return False
        self._last = now
        self._wanted = False
        self.sent += 1
        return True

    def keyframe_received(self) -> None:
        """A keyframe went through: pending wishes are satisfied."""
        self._wanted = False

    @property
    def wanted(self) -> bool:
        return self._wanted
