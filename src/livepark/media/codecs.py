"""Codec knowledge the SFU needs without decoding: names, clock rates, keyframe starts.

Everything here looks only at RTP payload *descriptors* / NAL headers (a few bytes); no media
is ever decoded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

AUDIO_OPUS = "audio/opus"
VIDEO_VP8 = "video/vp8"
VIDEO_H264 = "video/h264"
RTX = "video/rtx"

FORWARDABLE: dict[str, tuple[str, ...]] = {
    "audio": (AUDIO_OPUS,),
    "video": (VIDEO_VP8, VIDEO_H264),
}
"""Codecs the SFU negotiates, by kind, in order of preference."""

MIN_TS_STEP = {"audio": 960, "video": 3000}
"""Smallest RTP timestamp step used when a slot switches sources (20 ms of Opus at 48 kHz,
one frame at 30 fps on the 90 kHz video clock)."""


def vp8_keyframe_start(payload: bytes) -> bool:
    """Whether ``payload`` (a VP8 RTP payload, RFC 7741) is the first packet of a keyframe.

    The first packet of a frame has S=1 and PID=0; the VP8 payload header that follows the
    descriptor has P (inverse keyframe flag) as its lowest bit.
    """
    n = len(payload)
    if n < 1:
        return False
    b0 = payload[0]
    if not b0 & 0x10 or b0 & 0x07:  # S bit unset, or partition index != 0
        return False
    pos = 1
    if b0 & 0x80:  # X: extension byte present
        if n < 2:
            return False
        x = payload[1]
        pos = 2
        if x & 0x80:  # I: picture id
            if n <= pos:
                return False
            pos += 2 if payload[pos] & 0x80 else 1
        if x & 0x40:  # L: TL0PICIDX
            pos += 1
        if x & 0x30:  # T or K: TID / KEYIDX byte
            pos += 1
    if n <= pos:
        return False
    return not payload[pos] & 0x01


_H264_KEY_NALS = (5, 7)  # IDR slice, SPS


def h264_keyframe_start(payload: bytes) -> bool:
    """Whether ``payload`` (an H.264 RTP payload, RFC 6184) starts a keyframe.

    True for a packet carrying an SPS or an IDR slice start: a single NAL unit, a STAP-A
    aggregate containing one, or the first fragment (FU-A with S=1) of an IDR slice.
    """
    n = len(payload)
    if n < 1:
        return False
    nal_type = payload[0] & 0x1F
    if 1 <= nal_type <= 23:
        return nal_type in _H264_KEY_NALS
    if nal_type == 24:  # STAP-A: 16-bit size + NAL unit, repeated
        pos = 1
        while pos + 2 < n:
            size = (payload[pos] << 8) | payload[pos + 1]
            pos += 2
            if size == 0 or pos + size > n:
                return False
            if payload[pos] & 0x1F in _H264_KEY_NALS:
                return True
            pos += size
        return False
    if nal_type == 28:  # FU-A
        if n < 2:
            return False
        fu = payload[1]
        return bool(fu & 0x80) and (fu & 0x1F) in _H264_KEY_NALS
    return False


def _always(payload: bytes) -> bool:
    return True


@dataclass(frozen=True, slots=True)
class CodecInfo:
    """One negotiated payload type of a publisher's track."""

    payload_type: int
    mime: str
    """Lower-case ``kind/name``, e.g. ``video/vp8``."""
    clock_rate: int
    apt: int | None = None
    """For RTX: the payload type it repairs."""
    profile: str | None = None
    """For H.264: the negotiated profile (``main``, ``constrained_baseline``...)."""

    @property
    def is_rtx(self) -> bool:
        return self.mime.endswith("/rtx")

    @property
    def keyframe_start(self) -> Callable[[bytes], bool]:
        if self.mime == VIDEO_VP8:
            return vp8_keyframe_start
        if self.mime == VIDEO_H264:
            return h264_keyframe_start
        return _always


def is_forwardable(kind: str, mime: str) -> bool:
    return mime.lower() in FORWARDABLE.get(kind, ())
