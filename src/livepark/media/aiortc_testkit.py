"""Test-only uses of aiortc private names (a sibling of :mod:`~livepark.media.aiortc_adapter`).

Nothing in the SFU imports this module.  Tests use it to watch and disturb their *client*
peers; every private name below is checked by :mod:`~livepark.media.aiortc_guard`:

- ``aiortc.rtcrtpreceiver.get_decoder`` / ``aiortc.rtcrtpsender.get_encoder`` (replaced by
  spies that read their caller's ``output_q`` / ``self``), ``RTCRtpReceiver._track`` and
  ``RemoteStreamTrack._queue``: prove that no decoder or encoder belongs to the SFU;
- ``RTCRtpSender._handle_rtcp_packet`` (wrapped): the RTCP feedback a publisher receives;
- ``RTCRtpReceiver._handle_rtcp_packet`` (wrapped): the sender reports a subscriber receives;
- ``RTCDtlsTransport._send_rtp`` (wrapped or called): RTP/RTCP a client sends, before SRTP.
"""

from __future__ import annotations

import contextlib
import struct
import sys
from collections.abc import Callable, Iterator
from typing import Any

import aiortc.rtcrtpreceiver
import aiortc.rtcrtpsender
import aiortc.rtp as artp


@contextlib.contextmanager
def spy_codecs(on_decoder: Callable[[Any], None], on_encoder: Callable[[Any], None]) -> Iterator[None]:
    """Call ``on_decoder(output_queue)`` / ``on_encoder(sender)`` whenever aiortc creates a
    decoder (in a receiver's decoder thread) or an encoder (in a sender).

    If aiortc's caller no longer has the local the spy reads, the spy raises (which stops
    that decoder thread or sender) and leaving the block raises ``AssertionError``: a renamed
    local must not be recorded as ``None``, which would make "no SFU codec" look proven."""
    rr, rs = aiortc.rtcrtpreceiver, aiortc.rtcrtpsender
    real_get_decoder, real_get_encoder = rr.get_decoder, rs.get_encoder  # type: ignore[attr-defined]
    problems: list[str] = []

    def caller_local(name: str, spied: str) -> Any:
        frame = sys._getframe(2)
        if name not in frame.f_locals:
            problems.append(
                f"{frame.f_code.co_qualname}() called {spied} without a local {name!r}: aiortc "
                "changed; port livepark.media.aiortc_testkit.spy_codecs"
            )
            raise RuntimeError(problems[-1])
        return frame.f_locals[name]

    def get_decoder(codec: Any) -> Any:
        on_decoder(caller_local("output_q", "get_decoder"))
        return real_get_decoder(codec)

    def get_encoder(codec: Any) -> Any:
        on_encoder(caller_local("self", "get_encoder"))
        return real_get_encoder(codec)

    setattr(rr, "get_decoder", get_decoder)  # noqa: B010
    setattr(rs, "get_encoder", get_encoder)  # noqa: B010
    try:
        yield
    finally:
        setattr(rr, "get_decoder", real_get_decoder)  # noqa: B010
        setattr(rs, "get_encoder", real_get_encoder)  # noqa: B010
    if problems:
        raise AssertionError("; ".join(problems))


def receiver_track_queue(receiver: Any) -> Any:
    """The asyncio queue a receiver's decoder thread would feed (for :func:`spy_codecs`)."""
    track = receiver._track
    return None if track is None else track._queue


def observe_feedback(sender: Any, on_feedback: Callable[[str, list[int]], None]) -> None:
    """Call ``on_feedback(kind, lost)`` for each PLI (``"pli"``), FIR (``"fir"``) or NACK
    (``"nack"``, with the lost sequence numbers) that reaches ``sender``; aiortc still handles
    every packet as usual (keyframes, retransmissions)."""
    original = sender._handle_rtcp_packet

    async def _handle_rtcp_packet(packet: Any) -> None:
        if isinstance(packet, artp.RtcpPsfbPacket) and packet.fmt == artp.RTCP_PSFB_PLI:
            on_feedback("pli", [])
        elif isinstance(packet, artp.RtcpPsfbPacket) and packet.fmt == artp.RTCP_PSFB_FIR:
            on_feedback("fir", [])
        elif isinstance(packet, artp.RtcpRtpfbPacket) and packet.fmt == artp.RTCP_RTPFB_NACK:
            on_feedback("nack", list(packet.lost))
        await original(packet)

    sender._handle_rtcp_packet = _handle_rtcp_packet


def observe_sender_reports(pc: Any, on_report: Callable[[int, int, int, int], None]) -> None:
    """Call ``on_report(ssrc, ntp, rtp_timestamp, packet_count)`` for every RTCP sender
    report that reaches one of ``pc``'s receivers (aiortc still handles it as usual)."""
    for t in pc.getTransceivers():
        receiver = t.receiver
        original = receiver._handle_rtcp_packet

        async def _handle_rtcp_packet(packet: Any, _orig: Callable[[Any], Any] = original) -> None:
            if isinstance(packet, artp.RtcpSrPacket):
                info = packet.sender_info
                on_report(packet.ssrc, info.ntp_timestamp, info.rtp_timestamp, info.packet_count)
            await _orig(packet)

        receiver._handle_rtcp_packet = _handle_rtcp_packet


async def send_keyframe_request(receiver: Any, media_ssrc: int, *, fir: bool = False, seq: int = 0) -> None:
    """Send a PLI (or a FIR with sequence number ``seq``) for ``media_ssrc`` from a client's
    receiver.  The FIR names ``media_ssrc`` in its header too: aiortc routes payload-specific
    feedback by that field (RFC 5104 FIRs carry 0 there and would reach no sender)."""
    if fir:
        fci = struct.pack("!LB3x", media_ssrc, seq & 0xFF)
        packet = artp.RtcpPsfbPacket(fmt=artp.RTCP_PSFB_FIR, ssrc=1, media_ssrc=media_ssrc, fci=fci)
    else:
        packet = artp.RtcpPsfbPacket(fmt=artp.RTCP_PSFB_PLI, ssrc=1, media_ssrc=media_ssrc)
    await receiver.transport._send_rtp(bytes(packet))


def tamper_outgoing(pc: Any, change: Callable[[bytes], bytes | None]) -> None:
    """Pass every plain (not yet SRTP-protected) RTP and RTCP packet ``pc`` sends through
    ``change``: its result is sent instead (None: nothing is sent)."""
    seen: set[int] = set()
    for t in pc.getTransceivers():
        dtls = t.sender.transport
        if id(dtls) in seen:
            continue
        seen.add(id(dtls))
        original = dtls._send_rtp

        async def _send_rtp(data: bytes, _orig: Callable[[bytes], Any] = original) -> None:
            changed = change(data)
            if changed is not None:
                await _orig(changed)

        dtls._send_rtp = _send_rtp
