"""Token buckets (sans-I/O): callers pass ``now``; nothing here reads a clock."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TokenBucket:
    """Classic token bucket: ``rate`` tokens per second, at most ``burst`` stored.

    >>> b = TokenBucket(rate=1.0, burst=2.0)
    >>> b.take(now=0.0), b.take(now=0.0), b.take(now=0.0)
    (True, True, False)
    """

    rate: float
    burst: float
    tokens: float = field(default=-1.0)
    stamp: float | None = None

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst <= 0:
            raise ValueError("rate and burst must be positive")
        if self.tokens < 0:
            self.tokens = self.burst

    def _refill(self, now: float) -> None:
        if self.stamp is not None and now > self.stamp:
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        if self.stamp is None or now > self.stamp:
            self.stamp = now

    def take(self, now: float, cost: float = 1.0) -> bool:
        """Spend ``cost`` tokens if available; return whether the action may proceed."""
        self._refill(now)
        if self.tokens >= cost:
            self.tokens -= cost
            return True
        return False

    def retry_after(self, now: float, cost: float = 1.0) -> float:
        """Seconds until ``cost`` tokens will be available (0 when they are now)."""
        self._refill(now)
        missing = cost - self.tokens
        return 0.0 if missing <= 0 else missing / self.rate
