"""RTCP the SFU writes itself: one compound SR + SDES per subscriber leg (sans-I/O).

aiortc sends an SR from every transceiver every ~1 s, even idle ones; the SFU instead sends
one compound packet per leg covering the slots that carried media, with timestamps
translated from the publisher's own sender reports when known (so receivers can lip-sync
audio and video of the same publisher).
"""

from __future__ import annotations

import struct
from typing import NamedTuple

NTP_EPOCH_OFFSET = 2208988800
RTCP_SR = 200
RTCP_SDES = 202
SDES_CNAME = 1


class SenderReport(NamedTuple):
    ssrc: int
    ntp: int
    """64-bit NTP timestamp the RTP timestamp corresponds to."""
    rtp_ts: int
    packets: int
    octets: int


def ntp_from_wall(wall: float) -> int:
    return int((wall + NTP_EPOCH_OFFSET) * (1 << 32)) & 0xFFFFFFFFFFFFFFFF


def build_compound(reports: list[SenderReport], cname: str) -> bytes:
    """SR packets (one per SSRC, no report blocks) followed by one SDES with CNAMEs."""
    out = bytearray()
    for r in reports:
        out += struct.pack(
            "!BBHIQIII",
            0x80,
            RTCP_SR,
            6,
            r.ssrc,
            r.ntp & 0xFFFFFFFFFFFFFFFF,
            r.rtp_ts & 0xFFFFFFFF,
            r.packets & 0xFFFFFFFF,
            r.octets & 0xFFFFFFFF,
        )
    if reports:
        name = cname.encode()[:255]
        chunks = bytearray()
        for r in reports[:31]:
            chunk = struct.pack("!IBB", r.ssrc, SDES_CNAME, len(name)) + name + b"\x00"
            chunk += b"\x00" * (-len(chunk) % 4)
            chunks += chunk
        out += struct.pack("!BBH", 0x80 | min(len(reports), 31), RTCP_SDES, len(chunks) // 4) + chunks
    return bytes(out)


RTCP_RTPFB = 205
RTCP_PSFB = 206


def carries_feedback(compound: bytes) -> bool:
    """Whether a (decrypted) RTCP compound holds transport or payload-specific feedback
    (NACK, PLI, FIR, REMB: types 205/206) — the only RTCP from a subscriber the SFU acts on.
    Receiver reports, SDES, BYE and XR alone are dropped before aiortc parses them.  A
    malformed compound counts as feedback (aiortc's parser then rejects it as usual)."""
    offset, n = 0, len(compound)
    while offset + 4 <= n:
        pt = compound[offset + 1]
        if pt in (RTCP_RTPFB, RTCP_PSFB):
            return True
        words = (compound[offset + 2] << 8) | compound[offset + 3]
        offset += 4 * (words + 1)
    return offset != n
