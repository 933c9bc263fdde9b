"""Every knob of the danmaku hub in one frozen dataclass, with the defaults documented."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ReviewAction = Literal["pass", "shadow", "reject"]


@dataclass(frozen=True, slots=True)
class HubConfig:
    """Configuration of :class:`~livepark.danmaku.hub.DanmakuHub`.

    Lossy path (comments, likes, speaker levels):

    - ``batch_window``: seconds a batch stays open after its first item (0.1).
    - ``batch_max_items`` / ``batch_max_bytes``: a batch closes early when full (a busy
      window then goes out as several frames).
    - ``compress_min_bytes``: batches smaller than this are never zlib-compressed.
    - ``stats_interval``: seconds between ``danmaku.stats`` pushes (likes, online).

    Must-not-lose path (sequenced room events):

    - ``event_window``: events published within this many seconds are written to each
      connection with one ``write()`` (still one WebSocket frame per event).
    - ``history_events`` / ``history_seconds``: resume window, by count and by age (the
      hub's default in-memory pub/sub backend keeps the same window).

    Slow consumers (per connection; the transport's write buffer is the outbound buffer):

    - ``soft_limit``: above this many buffered bytes lossy batches are skipped.
    - ``hard_limit``: a must-not-lose frame that would take the buffer past this closes the
      connection with 4010; so the hub's writes never take a connection's buffer past
      ``hard_limit``.  A resume whose replay would not fit is answered gap_too_old.
    - ``stall_timeout``: a connection that has skipped every lossy batch for this long is
      closed with 4010 too.
    - ``close_grace``: after the close frame is queued, the transport is aborted if the peer
      has not read it within this many seconds (frees its buffer).

    Senders:

    - ``rate`` / ``burst``: per-user token bucket for comments.
    - ``max_chars``: code points after NFC; ``dup_window``: same user+text refused inside it.
    - ``like_rate`` / ``like_burst``: per-user bucket for likes (excess likes are dropped).
    - ``moderation_timeout`` and ``moderation_fail_open``: when the moderator does not
      answer in time (or raises), pass the comment (fail-open) or refuse it with
      ``moderation_unavailable`` (fail-closed, the default).
    - ``review_action``: what a ``review`` verdict does: ``pass`` (default), ``shadow``, or
      ``reject``.

    Joining: ``history_comments`` last public comments are sent to a fresh joiner (with her
    own shadowed ones merged in; those are kept apart, see :mod:`.history`).
    """

    batch_window: float = 0.1
    batch_max_items: int = 200
    batch_max_bytes: int = 48 * 1024
    compress_min_bytes: int = 512
    stats_interval: float = 1.0

    event_window: float = 0.02
    history_events: int = 1000
    history_seconds: float = 300.0

    soft_limit: int = 64 * 1024
    hard_limit: int = 512 * 1024
    stall_timeout: float = 30.0
    close_grace: float = 5.0

    rate: float = 1.0
    burst: float = 3.0
    max_chars: int = 200
    dup_window: float = 10.0
    dup_memory: int = 8
    like_rate: float = 20.0
    like_burst: float = 60.0
    max_like_count: int = 50

    moderation_timeout: float = 1.0
    moderation_fail_open: bool = False
    review_action: ReviewAction = "pass"

    history_comments: int = 20
    room_idle_ttl: float = 300.0

    def __post_init__(self) -> None:
        positive = {
            "batch_window": self.batch_window,
            "batch_max_items": self.batch_max_items,
            "batch_max_bytes": self.batch_max_bytes,
            "stats_interval": self.stats_interval,
            "history_events": self.history_events,
            "history_seconds": self.history_seconds,
            "soft_limit": self.soft_limit,
            "hard_limit": self.hard_limit,
            "stall_timeout": self.stall_timeout,
            "rate": self.rate,
            "burst": self.burst,
            "max_chars": self.max_chars,
            "like_rate": self.like_rate,
            "like_burst": self.like_burst,
            "max_like_count": self.max_like_count,
            "moderation_timeout": self.moderation_timeout,
        }
        for name, value in positive.items():
            if value <= 0:
                raise ValueError(f"{name} must be positive")
        for name, value in {
            "event_window": self.event_window,
            "close_grace": self.close_grace,
            "dup_window": self.dup_window,
            "history_comments": self.history_comments,
            "compress_min_bytes": self.compress_min_bytes,
        }.items():
            if value < 0:
                raise ValueError(f"{name} must not be negative")
        if self.hard_limit < self.soft_limit:
            raise ValueError("hard_limit must be >= soft_limit")
        if self.review_action not in ("pass", "shadow", "reject"):
            raise ValueError("review_action must be pass, shadow or reject")
