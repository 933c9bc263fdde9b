"""Every use of aiortc / aioice private names lives here (tested range: aiortc 1.14-1.16).

aiortc has no public way to get encoded media out of an ``RTCRtpReceiver`` or to put RTP
into a transport, so pass-through forwarding needs its internals.  The rest of the package
talks only to the functions below.  :func:`missing_names` lists the private names an
installed aiortc lacks; ``tests/media/test_aiortc_adapter.py`` fails loudly on any.

What is used, and why:

Receiver (publisher leg)
  - ``RTCRtpReceiver._handle_rtp_packet`` — wrapped per instance: the SFU sees every RTP
    packet first, then aiortc's original runs once (receiver reports, NACK generation, REMB).
  - ``RTCRtpReceiver.receive`` (public) is wrapped to stop the decoder thread right after it
    is started (before any packet can be routed to it, so no decoder is ever created), via
    the name-mangled ``__stop_decoder`` / ``__decoder_thread``.
  - ``RTCRtpReceiver._handle_rtcp_packet`` — wrapped to read the publisher's sender reports.
  - ``RTCRtpReceiver._send_rtcp_pli`` — PLI to the publisher.
Sender (subscriber leg)
  - ``RTCRtpSender._ssrc`` / ``_rtx_ssrc`` / ``_stream_id`` — set before the SDP is made, so
    slot SSRCs are chosen by the SFU (identical across legs: shared serialised packets).
  - ``RTCRtpSender._handle_rtcp_packet`` — wrapped: NACK, PLI/FIR, REMB from subscribers.
  - ``RTCRtpSender._run_rtcp`` (replaced per instance before ``send()`` starts it, setting
    the mangled ``__rtcp_started`` / ``__rtcp_exited`` events ``stop()`` waits for): the SFU
    sends one compound SR+SDES per leg itself, only for slots that carried media, instead of
    one SR per transceiver.
Transports
  - ``RTCDtlsTransport._tx_srtp`` (a ``pylibsrtp.Session``; its ``_srtp``, ``_cdata`` and
    ``_buffer``, and ``pylibsrtp._binding.lib.srtp_protect``: protect without the wrapper's
    per-call allocations), ``RTCIceTransport._connection`` (the aioice ``Connection``),
    ``Connection._nominated[1]`` (``protocol.transport`` — its asyncio ``_sock`` when there
    is one — and ``remote_addr``): the lean send path.
  - ``Connection.get_component_candidates`` (wrapped per instance), ``Connection._protocols``,
    ``aioice.ice.StunProtocol``, ``aioice.ice.server_reflexive_candidate``: host candidates on
    configured addresses and a port range (aioice 0.13 binds ``(address, 0)`` only).
  - ``aiortc.rtp`` RTCP packet classes and constants.
Tests only
  - ``RTCIceTransport._recv`` (loss injection), ``Connection._protocols`` (vanishing peer),
    ``aiortc.rtcrtpreceiver.get_decoder`` / ``aiortc.rtcrtpsender.get_encoder`` (spies).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import socket
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import aioice
import aioice.candidate
import aioice.ice
import aiortc
import aiortc.rtcrtpreceiver
import aiortc.rtcrtpsender
import aiortc.rtp as artp
import pylibsrtp
from aiortc import RTCRtpReceiver, RTCRtpSender
from pylibsrtp import _binding as srtp_binding

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------
# the guard

_CLASS_ATTRS: dict[str, tuple[Any, tuple[str, ...]]] = {
    "aiortc.RTCRtpReceiver": (
        RTCRtpReceiver,
        (
            "_handle_rtp_packet",
            "_handle_rtcp_packet",
            "_send_rtcp_pli",
            "receive",
            "_RTCRtpReceiver__stop_decoder",
        ),
    ),
    "aiortc.RTCRtpSender": (RTCRtpSender, ("_handle_rtcp_packet", "send")),
    "aiortc.RTCDtlsTransport": (aiortc.RTCDtlsTransport, ("_send_rtp",)),
    "aioice.Connection": (aioice.Connection, ("get_component_candidates", "gather_candidates")),
    "aioice.ice.CandidatePair": (aioice.ice.CandidatePair, ("remote_addr",)),
}
_MODULE_ATTRS: dict[str, tuple[Any, tuple[str, ...]]] = {
    "aiortc.rtp": (
        artp,
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
    "aioice.ice": (aioice.ice, ("StunProtocol", "server_reflexive_candidate")),
    "aioice.candidate": (aioice.candidate, ("candidate_foundation", "candidate_priority")),
    "aiortc.rtcrtpreceiver": (aiortc.rtcrtpreceiver, ("get_decoder", "decoder_worker")),
    "aiortc.rtcrtpsender": (aiortc.rtcrtpsender, ("get_encoder",)),
    "pylibsrtp._binding.lib": (srtp_binding.lib, ("srtp_protect", "srtp_err_status_ok")),
    "pylibsrtp._binding": (srtp_binding, ("ffi",)),
}
_RECEIVER_INSTANCE = ("_RTCRtpReceiver__decoder_thread", "_RTCRtpReceiver__decoder_queue")
_SENDER_INSTANCE = (
    "_ssrc",
    "_rtx_ssrc",
    "_stream_id",
    "_run_rtcp",
    "_RTCRtpSender__rtcp_started",
    "_RTCRtpSender__rtcp_exited",
)
_SRTP_SESSION_INSTANCE = ("_srtp", "_cdata", "_buffer")
_DTLS_INSTANCE = ("_tx_srtp",)
_ICE_INSTANCE = ("_connection", "_recv")
_CONNECTION_INSTANCE = ("_nominated", "_protocols", "stun_server", "turn_server")


def missing_names() -> list[str]:
    """Private names this module needs that the installed aiortc/aioice lack ([] = fine).

    Instance attributes are checked on a throw-away peer connection, so this must run with an
    event loop running (aiortc's constructors ask for it).
    """
    missing: list[str] = []
    for where, (obj, names) in {**_CLASS_ATTRS, **_MODULE_ATTRS}.items():
        missing += [f"{where}.{n}" for n in names if not hasattr(obj, n)]
    pc = aiortc.RTCPeerConnection(aiortc.RTCConfiguration(iceServers=[]))
    try:
        t = pc.addTransceiver("audio", direction="sendonly")
        missing += [f"RTCRtpReceiver().{n}" for n in _RECEIVER_INSTANCE if not hasattr(t.receiver, n)]
        missing += [f"RTCRtpSender().{n}" for n in _SENDER_INSTANCE if not hasattr(t.sender, n)]
        dtls = t.sender.transport
        missing += [f"RTCDtlsTransport().{n}" for n in _DTLS_INSTANCE if not hasattr(dtls, n)]
        ice = dtls.transport
        missing += [f"RTCIceTransport().{n}" for n in _ICE_INSTANCE if not hasattr(ice, n)]
        conn = getattr(ice, "_connection", None)
        if conn is not None:
            missing += [f"aioice.Connection().{n}" for n in _CONNECTION_INSTANCE if not hasattr(conn, n)]
        policy = pylibsrtp.Policy(
            key=bytes(30),
            ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND,
            srtp_profile=pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
        )
        session = pylibsrtp.Session(policy)
        missing += [f"pylibsrtp.Session().{n}" for n in _SRTP_SESSION_INSTANCE if not hasattr(session, n)]
    finally:
        _close_soon(pc)
    return missing


def _close_soon(pc: Any) -> None:
    with contextlib.suppress(RuntimeError):
        asyncio.get_running_loop().create_task(pc.close())


# ---------------------------------------------------------------------------------------------
# receiver side (publisher legs)


@dataclass(frozen=True)
class ReceiveInfo:
    """The negotiated receive parameters of a publisher's transceiver (plain values)."""

    mid: str | None
    codecs: tuple[tuple[int, str, int, int | None], ...]
    """(payload type, lower-case mime, clock rate, apt for RTX)."""
    rtx_ssrcs: dict[int, int] = field(default_factory=dict)
    """RTX SSRC → media SSRC, when signalled."""
    extensions: dict[str, int] = field(default_factory=dict)


def _receive_info(parameters: Any) -> ReceiveInfo:
    codecs = []
    for c in parameters.codecs:
        apt = c.parameters.get("apt") if c.parameters else None
        codecs.append(
            (
                int(c.payloadType),
                str(c.mimeType).lower(),
                int(c.clockRate),
                apt if isinstance(apt, int) else None,
            )
        )
    rtx = {}
    for enc in parameters.encodings or []:
        if getattr(enc, "rtx", None) is not None and enc.ssrc is not None:
            rtx[int(enc.rtx.ssrc)] = int(enc.ssrc)
    ext = {str(x.uri): int(x.id) for x in parameters.headerExtensions or []}
    return ReceiveInfo(parameters.muxId, tuple(codecs), rtx, ext)


def hook_receiver(
    receiver: Any,
    *,
    on_rtp: Callable[[Any], None],
    on_started: Callable[[ReceiveInfo], None],
    on_sender_report: Callable[[int, int, int], None],
    on_bye: Callable[[], None],
) -> None:
    """Make ``receiver`` a pass-through source.

    ``on_rtp(packet)`` gets every parsed ``aiortc.rtp.RtpPacket`` (RTX not unwrapped) before
    aiortc's own handling; ``on_started`` fires when aiortc starts the receiver (DTLS up),
    right after its decoder thread has been stopped; ``on_sender_report(ssrc, ntp, rtp_ts)``.
    """
    original_rtp = receiver._handle_rtp_packet
    original_receive = receiver.receive
    original_rtcp = receiver._handle_rtcp_packet

    async def _handle_rtp_packet(packet: Any, arrival_time_ms: int) -> None:
        try:
            on_rtp(packet)
        except Exception:
            log.exception("forwarding failed")
        await original_rtp(packet, arrival_time_ms)

    async def receive(parameters: Any) -> None:
        await original_receive(parameters)
        stop_decoder(receiver)
        on_started(_receive_info(parameters))

    async def _handle_rtcp_packet(packet: Any) -> None:
        if isinstance(packet, artp.RtcpSrPacket):
            info = packet.sender_info
            on_sender_report(packet.ssrc, info.ntp_timestamp, info.rtp_timestamp)
        elif isinstance(packet, artp.RtcpByePacket):
            on_bye()
        await original_rtcp(packet)

    receiver._handle_rtp_packet = _handle_rtp_packet
    receiver.receive = receive
    receiver._handle_rtcp_packet = _handle_rtcp_packet


def stop_decoder(receiver: Any) -> None:
    """Stop a receiver's decoder thread (it has not decoded anything if no packet got in)."""
    receiver._RTCRtpReceiver__stop_decoder()


def decoder_running(receiver: Any) -> bool:
    thread = getattr(receiver, "_RTCRtpReceiver__decoder_thread", None)
    return thread is not None and thread.is_alive()


async def send_pli(receiver: Any, media_ssrc: int) -> None:
    """Send an RTCP PLI for ``media_ssrc`` through the publisher leg's receiver."""
    await receiver._send_rtcp_pli(media_ssrc)


# ---------------------------------------------------------------------------------------------
# sender side (subscriber legs)


@dataclass(frozen=True)
class SendInfo:
    """The negotiated send parameters of a subscriber slot (plain values)."""

    mid: str | None
    codecs: tuple[tuple[int, str, int, int | None], ...]
    extensions: dict[str, int]


@dataclass
class SenderCallbacks:
    on_started: Callable[[SendInfo], None]
    on_nack: Callable[[list[int]], None]
    on_keyframe_request: Callable[[], None]
    on_remb: Callable[[int], None] = lambda bitrate: None


def prepare_sender(sender: Any, *, ssrc: int, rtx_ssrc: int, stream_id: str) -> None:
    """Choose a sender's SSRCs and msid stream id (call before the SDP is created)."""
    sender._ssrc = ssrc
    sender._rtx_ssrc = rtx_ssrc
    sender._stream_id = stream_id


def hook_sender(sender: Any, callbacks: SenderCallbacks) -> None:
    original_send = sender.send
    original_rtcp = sender._handle_rtcp_packet

    async def send(parameters: Any) -> None:
        await original_send(parameters)
        codecs = []
        for c in parameters.codecs:
            apt = c.parameters.get("apt") if c.parameters else None
            codecs.append(
                (
                    int(c.payloadType),
                    str(c.mimeType).lower(),
                    int(c.clockRate),
                    apt if isinstance(apt, int) else None,
                )
            )
        ext = {str(x.uri): int(x.id) for x in parameters.headerExtensions or []}
        callbacks.on_started(SendInfo(parameters.muxId, tuple(codecs), ext))

    async def _handle_rtcp_packet(packet: Any) -> None:
        if isinstance(packet, artp.RtcpRtpfbPacket) and packet.fmt == artp.RTCP_RTPFB_NACK:
            callbacks.on_nack(list(packet.lost))
            return
        if isinstance(packet, artp.RtcpPsfbPacket):
            if packet.fmt in (artp.RTCP_PSFB_PLI, artp.RTCP_PSFB_FIR):
                callbacks.on_keyframe_request()
                return
            if packet.fmt == artp.RTCP_PSFB_APP:
                with contextlib.suppress(ValueError):
                    bitrate, _ssrcs = artp.unpack_remb_fci(packet.fci)
                    callbacks.on_remb(bitrate)
                return
        if isinstance(packet, (artp.RtcpRrPacket, artp.RtcpSrPacket)):
            return  # receiver reports: aiortc's statistics are not used by the SFU
        await original_rtcp(packet)

    sender.send = send
    sender._handle_rtcp_packet = _handle_rtcp_packet


def take_over_sender_rtcp(sender: Any) -> None:
    """Stop aiortc from sending its own RTCP SR/SDES/BYE for ``sender`` (call before
    ``send()``): the SFU reports for the whole leg in one compound packet instead."""
    started = sender._RTCRtpSender__rtcp_started
    exited = sender._RTCRtpSender__rtcp_exited

    async def _run_rtcp() -> None:
        started.set()
        try:
            await asyncio.get_running_loop().create_future()
        except asyncio.CancelledError:
            pass
        exited.set()

    sender._run_rtcp = _run_rtcp


SendPath = tuple[Callable[[bytes], bytes], Callable[[bytes, Any], None], Any]


def fast_protect(session: Any, rtcp: bool = False) -> Callable[[bytes], bytes]:
    """``session.protect`` (or ``protect_rtcp``) without pylibsrtp's per-call overhead."""
    lib, ffi = srtp_binding.lib, srtp_binding.ffi
    fn = lib.srtp_protect_rtcp if rtcp else lib.srtp_protect
    srtp, cdata, buf = session._srtp[0], session._cdata, session._buffer
    len_p = ffi.new("int *")
    ok = lib.srtp_err_status_ok
    cap = len(buf) - 148

    def protect(data: bytes, _keep: Any = session) -> bytes:
        n = len(data)
        if n > cap:
            raise ValueError("packet is too long")
        buf[0:n] = data
        len_p[0] = n
        rc = fn(srtp, cdata, len_p)
        if rc != ok:
            raise pylibsrtp.Error(f"srtp error {rc}")
        return bytes(buf[0 : len_p[0]])

    return protect


def _sendto(transport: Any) -> Callable[[bytes, Any], None]:
    # asyncio's selector transport wraps socket.sendto with checks and a write buffer;
    # UDP needs neither (EAGAIN = a dropped datagram, raised as BlockingIOError).
    sock = getattr(transport, "_sock", None)
    if isinstance(sock, socket.socket):
        return sock.sendto  # type: ignore[return-value]
    return transport.sendto  # type: ignore[no-any-return]


def send_path(dtls_transport: Any, *, rtcp: bool = False) -> SendPath | None:
    """(SRTP protect, sendto, remote address) of a connected DTLS transport, or None."""
    srtp = dtls_transport._tx_srtp
    conn = dtls_transport.transport._connection
    pair = conn._nominated.get(1)
    if srtp is None or pair is None or pair.protocol.transport is None:
        return None
    return fast_protect(srtp, rtcp=rtcp), _sendto(pair.protocol.transport), pair.remote_addr


# ---------------------------------------------------------------------------------------------
# ICE gathering


class PortsExhausted(OSError):
    """No free UDP port in the configured range."""


@dataclass
class PortRange:
    """An inclusive UDP port range, handed out round robin (shared by all legs)."""

    low: int
    high: int
    _cursor: Iterator[int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not (0 < self.low <= self.high <= 65535):
            raise ValueError(f"bad UDP port range {self.low}-{self.high}")
        self._cursor = itertools.cycle(range(self.low, self.high + 1))

    def candidates(self) -> Iterator[int]:
        for _ in range(self.high - self.low + 1):
            yield next(self._cursor)


def _ice_connections(pc: Any) -> list[Any]:
    seen: dict[int, Any] = {}
    for t in pc.getTransceivers():
        conn = t.receiver.transport.transport._connection
        seen[id(conn)] = conn
    return list(seen.values())


def configure_gathering(pc: Any, host_addresses: Sequence[str], ports: PortRange | None) -> None:
    """Gather host candidates only on ``host_addresses`` (all non-loopback ones if empty), with
    ports from ``ports`` (ephemeral if None).  Call after the transceivers exist and before
    ``setLocalDescription``.  STUN (srflx) and TURN (relay) still work as configured."""
    if not host_addresses and ports is None:
        return
    fixed = list(host_addresses)
    for conn in _ice_connections(pc):
        original = conn.get_component_candidates

        async def get_component_candidates(
            component: int,
            addresses: list[str],
            timeout: int = 5,
            _conn: Any = conn,
            _orig: Callable[..., Awaitable[list[Any]]] = original,
        ) -> list[Any]:
            wanted = fixed or addresses
            if ports is None:
                return await _orig(component=component, addresses=wanted, timeout=timeout)
            return await _gather_in_range(_conn, _orig, component, wanted, ports, timeout)

        conn.get_component_candidates = get_component_candidates


async def _gather_in_range(
    conn: Any,
    original: Callable[..., Awaitable[list[Any]]],
    component: int,
    addresses: list[str],
    ports: PortRange,
    timeout: int,
) -> list[Any]:
    loop = asyncio.get_running_loop()
    candidates: list[Any] = []
    host_protocols: list[Any] = []
    for address in addresses:
        protocol = None
        for port in ports.candidates():
            try:
                transport, protocol = await loop.create_datagram_endpoint(
                    lambda: aioice.ice.StunProtocol(conn), local_addr=(address, port)
                )
            except OSError:
                protocol = None
                continue
            sock = transport.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024 * 1024)
            break
        if protocol is None:
            raise PortsExhausted(f"no free UDP port in {ports.low}-{ports.high} on {address}")
        host, port_ = protocol.transport.get_extra_info("sockname")[:2]
        protocol.local_candidate = aioice.Candidate(
            foundation=aioice.candidate.candidate_foundation("host", "udp", host),
            component=component,
            transport="udp",
            priority=aioice.candidate.candidate_priority(component, "host"),
            host=host,
            port=port_,
            type="host",
        )
        candidates.append(protocol.local_candidate)
        host_protocols.append(protocol)
    conn._protocols += host_protocols
    if conn.stun_server:
        tasks = [
            asyncio.create_task(aioice.ice.server_reflexive_candidate(p, conn.stun_server))
            for p in host_protocols
            if ":" not in p.local_candidate.host
        ]
        if tasks:
            done, pending = await asyncio.wait(tasks, timeout=timeout)
            for task in done:
                if task.exception() is None:
                    candidates.append(task.result()[0])
            for task in pending:
                task.cancel()
    if conn.turn_server:
        candidates += await original(component=component, addresses=[], timeout=timeout)
    return candidates


# ---------------------------------------------------------------------------------------------
# test support (network faults on *client* peers, decoder/encoder spies)


def drop_incoming(pc: Any, should_drop: Callable[[bytes], bool]) -> None:
    """Drop datagrams arriving at ``pc`` for which ``should_drop(data)`` is true."""
    for t in pc.getTransceivers():
        ice = t.receiver.transport.transport
        if getattr(ice, "_livepark_dropper", False):
            continue
        original = ice._recv

        async def _recv(_orig: Callable[[], Awaitable[bytes]] = original) -> bytes:
            while True:
                data = await _orig()
                if not should_drop(data):
                    return data

        ice._recv = _recv
        ice._livepark_dropper = True


def vanish(pc: Any) -> None:
    """Close ``pc``'s UDP sockets abruptly: no DTLS close_notify, no RTCP BYE reaches the
    other side — like a phone losing its network."""
    for conn in _ice_connections(pc):
        for protocol in list(conn._protocols):
            if protocol.transport is not None:
                protocol.transport.close()


@contextlib.contextmanager
def spy_codecs(on_decoder: Callable[[Any], None], on_encoder: Callable[[Any], None]) -> Iterator[None]:
    """Call ``on_decoder(output_queue)`` / ``on_encoder(sender)`` whenever aiortc creates a
    decoder (in a receiver's decoder thread) or an encoder (in a sender)."""
    import sys

    rr, rs = aiortc.rtcrtpreceiver, aiortc.rtcrtpsender
    real_get_decoder, real_get_encoder = rr.get_decoder, rs.get_encoder  # type: ignore[attr-defined]

    def get_decoder(codec: Any) -> Any:
        frame = sys._getframe(1)
        on_decoder(frame.f_locals.get("output_q"))
        return real_get_decoder(codec)

    def get_encoder(codec: Any) -> Any:
        frame = sys._getframe(1)
        on_encoder(frame.f_locals.get("self"))
        return real_get_encoder(codec)

    setattr(rr, "get_decoder", get_decoder)  # noqa: B010
    setattr(rs, "get_encoder", get_encoder)  # noqa: B010
    try:
        yield
    finally:
        setattr(rr, "get_decoder", real_get_decoder)  # noqa: B010
        setattr(rs, "get_encoder", real_get_encoder)  # noqa: B010


def receiver_track_queue(receiver: Any) -> Any:
    """The asyncio queue a receiver's decoder thread would feed (for :func:`spy_codecs`)."""
    track = receiver._track
    return None if track is None else track._queue
