"""Danmaku (bullet comments) hub: encode once, write many.

Public API::

    hub = DanmakuHub(HubConfig(), pubsub=InMemoryPubSub(), moderator=AllowAll())
    sub = WebSocketSubscriber(connection, user_id)          # one per member connection
    result = await hub.attach(room_id, sub, resume_from=None, compress=False)
    await hub.send_comment(room_id, Sender(user_id, name), text)   # -> CommentResult
    hub.like(room_id, user_id, count)                        # aggregated into danmaku.stats
    seq = await hub.publish_event(room_id, "seat.changed", {...})   # must-not-lose
    hub.publish_lossy(room_id, "speaker.levels", {...}, key="speaker.levels")
    hub.detach(room_id, sub); await hub.close_room(room_id); await hub.aclose()

Wire format: docs/protocol-danmaku.md.
"""

from livepark.danmaku.config import HubConfig
from livepark.danmaku.errors import (
    CommentRefused,
    CommentRejected,
    CommentTooLong,
    DanmakuError,
    DuplicateComment,
    EmptyComment,
    HubClosed,
    InvalidEvent,
    InvalidMode,
    ModerationUnavailable,
    RateLimited,
    RoomClosed,
    SlowConsumer,
)
from livepark.danmaku.frames import (
    CLOSE_SLOW_CONSUMER,
    SUBPROTOCOLS,
    Encoding,
    decode_frame_payload,
)
from livepark.danmaku.hub import (
    AttachResult,
    CommentResult,
    DanmakuHub,
    RoomStats,
    Sender,
    error_response,
)
from livepark.danmaku.moderation import AllowAll, Decision, TextModerator, Verdict
from livepark.danmaku.pubsub import Message, PubSub, Window
from livepark.danmaku.pubsub_memory import InMemoryBroker, InMemoryPubSub
from livepark.danmaku.subscriber import Subscriber
from livepark.danmaku.ws_subscriber import WebSocketSubscriber

__all__ = [
    "CLOSE_SLOW_CONSUMER",
    "SUBPROTOCOLS",
    "AllowAll",
    "AttachResult",
    "CommentRefused",
    "CommentRejected",
    "CommentResult",
    "CommentTooLong",
    "DanmakuError",
    "DanmakuHub",
    "Decision",
    "DuplicateComment",
    "EmptyComment",
    "Encoding",
    "HubClosed",
    "HubConfig",
    "InMemoryBroker",
    "InMemoryPubSub",
    "InvalidEvent",
    "InvalidMode",
    "Message",
    "ModerationUnavailable",
    "PubSub",
    "RateLimited",
    "RoomClosed",
    "RoomStats",
    "Sender",
    "SlowConsumer",
    "Subscriber",
    "TextModerator",
    "Verdict",
    "WebSocketSubscriber",
    "Window",
    "decode_frame_payload",
    "error_response",
]
