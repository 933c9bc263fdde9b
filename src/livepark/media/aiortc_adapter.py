"""Every production use of aiortc / aioice private names lives here (tested: aiortc 1.16.0).

aiortc has no public way to get encoded media out of an ``RTCRtpReceiver`` or to put RTP
into a transport, so pass-through forwarding needs its internals.  The rest of the package
talks only to the functions below.  Sibling adapter modules: :mod:`~livepark.media.aiortc_guard`
(:func:`missing_names`, re-exported here: the names an installed aiortc/aioice/pylibsrtp
lacks; ``tests/media/test_media_adapter.py`` fails loudly on any) and
:mod:`~livepark.media.aiortc_testkit` (private names used by tests only).

What is used, and why:

Receiver (publisher leg)
  - ``RTCRtpReceiver._handle_rtp_packet`` — wrapped per instance: the SFU sees every RTP
    packet first, then aiortc's original runs once (receiver reports, NACK generation, REMB).
  - ``RTCRtpReceiver.receive`` (public) is wrapped to stop the decoder thread right after it
    is started (before any packet can be routed to it, so no decoder is ever created), via
    the name-mangled ``__stop_decoder`` / ``__decoder_thread``.
  - ``RTCRtpReceiver._handle_rtcp_packet`` — wrapped to read the publisher's sender reports.
  - ``RTCRtpReceiver._send_rtcp_pli`` — replaced per instance: aiortc's jitter buffer would
    send PLIs itself (after a 512-packet stall, or a packet 100+ positions late), bypassing
    the SFU's one-per-second throttle; they become a *wish* of the SFU's keyframe requester.
    The SFU's own PLIs call the class's method.
Sender (subscriber leg)
  - ``RTCRtpSender._ssrc`` / ``_rtx_ssrc`` / ``_stream_id`` — set before the SDP is made, so
    slot SSRCs are chosen by the SFU (identical across legs: shared serialised packets).
  - ``RTCRtpSender._handle_rtcp_packet`` — wrapped: NACK, PLI/FIR, REMB from subscribers.
  - ``RTCRtpSender._run_rtcp`` (replaced per instance before ``send()`` starts it, setting
    the mangled ``__rtcp_started`` / ``__rtcp_exited`` events ``stop()`` waits for): the SFU
    sends one compound SR+SDES per leg itself, only for slots that carried media, instead of
    one SR per transceiver.
Codecs
  - ``aiortc.codecs.CODECS`` (process-wide table) gets H.264 Main / High / Constrained High
    entries (:func:`allow_h264_profiles`): aiortc matches H.264 by profile and only lists
    the two baseline ones; pass-through needs no decoder for the others.
    ``aiortc.sdp.parse_h264_profile_level_id`` names a negotiated profile.
Transports
  - ``RTCDtlsTransport._handle_rtcp_data`` (wrapped on subscriber legs: RTCP without feedback is
    dropped unparsed), ``RTCDtlsTransport._tx_srtp`` (a ``pylibsrtp.Session``; its ``_srtp``, ``_cdata`` and
    ``_buffer``, and ``pylibsrtp._binding.lib.srtp_protect`` / ``srtp_protect_rtcp``: protect
    without the wrapper's per-call allocations), ``RTCIceTransport._connection`` (the aioice
    ``Connection``), ``Connection._nominated[1]`` (a ``CandidatePair``: ``protocol.transport``
    — its asyncio ``_sock`` when there is one — and ``remote_addr``): the lean send path.
  - ``Connection.get_component_candidates`` (wrapped per instance), ``Connection._protocols``,
    ``aioice.ice.StunProtocol`` (its ``transport`` and ``local_candidate``),
    ``aioice.ice.server_reflexive_candidate``: host candidates on configured addresses and a
    port range (aioice 0.13 binds ``(address, 0)`` only).
  - ``aiortc.rtp`` RTCP packet classes and constants.
Test support kept here (used by node-level tests too)
  - ``RTCIceTransport._recv`` (loss injection), ``Connection._protocols`` (vanishing peer).
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
import aiortc.codecs
import aiortc.rtp as artp
import aiortc.sdp
import pylibsrtp
from aiortc import RTCRtpCodecParameters, RTCRtpReceiver
from pylibsrtp import _binding as srtp_binding

from livepark.media.aiortc_guard import missing_names as missing_names

try:
    from livepark.media import _fastsend
except ImportError:  # not compiled: the Python send loop is used (see setup.py)
    _fastsend = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

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
    profiles: dict[int, str] = field(default_factory=dict)
    """H.264 payload type → profile name (see :func:`h264_profile`)."""


def h264_profile(parameters: dict[str, Any] | None) -> str | None:
    """The profile of an H.264 codec's fmtp ``profile-level-id`` as aiortc matches them
    (``constrained_baseline``, ``baseline``, ``main``, ``high``...; no level), None if unknown."""
    value = (parameters or {}).get("profile-level-id", "42e01f")  # aiortc's default too
    try:
        profile, _level = aiortc.sdp.parse_h264_profile_level_id(str(value))
    except ValueError:
        return None
    return str(profile.name).lower().removeprefix("profile_")


def _codecs(parameters: Any) -> tuple[tuple[tuple[int, str, int, int | None], ...], dict[int, str]]:
    codecs = []
    profiles: dict[int, str] = {}
    for c in parameters.codecs:
        apt = c.parameters.get("apt") if c.parameters else None
        pt, mime = int(c.payloadType), str(c.mimeType).lower()
        codecs.append((pt, mime, int(c.clockRate), apt if isinstance(apt, int) else None))
        profile = h264_profile(c.parameters) if mime == "video/h264" else None
        if profile is not None:
            profiles[pt] = profile
    return tuple(codecs), profiles


def _receive_info(parameters: Any) -> ReceiveInfo:
    codecs, profiles = _codecs(parameters)
    rtx = {}
    for enc in parameters.encodings or []:
        if getattr(enc, "rtx", None) is not None and enc.ssrc is not None:
            rtx[int(enc.rtx.ssrc)] = int(enc.ssrc)
    ext = {str(x.uri): int(x.id) for x in parameters.headerExtensions or []}
    return ReceiveInfo(parameters.muxId, codecs, rtx, ext, profiles)


def hook_receiver(
    receiver: Any,
    *,
    on_rtp: Callable[[Any], None],
    on_started: Callable[[ReceiveInfo], None],
    on_sender_report: Callable[[int, int, int], None],
    on_bye: Callable[[], None],
    on_picture_loss: Callable[[], None] = lambda: None,
) -> None:
    """Make ``receiver`` a pass-through source.

    ``on_rtp(packet)`` gets every parsed ``aiortc.rtp.RtpPacket`` (RTX not unwrapped) before
    aiortc's own handling; ``on_started`` fires when aiortc starts the receiver (DTLS up),
    right after its decoder thread has been stopped; ``on_sender_report(ssrc, ntp, rtp_ts)``.
    ``on_picture_loss()`` replaces the PLI aiortc's jitter buffer would send itself (a stall
    of 512 packets, or a packet 100+ positions late): the SFU decides, throttled, whether to
    ask the publisher (:func:`send_pli`).
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

    async def _send_rtcp_pli(media_ssrc: int) -> None:
        on_picture_loss()

    receiver._handle_rtp_packet = _handle_rtp_packet
    receiver.receive = receive
    receiver._handle_rtcp_packet = _handle_rtcp_packet
    receiver._send_rtcp_pli = _send_rtcp_pli


