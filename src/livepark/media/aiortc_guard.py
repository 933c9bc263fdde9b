"""The guard: every non-public aiortc / aioice / pylibsrtp name the adapter modules rely on.

:mod:`livepark.media.aiortc_adapter` (production) and :mod:`livepark.media.aiortc_testkit`
(tests) use internals of the installed versions (tested: aiortc 1.16.0, aioice 0.13.0,
pylibsrtp 1.0.0; ``pyproject.toml`` pins these ranges).  :func:`missing_names` checks that
each of them still exists — class and module attributes, attributes set on instances, the
attributes aioice only declares, and the caller locals the codec spies read — so that an
upgrade fails loudly (``tests/media/test_media_adapter.py``; the SFU refuses to start)
instead of misbehaving quietly.  Objects are looked up when the check runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Callable
from typing import Any

import aioice
import aioice.candidate
import aioice.ice
import aiortc
import aiortc.codecs
import aiortc.rtcrtpreceiver
import aiortc.rtcrtpsender
import aiortc.rtp
import aiortc.sdp
import pylibsrtp
from pylibsrtp import _binding as srtp_binding

_STATIC: dict[str, tuple[Callable[[], Any], tuple[str, ...]]] = {
    "aiortc.RTCRtpReceiver": (
        lambda: aiortc.RTCRtpReceiver,
        (
            "_handle_rtp_packet",
            "_handle_rtcp_packet",
            "_send_rtcp_pli",
            "receive",
            "_RTCRtpReceiver__stop_decoder",
        ),
    ),
    "aiortc.RTCRtpSender": (lambda: aiortc.RTCRtpSender, ("_handle_rtcp_packet", "send")),
    "aiortc.RTCDtlsTransport": (lambda: aiortc.RTCDtlsTransport, ("_send_rtp", "_handle_rtcp_data")),
    "aioice.Connection": (lambda: aioice.Connection, ("get_component_candidates", "gather_candidates")),
    "aioice.ice.CandidatePair": (lambda: aioice.ice.CandidatePair, ("remote_addr",)),
    "aiortc.rtp": (
        lambda: aiortc.rtp,
        (
            "RtcpSrPacket",
            "RtcpByePacket",
            "RtcpRrPacket",
            "RtcpPsfbPacket",
            "RtcpRtpfbPacket",
            "RTCP_PSFB_PLI",
            "RTCP_PSFB_FIR",
            "RTCP_PSFB_APP",
            "RTCP_RTPFB_NACK",
            "unpack_remb_fci",
        ),
    ),
    "aioice.ice": (lambda: aioice.ice, ("StunProtocol", "CandidatePair", "server_reflexive_candidate")),
    "aioice.candidate": (lambda: aioice.candidate, ("candidate_foundation", "candidate_priority")),
    "aiortc.rtcrtpreceiver": (
        lambda: aiortc.rtcrtpreceiver,
        ("get_decoder", "decoder_worker", "RemoteStreamTrack"),
    ),
    "aiortc.rtcrtpsender": (lambda: aiortc.rtcrtpsender, ("get_encoder",)),
    "aiortc.codecs": (lambda: aiortc.codecs, ("CODECS",)),
    "aiortc.sdp": (lambda: aiortc.sdp, ("parse_h264_profile_level_id",)),
    "pylibsrtp._binding.lib": (
        lambda: srtp_binding.lib,
        ("srtp_protect", "srtp_protect_rtcp", "srtp_err_status_ok"),
    ),
    "pylibsrtp._binding": (lambda: srtp_binding, ("ffi",)),
}
_RECEIVER_INSTANCE = ("_RTCRtpReceiver__decoder_thread", "_RTCRtpReceiver__decoder_queue", "_track")
_SENDER_INSTANCE = (
    "_ssrc",
    "_rtx_ssrc",
    "_stream_id",
    "_run_rtcp",
    "_RTCRtpSender__rtcp_started",
    "_RTCRtpSender__rtcp_exited",
)
_REMOTE_TRACK_INSTANCE = ("_queue",)
_SRTP_SESSION_INSTANCE = ("_srtp", "_cdata", "_buffer")
_DTLS_INSTANCE = ("_tx_srtp",)
_ICE_INSTANCE = ("_connection", "_recv")
_CONNECTION_INSTANCE = ("_nominated", "_protocols", "stun_server", "turn_server")
_CANDIDATE_PAIR_INSTANCE = ("protocol",)
_STUN_PROTOCOL_DECLARED = ("transport", "local_candidate")
"""Set on instances by asyncio (``connection_made``) / by aioice's gathering: only declared."""
_CALLER_LOCALS: dict[str, tuple[Callable[[], list[Callable[..., Any]]], str]] = {
    "aiortc.rtcrtpreceiver.decoder_worker(output_q)": (
        lambda: [aiortc.rtcrtpreceiver.decoder_worker],
        "output_q",
    ),
    "aiortc.RTCRtpSender method calling get_encoder(self)": (
        lambda: _callers_of(aiortc.RTCRtpSender, "get_encoder"),
        "self",
    ),
}
"""Locals of the functions that call ``get_decoder`` / ``get_encoder``, read by the spies."""


