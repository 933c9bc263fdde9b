"""Real aiortc client peers for the media tests (they encode / decode; the SFU must not)."""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import math
import re
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError
from av import AudioFrame, VideoFrame

from helpers.looplag import LoopLag
from livepark.media import aiortc_adapter as adapter
from livepark.media import aiortc_testkit as testkit
from livepark.media.config import MediaConfig
from livepark.media.events import MediaEvent, SlotsChanged
from livepark.media.sfu import Sfu

TEST_CONFIG = MediaConfig(
    host_addresses=("127.0.0.1",),
    answer_timeout=5.0,
    connect_timeout=5.0,
    publisher_timeout=5.0,  # a stalled shared CI loop must not look like a vanished publisher
    tick_interval=0.02,
    last_n_hold=0.3,
)


def config(**kw: Any) -> MediaConfig:
    return replace(TEST_CONFIG, **kw)


class SfuClock:
    """The SFU's clock (``time.monotonic``) remembering the last value it handed out.

    The SFU reads its clock once at the top of each callback or tick and decides with that
    ``now``; so in an event handler, or in a spy on something the SFU calls, :attr:`last` is
    the time the SFU itself acted at — free of the client-side receive jitter of a busy loop."""

    def __init__(self) -> None:
        self.last = time.monotonic()

    def __call__(self) -> float:
        self.last = time.monotonic()
        return self.last


@dataclass
class Env:
    sfu: Sfu
    clock: SfuClock = field(default_factory=SfuClock)
    """The clock ``sfu`` was built with (``Sfu(clock=env.clock)``)."""
    lag: LoopLag = field(default_factory=LoopLag)
    """Running for the whole test (the ``env`` fixture enters it)."""
    events: list[MediaEvent] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    """The SFU's clock when it emitted each event (:attr:`SfuClock.last`)."""

    def record(self, event: MediaEvent) -> None:
        self.events.append(event)
        self.times.append(self.clock.last)

    def of(self, cls: type[Any]) -> list[Any]:
        return [e for e in self.events if isinstance(e, cls)]

    def timed(self, cls: type[Any]) -> list[tuple[float, Any]]:
        return [(t, e) for t, e in zip(self.times, self.events, strict=True) if isinstance(e, cls)]

    def slots_of(self, subscriber: str) -> dict[str, str | None]:
        got = [e for e in self.of(SlotsChanged) if e.subscriber_id == subscriber]
        return dict(got[-1].slots) if got else {}


SAMPLE_RATE = 48000
SAMPLES = 960  # 20 ms


def _tone(amplitude: float) -> bytes:
    # 1 kHz: exactly 20 periods in 20 ms, so every frame is the same buffer
    return b"".join(
        struct.pack("<h", int(amplitude * 32767 * math.sin(2 * math.pi * 1000 * i / SAMPLE_RATE)))
        for i in range(SAMPLES)
    )


class ToneTrack(MediaStreamTrack):
    """A 1 kHz tone whose loudness can be changed (0 = digital silence)."""

    kind = "audio"

    def __init__(self, amplitude: float = 0.5) -> None:
        super().__init__()
        self._buffers: dict[float, bytes] = {}
        self.amplitude = amplitude
        self._start: float | None = None
        self._pts = 0

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.time()
        else:
            self._pts += SAMPLES
            await asyncio.sleep(max(0.0, self._start + self._pts / SAMPLE_RATE - time.time()))
        amp = round(self.amplitude, 3)
        buf = self._buffers.get(amp)
        if buf is None:
            buf = self._buffers[amp] = _tone(amp)
        frame = AudioFrame(format="s16", layout="mono", samples=SAMPLES)
        frame.planes[0].update(buf)
        frame.pts = self._pts
        frame.sample_rate = SAMPLE_RATE
        frame.time_base = fractions.Fraction(1, SAMPLE_RATE)
        return frame


