"""Events the SFU reports to the signaling layer (``Sfu(on_event=...)``).

They are frozen dataclasses with a ``type`` tag; the signaling layer forwards them to clients.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from livepark.media.config import Role


@dataclass(frozen=True, slots=True)
class SpeakersChanged:
    """The room's active speakers, loudest first; levels are smoothed, 0.0 (silent) .. 1.0."""

    room_id: str
    levels: tuple[tuple[str, float], ...]
    type: Literal["speakers_changed"] = "speakers_changed"


@dataclass(frozen=True, slots=True)
class SlotsChanged:
    """Which user each of ``subscriber_id``'s slots (by SDP ``mid``) now carries (None: idle)."""

    room_id: str
    subscriber_id: str
    slots: Mapping[str, str | None] = field(default_factory=lambda: MappingProxyType({}))
    type: Literal["slots_changed"] = "slots_changed"


@dataclass(frozen=True, slots=True)
class PublisherStarted:
    """A publisher's leg is connected; ``kinds`` are the media kinds it negotiated."""

    room_id: str
    user_id: str
    kinds: tuple[Literal["audio", "video"], ...]
    type: Literal["publisher_started"] = "publisher_started"


@dataclass(frozen=True, slots=True)
class PublisherStopped:
    """A publisher's leg is gone.

    ``reason``: ``unpublished`` (asked to), ``removed``, ``room_closed``, ``replaced`` (published
    again), ``bye`` (the client sent RTCP BYE for its last track), ``connection_closed`` (DTLS
    closed by the peer), ``connection_failed`` (ICE/DTLS failed), ``rtp_timeout`` (no RTP for
    ``MediaConfig.publisher_timeout``), ``connect_timeout``.  Failures (the last three) are
    also reported as :class:`LegFailed` with role ``publisher``.
    """

    room_id: str
    user_id: str
    reason: str
    type: Literal["publisher_stopped"] = "publisher_stopped"


@dataclass(frozen=True, slots=True)
class LegFailed:
    """A leg was closed by the SFU because something went wrong (not on request).

    ``reason``: ``answer_timeout``, ``bad_answer``, ``connect_timeout``, ``connection_failed``,
    ``connection_closed``, ``send_failed``; for publishers ``connection_failed``,
    ``rtp_timeout``, ``connect_timeout``.
    """

    room_id: str
    user_id: str
    role: Role
    reason: str
    type: Literal["leg_failed"] = "leg_failed"


MediaEvent = SpeakersChanged | SlotsChanged | PublisherStarted | PublisherStopped | LegFailed