def guarded_attributes() -> set[str]:
    """The bare attribute names :func:`missing_names` checks (to compare with what the
    adapter modules use)."""
    names: set[str] = set()
    for _get, attrs in _STATIC.values():
        names.update(attrs)
    for group in (
        _RECEIVER_INSTANCE,
        _SENDER_INSTANCE,
        _REMOTE_TRACK_INSTANCE,
        _SRTP_SESSION_INSTANCE,
        _DTLS_INSTANCE,
        _ICE_INSTANCE,
        _CONNECTION_INSTANCE,
        _CANDIDATE_PAIR_INSTANCE,
        _STUN_PROTOCOL_DECLARED,
    ):
        names.update(group)
    return names


def _callers_of(cls: type, name: str) -> list[Callable[..., Any]]:
    return [f for f in vars(cls).values() if inspect.isfunction(f) and name in f.__code__.co_names]


def _lacking(where: str, obj: Any, names: tuple[str, ...]) -> list[str]:
    return [f"{where}.{n}" for n in names if not hasattr(obj, n)]


def missing_names() -> list[str]:
    """Names the adapter modules need that the installed aiortc/aioice/pylibsrtp lack
    ([] = fine).

    Instance attributes are checked on a throw-away peer connection, so this must run with an
    event loop running (aiortc's constructors ask for it).
    """
    missing: list[str] = []
    for where, (get, names) in _STATIC.items():
        missing += _lacking(where, get(), names)
    for where, (get_functions, local) in _CALLER_LOCALS.items():
        functions = get_functions()
        if not functions or any(local not in inspect.signature(f).parameters for f in functions):
            missing.append(where)
    declared = getattr(aioice.ice, "StunProtocol", None)
    hints = getattr(declared, "__annotations__", {})
    missing += [f"aioice.ice.StunProtocol.{n} (declared)" for n in _STUN_PROTOCOL_DECLARED if n not in hints]
    pair_cls = getattr(aioice.ice, "CandidatePair", None)
    if pair_cls is not None:
        with contextlib.suppress(Exception):
            pair = pair_cls(None, None)
            missing += _lacking("aioice.ice.CandidatePair()", pair, _CANDIDATE_PAIR_INSTANCE)
    track_cls = getattr(aiortc.rtcrtpreceiver, "RemoteStreamTrack", None)
    if track_cls is not None:
        missing += _lacking("RemoteStreamTrack()", track_cls(kind="audio"), _REMOTE_TRACK_INSTANCE)
    pc = aiortc.RTCPeerConnection(aiortc.RTCConfiguration(iceServers=[]))
    try:
        t = pc.addTransceiver("audio", direction="sendonly")
        missing += _lacking("RTCRtpReceiver()", t.receiver, _RECEIVER_INSTANCE)
        missing += _lacking("RTCRtpSender()", t.sender, _SENDER_INSTANCE)
        dtls = t.sender.transport
        missing += _lacking("RTCDtlsTransport()", dtls, _DTLS_INSTANCE)
        ice = dtls.transport
        missing += _lacking("RTCIceTransport()", ice, _ICE_INSTANCE)
        conn = getattr(ice, "_connection", None)
        if conn is not None:
            missing += _lacking("aioice.Connection()", conn, _CONNECTION_INSTANCE)
        policy = pylibsrtp.Policy(
            key=bytes(30),
            ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND,
            srtp_profile=pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
        )
        session = pylibsrtp.Session(policy)
        missing += _lacking("pylibsrtp.Session()", session, _SRTP_SESSION_INSTANCE)
    finally:
        with contextlib.suppress(RuntimeError):
            asyncio.get_running_loop().create_task(pc.close())
    return missing
