"""Exception tree of the danmaku package; every error has a stable ``code`` for clients."""

from __future__ import annotations

from typing import Any

from livepark.errors import LiveparkError


class DanmakuError(LiveparkError):
    """A danmaku request could not be carried out."""

    code = "danmaku_error"

    def to_wire(self) -> dict[str, Any]:
        """The ``error`` fields sent to the requester (see docs/protocol-danmaku.md)."""
        return {"code": self.code, "message": self.message}


class CommentRefused(DanmakuError):
    """The comment was refused before fan-out."""

    code = "comment_refused"


class EmptyComment(CommentRefused):
    """The comment is empty or whitespace only."""

    code = "empty"


class CommentTooLong(CommentRefused):
    """The comment has more code points (after NFC) than allowed."""

    code = "too_long"

    def __init__(self, length: int, limit: int) -> None:
        super().__init__(f"comment has {length} characters, limit is {limit}")
        self.length = length
        self.limit = limit

    def to_wire(self) -> dict[str, Any]:
        return {**super().to_wire(), "limit": self.limit}


class DuplicateComment(CommentRefused):
    """The same user sent the same text a moment ago."""

    code = "duplicate"


class RateLimited(CommentRefused):
    """The user sends comments faster than allowed; retry after ``retry_after`` seconds."""

    code = "rate_limited"

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"too many comments, retry after {retry_after:.2f}s")
        self.retry_after = retry_after

    def to_wire(self) -> dict[str, Any]:
        return {**super().to_wire(), "retry_after": round(self.retry_after, 3)}


class InvalidMode(CommentRefused):
    """The display mode or colour is not one the protocol allows."""

    code = "invalid_mode"


class CommentRejected(CommentRefused):
    """The moderation hook rejected the comment."""

    code = "rejected"


class ModerationUnavailable(CommentRefused):
    """Moderation timed out or failed and the hub is configured to fail closed."""

    code = "moderation_unavailable"


class InvalidEvent(DanmakuError):
    """An event or lossy payload is not serialisable or has a bad name."""

    code = "invalid_event"


class RoomClosed(DanmakuError):
    """The room's danmaku channel has been closed."""

    code = "room_closed"


class HubClosed(DanmakuError):
    """The hub has been shut down."""

    code = "hub_closed"


class SlowConsumer(DanmakuError):
    """A connection could not keep up and was disconnected (close code 4010)."""

    code = "slow_consumer"
