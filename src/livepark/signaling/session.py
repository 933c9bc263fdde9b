"""Per-connection protocol rules, sans-I/O: turn order, rate limits, floods, deadlines.

The asyncio layer feeds every received frame to :meth:`Session.on_frame` and calls
:meth:`Session.on_timer` at :meth:`Session.next_deadline`; it carries out what comes back.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from livepark.config import SignalingConfig
from livepark.ratelimit import TokenBucket
from livepark.signaling import codes
from livepark.signaling.codes import CloseCode
from livepark.signaling.envelope import (
    EnvelopeError,
    Request,
    RequestId,
    decode_request,
    reply_error,
)

OPENING_TYPES = frozenset({"join", "session.resume"})
MALFORMED_LIMIT = 10
"""Consecutive malformed frames before the connection is closed with 4400."""
PEEK_LIMIT = 4096
"""A rate-limited frame up to this size is decoded for its ``id``; larger ones get ``id: null``."""


class Phase(IntEnum):
    AWAITING_JOIN = 0
    JOINED = 1
    CLOSED = 2


@dataclass(frozen=True, slots=True)
class Dispatch:
    """Carry out this request."""

    request: Request


@dataclass(frozen=True, slots=True)
class Refuse:
    """Send this error reply; the connection stays open."""

    reply: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Close:
    """Close the connection with this code."""

    code: CloseCode
    reason: str


Output = Dispatch | Refuse | Close


class Session:
    def __init__(self, config: SignalingConfig, now: float) -> None:
        self.config = config
        self.phase = Phase.AWAITING_JOIN
        self.opened_at = now
        self.last_seen = now
        self._bucket = TokenBucket(config.request_rate, config.request_burst)
        self._malformed = 0
        self._strikes = 0

    def joined(self) -> None:
        self.phase = Phase.JOINED

    def closed(self) -> None:
        self.phase = Phase.CLOSED

    def on_frame(self, frame: str | bytes, now: float) -> Output | None:
        if self.phase is Phase.CLOSED:
            return None
        self.last_seen = now
        # The token comes first: every frame, readable or not, counts toward the rate limit,
        # so decoding work is bounded by ``request_rate`` whatever a client sends.
        if not self._bucket.take(now):
            self._strikes += 1
            if self._strikes >= self.config.flood_strikes:
                return Close(CloseCode.FLOOD, "request flood")
            retry = round(self._bucket.retry_after(now), 3)
            return Refuse(
                reply_error(_peek_id(frame), codes.RATE_LIMITED, "too many requests", retry_after=retry)
            )
        self._strikes = 0
        try:
            request = decode_request(frame)
        except EnvelopeError as exc:
            self._malformed += 1
            if self._malformed >= MALFORMED_LIMIT:
                return Close(CloseCode.PROTOCOL_ERROR, "too many malformed frames")
            return Refuse(reply_error(exc.request_id, codes.BAD_REQUEST, str(exc)))
        self._malformed = 0
        if self.phase is Phase.AWAITING_JOIN:
            if request.type not in OPENING_TYPES and request.type != "ping":
                return Refuse(reply_error(request.id, codes.NOT_JOINED, "send join first"))
        elif request.type in OPENING_TYPES:
            return Refuse(reply_error(request.id, codes.ALREADY_JOINED, "already in a room"))
        return Dispatch(request)

    def next_deadline(self) -> float:
        if self.phase is Phase.AWAITING_JOIN:
            return min(self.opened_at + self.config.auth_timeout, self.last_seen + self.config.idle_timeout)
        return self.last_seen + self.config.idle_timeout

    def on_timer(self, now: float) -> Close | None:
        if self.phase is Phase.CLOSED:
            return None
        if self.phase is Phase.AWAITING_JOIN and now >= self.opened_at + self.config.auth_timeout:
            return Close(CloseCode.AUTH_TIMEOUT, "no join within the auth timeout")
        if now >= self.last_seen + self.config.idle_timeout:
            return Close(CloseCode.HEARTBEAT_TIMEOUT, "no heartbeat")
        return None


def _peek_id(frame: str | bytes) -> RequestId | None:
    """The ``id`` of a rate-limited frame, to echo in its refusal (small frames only)."""
    if len(frame) > PEEK_LIMIT:
        return None
    try:
        return decode_request(frame).id
    except EnvelopeError as exc:
        return exc.request_id