def stop_decoder(receiver: Any) -> None:
    """Stop a receiver's decoder thread (it has not decoded anything if no packet got in)."""
    receiver._RTCRtpReceiver__stop_decoder()


def decoder_running(receiver: Any) -> bool:
    thread = getattr(receiver, "_RTCRtpReceiver__decoder_thread", None)
    return thread is not None and thread.is_alive()


async def send_pli(receiver: Any, media_ssrc: int) -> None:
    """Send an RTCP PLI for ``media_ssrc`` through the publisher leg's receiver (the class's
    method: the instance's is the no-op of :func:`hook_receiver`)."""
    await RTCRtpReceiver._send_rtcp_pli(receiver, media_ssrc)


H264_EXTRA_PROFILES = ("4d001f", "640c1f", "64001f")
"""Main, Constrained High and High, at level 3.1 like aiortc's two baseline entries (aiortc
matches H.264 by profile only; answers carry the level of its own entry)."""


def allow_h264_profiles() -> None:
    """Let aiortc negotiate H.264 profiles it cannot encode itself (process-wide, idempotent).

    aiortc lists only (constrained) baseline, so an offer with Main or High only fails; the
    SFU never decodes, so any profile can be forwarded.  Adds an entry (and its RTX) per
    profile in :data:`H264_EXTRA_PROFILES` to ``aiortc.codecs.CODECS``, on free dynamic
    payload types.  Call before codec capabilities are read."""
    table = aiortc.codecs.CODECS["video"]
    h264 = [c for c in table if c.mimeType.lower() == "video/h264"]
    if not h264:
        return
    known = {h264_profile(c.parameters) for c in h264}
    used = {c.payloadType for codecs in aiortc.codecs.CODECS.values() for c in codecs}
    free = (pt for pt in range(96, 128) if pt not in used)
    for profile_level_id in H264_EXTRA_PROFILES:
        if h264_profile({"profile-level-id": profile_level_id}) in known:
            continue
        pt, rtx_pt = next(free, None), next(free, None)
        if pt is None or rtx_pt is None:
            log.warning("no free payload type for H.264 profile-level-id %s", profile_level_id)
            return
        base = h264[0]
        params = {**base.parameters, "profile-level-id": profile_level_id}
        table.append(
            RTCRtpCodecParameters(
                mimeType=base.mimeType,
                clockRate=base.clockRate,
                payloadType=pt,
                rtcpFeedback=list(base.rtcpFeedback),
                parameters=params,
            )
        )
        table.append(
            RTCRtpCodecParameters(
                mimeType="video/rtx", clockRate=base.clockRate, payloadType=rtx_pt, parameters={"apt": pt}
            )
        )


