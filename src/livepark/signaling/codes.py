"""WebSocket close codes and signaling error codes (documented in docs/protocol.md)."""

from __future__ import annotations

from enum import IntEnum


class CloseCode(IntEnum):
    NORMAL = 1000
    GOING_AWAY = 1001
    """The server is shutting down. Rooms and resume tokens live in its memory and go with it:
    clients reconnect with backoff and ``join`` again with an access token."""
    MESSAGE_TOO_BIG = 1009
    """A frame exceeded ``signaling.max_frame_bytes`` (sent by the websockets library)."""
    AUTH_FAILED = 4001
    AUTH_TIMEOUT = 4002
    KICKED = 4003
    ROOM_ENDED = 4004
    HEARTBEAT_TIMEOUT = 4008
    SLOW_CONSUMER = 4010
    REPLACED = 4011
    """The same member joined from another connection."""
    FLOOD = 4029
    PROTOCOL_ERROR = 4400
    SERVER_FULL = 4503


# Signaling-level error codes (room, auth, media and danmaku codes come from those packages).
BAD_REQUEST = "bad_request"
UNKNOWN_TYPE = "unknown_type"
NOT_JOINED = "not_joined"
ALREADY_JOINED = "already_joined"
RATE_LIMITED = "rate_limited"
RESUME_FAILED = "resume_failed"
INTERNAL_ERROR = "internal_error"
