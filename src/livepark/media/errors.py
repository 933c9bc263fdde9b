"""The media package's exception tree.

Every :class:`MediaError` carries a stable ``code`` (sent to clients verbatim):

- ``bad_sdp``: the SDP could not be parsed or has no usable media section.
- ``no_supported_codec``: an offer/answer section offers no codec the SFU forwards
  (Opus for audio; VP8 or H.264 for video), or a subscriber accepts none of the video
  codecs the room's publishers send.
- ``not_publishing`` / ``not_subscribed``: the user has no such leg in the room.
- ``answer_timeout``: the subscriber did not answer the SFU's offer in time (leg closed).
- ``room_closed``: the room (or the SFU) is closed or closing.
- ``wrong_state``: e.g. an answer for a leg that is not waiting for one.
- ``room_full`` / ``too_many_rooms`` / ``ports_exhausted``: a bounded resource is full.
"""

from __future__ import annotations

from livepark.errors import LiveparkError


class MediaError(LiveparkError):
    """A media (SFU / WebRTC) operation failed."""

    code = "media_error"


class AiortcIncompatible(MediaError):
    """The installed aiortc no longer has a private name the adapter relies on."""

    code = "aiortc_incompatible"
