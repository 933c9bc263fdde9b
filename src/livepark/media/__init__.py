"""livepark's media engine: a packet-level pass-through SFU on aiortc.

Nothing is decoded or encoded.  Each publisher's RTP is intercepted in aiortc's receiver
(whose decoder thread is stopped before any packet reaches it), rewritten per subscriber slot
(SSRC, payload type, sequence number, timestamp, header-extension ids, ``mid``) and written
straight to each subscriber leg's SRTP session and ICE socket.

Modules (sans-I/O cores first, aiortc glue last):

- :mod:`~livepark.media.codecs` — codec names, VP8/H.264 keyframe detection from descriptors.
- :mod:`~livepark.media.rtpheader` — serialising forwarded RTP headers with re-mapped extensions.
- :mod:`~livepark.media.rewriter` — sequence/timestamp continuity when a slot changes source.
- :mod:`~livepark.media.nack_cache` — bounded per-track packet history for NACKs.
- :mod:`~livepark.media.keyframes` — PLI throttling and "keyframe outstanding" retries.
- :mod:`~livepark.media.speakers` — audio-level (RFC 6464) smoothing, speaker events.
- :mod:`~livepark.media.lastn` — which N speakers a voice room forwards.
- :mod:`~livepark.media.slots` — sticky assignment of sources to a subscriber's slots.
- :mod:`~livepark.media.rtcp` — the compound sender reports the SFU writes.
- :mod:`~livepark.media.sdp` — validating client SDP before aiortc sees it.
- :mod:`~livepark.media.outputs` — subscriber slots and the groups sharing one serialisation.
- :mod:`~livepark.media.forwarder` — the hot path: one track to many slots.
- ``livepark.media._fastsend`` (C, ``_fastsend.c``) — the per-subscriber protect + send loop.
- :mod:`~livepark.media.aiortc_adapter` — every aiortc/aioice/pylibsrtp private name
  (checked by :mod:`~livepark.media.aiortc_guard`; tests' own in :mod:`~livepark.media.aiortc_testkit`).
- :mod:`~livepark.media.legs`, :mod:`~livepark.media.room`, :mod:`~livepark.media.sfu` — glue.
- :mod:`~livepark.media.whip` — WHIP/WHEP HTTP routes.

The API the signaling layer uses is :class:`~livepark.media.sfu.Sfu`; its events are in
:mod:`~livepark.media.events` and its errors in :mod:`~livepark.media.errors`.
"""

from livepark.media.config import IceServer, MediaConfig, RoomKind
from livepark.media.errors import MediaError
from livepark.media.events import (
    LegFailed,
    MediaEvent,
    PublisherStarted,
    PublisherStopped,
    SlotsChanged,
    SpeakersChanged,
)

__all__ = [
    "IceServer",
    "LegFailed",
    "MediaConfig",
    "MediaError",
    "MediaEvent",
    "PublisherStarted",
    "PublisherStopped",
    "RoomKind",
    "SlotsChanged",
    "SpeakersChanged",
]