class PatternTrack(MediaStreamTrack):
    """Small moving-gradient video (160x120, 30 fps)."""

    kind = "video"

    def __init__(self, width: int = 160, height: int = 120, fps: int = 30) -> None:
        super().__init__()
        self.width, self.height, self.fps = width, height, fps
        self._start: float | None = None
        self._n = 0

    async def recv(self) -> VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.time()
        else:
            self._n += 1
            await asyncio.sleep(max(0.0, self._start + self._n / self.fps - time.time()))
        frame = VideoFrame(width=self.width, height=self.height, format="yuv420p")
        for i, plane in enumerate(frame.planes):
            rows = plane.buffer_size // plane.line_size
            if i == 0:
                row = bytes(((x * 2 + self._n * 4) & 0xFF) for x in range(plane.line_size))
            else:
                row = bytes([128]) * plane.line_size
            plane.update(row * rows)
        frame.pts = self._n * (90000 // self.fps)
        frame.time_base = fractions.Fraction(1, 90000)
        return frame


def _pc() -> RTCPeerConnection:
    return RTCPeerConnection(RTCConfiguration(iceServers=[]))


async def wait_connected(pc: RTCPeerConnection, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while pc.connectionState != "connected":
        if time.monotonic() > deadline:
            raise TimeoutError(f"peer connection stuck in {pc.connectionState}")
        await asyncio.sleep(0.02)


@dataclass
class Publisher:
    user: str
    pc: RTCPeerConnection
    tone: ToneTrack | None
    video: PatternTrack | None
    feedback: list[tuple[float, str, list[int]]] = field(default_factory=list)
    """(arrival time, "pli" | "fir" | "nack", lost seqs) of RTCP feedback reaching the client."""
    video_ssrc: int | None = None
    """The SSRC the client sends video on (from its offer)."""

    def plis(self, since: float = 0.0) -> list[float]:
        return [t for t, kind, _ in self.feedback if kind in ("pli", "fir") and t >= since]

    def nacked(self) -> set[int]:
        return {s for _, kind, lost in self.feedback if kind == "nack" for s in lost}

    async def close(self) -> None:
        await self.pc.close()


def remap_payload_types(sdp: str, mapping: dict[int, int]) -> str:
    """``sdp`` with payload types renumbered (m= lines, rtpmap, fmtp, rtcp-fb and apt=)."""

    def pt(match: re.Match[str]) -> str:
        return match.group(1) + str(mapping.get(int(match.group(2)), int(match.group(2))))

    out = []
    for line in sdp.split("\r\n"):
        if line.startswith("m="):
            head = line.split(" ")[:3]
            line = " ".join(head + [str(mapping.get(int(p), int(p))) for p in line.split(" ")[3:]])
        else:
            line = re.sub(r"^(a=(?:rtpmap|fmtp|rtcp-fb):)(\d+)", pt, line)
            line = re.sub(r"(apt=)(\d+)", pt, line)
        out.append(line)
    return "\r\n".join(out)


def unusual_payload_types(sdp: str) -> str:
    """``sdp`` with every dynamic payload type moved to the top of the range (127, 126...),
    where aiortc never puts them: a publisher whose numbers differ from its subscribers'."""
    dynamic = sorted({int(p) for p in re.findall(r"^a=rtpmap:(\d+)", sdp, re.MULTILINE) if int(p) >= 96})
    return remap_payload_types(sdp, {p: 127 - i for i, p in enumerate(dynamic)})


async def publish(
    sfu: Sfu,
    room: str,
    user: str,
    *,
    kind: str = "live",
    audio: bool = True,
    video: bool = True,
    amplitude: float = 0.5,
    video_codec: str | None = None,
    munge_offer: Callable[[str], str] | None = None,
    munge_answer: Callable[[str], str] | None = None,
) -> Publisher:
    pc = _pc()
    tone = ToneTrack(amplitude) if audio else None
    pat = PatternTrack() if video else None
    if tone:
        pc.addTransceiver(tone, direction="sendonly")
    if pat:
        t = pc.addTransceiver(pat, direction="sendonly")
        if video_codec:
            from aiortc import RTCRtpSender

            caps = RTCRtpSender.getCapabilities("video").codecs
            t.setCodecPreferences([c for c in caps if c.mimeType.lower() == video_codec.lower()])
    pub = Publisher(user, pc, tone, pat)
    for t in pc.getTransceivers():
        testkit.observe_feedback(
            t.sender, lambda kind, lost: pub.feedback.append((time.monotonic(), kind, lost))
        )
    await pc.setLocalDescription(await pc.createOffer())
    offer = pc.localDescription.sdp
    ssrc_mid, mid_kind = _parse_ssrcs(offer)
    pub.video_ssrc = next((s for s, m in ssrc_mid.items() if mid_kind.get(m) == "video"), None)
    if munge_offer is not None:
        offer = munge_offer(offer)
    try:
        answer = await sfu.publish(room, user, offer, kind=kind)  # type: ignore[arg-type]
    except BaseException:
        await pc.close()
        raise
    if munge_answer is not None:
        answer = munge_answer(answer)
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    return pub


@dataclass
class Packet:
    t: float
    ssrc: int
    seq: int
    pt: int
    ts: int


@dataclass
class Subscriber:
    user: str
    pc: RTCPeerConnection
    frames: dict[str, list[tuple[float, Any]]] = field(default_factory=dict)
    """mid -> [(arrival time, frame summary)] of *decoded* frames."""
    packets: list[Packet] = field(default_factory=list)
    """Every RTP packet that reached the client (SRTP headers are in the clear)."""
    ssrc_mid: dict[int, str] = field(default_factory=dict)
    media_ssrcs: set[int] = field(default_factory=set)
    """The first SSRC of each m-section (the media one; the second is RTX)."""
    mid_kind: dict[str, str] = field(default_factory=dict)
    mid_pts: dict[str, dict[int, str]] = field(default_factory=dict)
    """mid -> {payload type: "mime" or "mime;profile-level-id"} as negotiated."""
    dropped: int = 0
    drop_every: int = 0
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)

    def decoded(self, mid: str, since: float = 0.0) -> int:
        return sum(1 for t, _ in self.frames.get(mid, []) if t >= since)

    def rtp(self, mid: str, since: float = 0.0) -> list[Packet]:
        return [p for p in self.packets if self.ssrc_mid.get(p.ssrc) == mid and p.t >= since]

    def mids(self, kind: str) -> list[str]:
        return sorted((m for m, k in self.mid_kind.items() if k == kind), key=int)

    async def close(self) -> None:
        for t in self.tasks:
            t.cancel()
        await self.pc.close()


def _observe(sub: Subscriber, data: bytes) -> bool:
    if len(data) >= 12 and 128 <= data[0] < 192 and not (192 <= data[1] <= 208):
        pt = data[1] & 0x7F
        seq, ts, ssrc = struct.unpack_from("!HII", data, 2)
        sub.packets.append(Packet(time.monotonic(), ssrc, seq, pt, ts))
        if sub.drop_every and ssrc in sub.media_ssrcs and seq % sub.drop_every == 0:
            # (not before the stream is established: a lost *first* keyframe cannot be
            # NACKed — the receiver never knew it existed)
            seen = sum(1 for p in sub.packets[-40:] if p.ssrc == ssrc)
            if sub.mid_kind.get(sub.ssrc_mid[ssrc]) == "video" and seen >= 30:
                sub.dropped += 1
                return True
    return False


def _parse_pts(sdp: str) -> dict[str, dict[int, str]]:
    out: dict[str, dict[int, str]] = {}
    pts: dict[int, str] = {}
    for line in sdp.splitlines():
        if line.startswith("m="):
            pts = {}
        elif line.startswith("a=mid:"):
            out[line[6:]] = pts
        elif line.startswith("a=rtpmap:"):
            pt, enc = line[9:].split(" ", 1)
            pts[int(pt)] = enc.split("/")[0].lower()
        elif line.startswith("a=fmtp:") and "profile-level-id=" in line:
            pt = int(line[7:].split(" ", 1)[0])
            plid = line.split("profile-level-id=")[1].split(";")[0].lower()
            pts[pt] = f"{pts.get(pt, '?')};{plid}"
    return out


def _media_ssrcs(sdp: str) -> set[int]:
    out: set[int] = set()
    seen: set[str] = set()
    ssrc_mid, _ = _parse_ssrcs(sdp)
    for ssrc, mid in ssrc_mid.items():  # insertion order = SDP order
        if mid not in seen:
            seen.add(mid)
            out.add(ssrc)
    return out


def _parse_ssrcs(sdp: str) -> tuple[dict[int, str], dict[str, str]]:
    ssrc_mid: dict[int, str] = {}
    mid_kind: dict[str, str] = {}
    kind = mid = None
    for line in sdp.splitlines():
        if line.startswith("m="):
            kind = line[2:].split()[0]
            mid = None
        elif line.startswith("a=mid:"):
            mid = line[6:]
            if kind:
                mid_kind[mid] = kind
        elif line.startswith("a=ssrc:") and mid is not None:
            ssrc_mid[int(line[7:].split()[0])] = mid
    return ssrc_mid, mid_kind


async def _consume(sub: Subscriber, mid: str, track: MediaStreamTrack) -> None:
    frames = sub.frames.setdefault(mid, [])
    try:
        while True:
            frame = await track.recv()
            info = (frame.width, frame.height) if isinstance(frame, VideoFrame) else frame.samples
            frames.append((time.monotonic(), info))
    except MediaStreamError:
        pass
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        sub.errors.append(exc)


def _on_track(sub: Subscriber) -> None:
    @sub.pc.on("track")
    def _track(track: MediaStreamTrack) -> None:
        mid = next(t.mid for t in sub.pc.getTransceivers() if t.receiver.track is track)
        assert mid is not None
        sub.tasks.append(asyncio.get_running_loop().create_task(_consume(sub, mid, track)))


async def subscribe(
    sfu: Sfu, room: str, user: str, *, kind: str = "live", drop_every: int = 0, answer: bool = True
) -> Subscriber:
    pc = _pc()
    sub = Subscriber(user, pc, drop_every=drop_every)
    _on_track(sub)
    offer = await sfu.subscribe(room, user, kind=kind)  # type: ignore[arg-type]
    sub.ssrc_mid, sub.mid_kind = _parse_ssrcs(offer)
    sub.media_ssrcs = _media_ssrcs(offer)
    await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
    adapter.drop_incoming(pc, lambda data: _observe(sub, data))
    await pc.setLocalDescription(await pc.createAnswer())
    sub.mid_pts = _parse_pts(pc.localDescription.sdp)
    if answer:
        await sfu.subscriber_answer(room, user, pc.localDescription.sdp)
    return sub


def prefer(transceiver: Any, mime: str) -> None:
    """Offer only ``mime`` (and RTX) on ``transceiver``."""
    from aiortc import RTCRtpReceiver

    caps = RTCRtpReceiver.getCapabilities(transceiver.kind).codecs
    transceiver.setCodecPreferences([c for c in caps if c.mimeType.lower() in (mime.lower(), "video/rtx")])


async def subscribe_whep_style(
    sfu: Sfu, room: str, user: str, *, kind: str = "live", video_codec: str | None = None
) -> Subscriber:
    pc = _pc()
    sub = Subscriber(user, pc)
    _on_track(sub)
    pc.addTransceiver("audio", direction="recvonly")
    vt = pc.addTransceiver("video", direction="recvonly")
    if video_codec:
        prefer(vt, video_codec)
    adapter.drop_incoming(pc, lambda data: _observe(sub, data))
    await pc.setLocalDescription(await pc.createOffer())
    answer = await sfu.subscribe_with_offer(room, user, pc.localDescription.sdp, kind=kind)  # type: ignore[arg-type]
    sub.ssrc_mid, sub.mid_kind = _parse_ssrcs(answer)
    sub.media_ssrcs = _media_ssrcs(answer)
    sub.mid_pts = _parse_pts(answer)
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    return sub


async def until(predicate: Any, within: float, step: float = 0.02) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(step)
    return bool(predicate())


@contextlib.asynccontextmanager
async def closing(*things: Any) -> Any:
    try:
        yield
    finally:
        for t in things:
            with contextlib.suppress(Exception):
                await t.close()