# ---------------------------------------------------------------------------------------------
# sender side (subscriber legs)


@dataclass(frozen=True)
class SendInfo:
    """The negotiated send parameters of a subscriber slot (plain values)."""

    mid: str | None
    codecs: tuple[tuple[int, str, int, int | None], ...]
    extensions: dict[str, int]
    profiles: dict[int, str] = field(default_factory=dict)
    """H.264 payload type → profile name (see :func:`h264_profile`)."""


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
        codecs, profiles = _codecs(parameters)
        ext = {str(x.uri): int(x.id) for x in parameters.headerExtensions or []}
        callbacks.on_started(SendInfo(parameters.muxId, codecs, ext, profiles))

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


def drop_report_only_rtcp(dtls_transport: Any, keep: Callable[[bytes], bool]) -> None:
    """Skip aiortc's parsing and routing of RTCP compounds from a subscriber leg that ``keep``
    rejects (receiver reports and SDES only: the SFU ignores them).  Idempotent per
    transport."""
    if getattr(dtls_transport, "_livepark_rtcp_filter", False):
        return
    original = dtls_transport._handle_rtcp_data

    async def _handle_rtcp_data(data: bytes) -> None:
        if keep(data):
            await original(data)

    dtls_transport._handle_rtcp_data = _handle_rtcp_data
    dtls_transport._livepark_rtcp_filter = True


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


def _connected(dtls_transport: Any) -> tuple[Any, Any] | None:
    """(outbound SRTP session, nominated ICE pair) of a connected DTLS transport, or None."""
    srtp = dtls_transport._tx_srtp
    pair = dtls_transport.transport._connection._nominated.get(1)
    if srtp is None or pair is None or pair.protocol.transport is None:
        return None
    return srtp, pair


def send_path(dtls_transport: Any, *, rtcp: bool = False) -> SendPath | None:
    """(SRTP protect, sendto, remote address) of a connected DTLS transport, or None."""
    connected = _connected(dtls_transport)
    if connected is None:
        return None
    srtp, pair = connected
    return fast_protect(srtp, rtcp=rtcp), _sendto(pair.protocol.transport), pair.remote_addr


FAST_FANOUT: Callable[[bytes, list[Any]], tuple[int, int, list[tuple[Any, str]] | None]] | None = (
    _fastsend.fanout if _fastsend is not None else None
)
"""The C send loop (``livepark.media._fastsend.fanout``), or None when it is not built."""

_SRTP_PROTECT_ADDRESS = int(
    srtp_binding.ffi.cast("uintptr_t", srtp_binding.ffi.addressof(srtp_binding.lib, "srtp_protect"))
)
"""libsrtp's ``srtp_protect`` inside pylibsrtp's module, which the C loop calls directly."""


def fast_sink(dtls_transport: Any) -> Any | None:
    """A :class:`livepark.media._fastsend.Sink` for a connected DTLS transport: the same
    SRTP session and nominated ICE socket as :func:`send_path`, used from C.  None when the
    extension is not built or the transport has no usable socket (callers then use
    :func:`send_path` alone)."""
    connected = _connected(dtls_transport) if _fastsend is not None else None
    if connected is None:
        return None
    srtp, pair = connected
    transport = pair.protocol.transport
    sock = transport.get_extra_info("socket")
    if sock is None:
        return None
    try:
        return _fastsend.Sink(
            int(srtp_binding.ffi.cast("uintptr_t", srtp._srtp[0])),
            _SRTP_PROTECT_ADDRESS,
            sock.fileno(),
            str(pair.remote_addr[0]),
            int(pair.remote_addr[1]),
            transport,
            srtp,
        )
    except (ValueError, OSError) as exc:  # e.g. a scoped IPv6 address: use the Python path
        log.info("no C send path for %s: %s", pair.remote_addr, exc)
        return None


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
# test support (network faults on *client* peers; more in aiortc_testkit)


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
