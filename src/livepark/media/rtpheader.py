"""Building forwarded RTP headers: pre-computed per slot, patched per packet.

A :class:`HeaderTemplate` belongs to one outgoing stream layout (payload types, SSRC, ``mid``,
the subscriber leg's header-extension ids).  :meth:`HeaderTemplate.build` serialises a whole
packet once; every subscriber sharing the layout (and the sequence/timestamp offsets) gets
the very same bytes, so only SRTP protection and ``sendto`` remain per subscriber.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

RTP_HEADER = struct.Struct("!BBHII")
U16 = struct.Struct("!H")

URI_MID = "urn:ietf:params:rtp-hdrext:sdes:mid"
URI_AUDIO_LEVEL = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
URI_ABS_SEND_TIME = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"


class ExtensionIds(NamedTuple):
    """Header extension ids negotiated on one subscriber leg (None: not negotiated)."""

    mid: int | None = None
    audio_level: int | None = None
    abs_send_time: int | None = None

    @classmethod
    def from_uris(cls, ids: dict[str, int]) -> ExtensionIds:
        return cls(ids.get(URI_MID), ids.get(URI_AUDIO_LEVEL), ids.get(URI_ABS_SEND_TIME))


def abs_send_time(now: float) -> int:
    """24-bit 6.18 fixed-point seconds (only differences matter to the receiver)."""
    return int(now * 262144.0) & 0xFFFFFF


class HeaderTemplate:
    """Serialises RTP packets for one outgoing stream layout."""

    __slots__ = ("_al_id", "_ast_id", "_mid_elem", "_two_byte", "mid", "ssrc")

    def __init__(self, ssrc: int, mid: str | None, ext: ExtensionIds) -> None:
        self.ssrc = ssrc
        self.mid = mid
        mid_bytes = mid.encode() if (mid and ext.mid) else b""
        ids = [i for i in ext if i]
        self._two_byte = any(i > 14 for i in ids) or len(mid_bytes) > 16
        self._al_id = ext.audio_level or 0
        self._ast_id = ext.abs_send_time or 0
        if mid_bytes and ext.mid:
            self._mid_elem = self._elem(ext.mid, mid_bytes)
        else:
            self._mid_elem = b""

    def _elem(self, x_id: int, value: bytes) -> bytes:
        if self._two_byte:
            return bytes((x_id, len(value))) + value
        return bytes(((x_id << 4) | (len(value) - 1),)) + value

    def extensions(self, audio_level: tuple[bool, int] | None, send_time: int | None) -> bytes:
        """The header-extension block (with its 4-byte profile/length prefix) or b""."""
        ext = self._mid_elem
        if audio_level is not None and self._al_id:
            vad, level = audio_level
            ext += self._elem(self._al_id, bytes(((0x80 if vad else 0) | (level & 0x7F),)))
        if send_time is not None and self._ast_id:
            ext += self._elem(self._ast_id, send_time.to_bytes(3, "big"))
        if not ext:
            return b""
        pad = -len(ext) % 4
        if pad:
            ext += b"\x00" * pad
        profile = 0x1000 if self._two_byte else 0xBEDE
        return struct.pack("!HH", profile, len(ext) >> 2) + ext

    def build(
        self,
        payload_type: int,
        marker: int,
        seq: int,
        ts: int,
        payload: bytes,
        audio_level: tuple[bool, int] | None = None,
        send_time: int | None = None,
        ssrc: int | None = None,
    ) -> bytes:
        ext = self.extensions(audio_level, send_time)
        head = RTP_HEADER.pack(
            0x90 if ext else 0x80,
            (0x80 if marker else 0) | payload_type,
            seq,
            ts,
            self.ssrc if ssrc is None else ssrc,
        )
        return head + ext + payload
