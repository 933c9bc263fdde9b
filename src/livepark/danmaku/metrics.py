"""Prometheus metrics of the danmaku hub (default registry, ``livepark_danmaku_`` prefix).

Hot loops count locally and add once per batch/flush, never once per connection.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

MESSAGES_IN = Counter(
    "livepark_danmaku_messages_in_total",
    "Messages accepted into the hub, by kind (comment, like, lossy, event).",
    ["kind"],
)
REFUSED = Counter(
    "livepark_danmaku_refused_total",
    "Comments refused before fan-out, by error code.",
    ["code"],
)
DELIVERIES = Counter(
    "livepark_danmaku_deliveries_total",
    "Items delivered to connections (an item in a frame written to N connections counts N),"
    " by class (lossy, reliable).",
    ["cls"],
)
FRAME_WRITES = Counter(
    "livepark_danmaku_frame_writes_total",
    "Transport writes of prebuilt frames, by class (lossy, reliable, stats, direct).",
    ["cls"],
)
BATCHES = Counter(
    "livepark_danmaku_batches_total",
    "Lossy batches closed, by reason (window, size, flush).",
    ["reason"],
)
SKIPPED_BATCHES = Counter(
    "livepark_danmaku_skipped_batches_total",
    "Lossy batches (and stats frames) not written to a lagging connection.",
)
SLOW_CONSUMER_DISCONNECTS = Counter(
    "livepark_danmaku_slow_consumer_disconnects_total",
    "Connections closed with 4010, by reason (hard_limit, stalled).",
    ["reason"],
)
RESUMES = Counter(
    "livepark_danmaku_resumes_total",
    "Attach calls, by outcome (fresh, replayed, gap_too_old).",
    ["outcome"],
)
RESUMES_TOO_LARGE = Counter(
    "livepark_danmaku_resumes_too_large_total",
    "Resumes answered gap_too_old (also counted there) because the replay, though still in"
    " the window, would not fit under hard_limit.",
)
MODERATION_SECONDS = Histogram(
    "livepark_danmaku_moderation_seconds",
    "Time spent waiting for the text moderator.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
MODERATION_FAILURES = Counter(
    "livepark_danmaku_moderation_failures_total",
    "Moderator calls that timed out or raised, by outcome.",
    ["outcome"],
)
PENDING_ITEMS = Gauge(
    "livepark_danmaku_pending_items",
    "Lossy items waiting in open batches (all rooms), sampled every stats interval.",
)
OUTBOUND_BYTES = Gauge(
    "livepark_danmaku_outbound_buffered_bytes",
    "Bytes waiting in connections' outbound buffers (all rooms), sampled.",
)
MAX_OUTBOUND_BYTES = Gauge(
    "livepark_danmaku_outbound_buffered_bytes_max",
    "Largest outbound buffer of one connection, sampled.",
)
LAGGING = Gauge(
    "livepark_danmaku_lagging_connections",
    "Connections currently skipping lossy batches, sampled.",
)
RELIABLE_QUEUE = Gauge(
    "livepark_danmaku_reliable_queue_depth",
    "Must-not-lose events queued for the next event_window write (all rooms), sampled.",
)
PENDING_EVENTS = Gauge(
    "livepark_danmaku_pending_events",
    "Must-not-lose events received from pub/sub ahead of a missing seq, held in the room's"
    " event log until the gap is refetched (all rooms), sampled.",
)
SUBSCRIBERS = Gauge("livepark_danmaku_subscribers", "Attached connections, sampled.")
ROOMS = Gauge("livepark_danmaku_rooms", "Rooms with danmaku state on this node, sampled.")
