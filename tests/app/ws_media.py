"""aiortc peers driven over the real signaling WebSocket (media.publish / media.subscribe).

The tracks come from tests/media/media_kit.py; here the offers and answers travel through a
:class:`helpers.livenode.Client`, as a phone's would.  A listener records every RTP packet
that reaches its socket (SRTP leaves the RTP header in the clear) with its arrival time.
"""

from __future__ import annotations

import asyncio
import struct
import time
from dataclasses import dataclass, field

from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from helpers.livenode import Client
from helpers.looplag import LoopLag
from livepark.media import aiortc_adapter as adapter
from media.media_kit import ToneTrack, until, wait_connected

__all__ = ["Listener", "LoopLag", "Speaker", "publish_ws", "subscribe_ws", "until", "wait_connected"]


def new_pc() -> RTCPeerConnection:
    return RTCPeerConnection(RTCConfiguration(iceServers=[]))


@dataclass
class Speaker:
    pc: RTCPeerConnection
    tone: ToneTrack

    async def close(self) -> None:
        await self.pc.close()


async def publish_ws(client: Client, *, amplitude: float = 0.5) -> Speaker:
    """Publish a tone through ``media.publish`` on ``client``'s connection."""
    pc = new_pc()
    tone = ToneTrack(amplitude)
    pc.addTransceiver(tone, direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    answer = await client.ok("media.publish", sdp=pc.localDescription.sdp)
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))
    return Speaker(pc, tone)


@dataclass
class Arrival:
    t: float
    ssrc: int
    seq: int


@dataclass
class Listener:
    pc: RTCPeerConnection
    ssrc_mid: dict[int, str]
    packets: list[Arrival] = field(default_factory=list)
    decoded: dict[str, int] = field(default_factory=dict)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def rtp(self, mid: str, since: float = 0.0) -> list[Arrival]:
        """RTP packets of slot ``mid`` (its media or RTX SSRC) that arrived at or after ``since``."""
        return [p for p in self.packets if self.ssrc_mid.get(p.ssrc) == mid and p.t >= since]

    def all_rtp(self, since: float = 0.0) -> list[Arrival]:
        return [p for p in self.packets if p.t >= since]

    async def close(self) -> None:
        for t in self.tasks:
            t.cancel()
        await self.pc.close()


def slot_ssrcs(sdp: str) -> dict[int, str]:
    """SSRC -> mid of every ``a=ssrc`` line of the SFU's offer."""
    out: dict[int, str] = {}
    mid = None
    for line in sdp.splitlines():
        if line.startswith("m="):
            mid = None
        elif line.startswith("a=mid:"):
            mid = line[6:].strip()
        elif line.startswith("a=ssrc:") and mid is not None:
            out[int(line[7:].split()[0])] = mid
    return out


async def _count_frames(listener: Listener, mid: str, track: MediaStreamTrack) -> None:
    try:
        while True:
            await track.recv()
            listener.decoded[mid] = listener.decoded.get(mid, 0) + 1
    except MediaStreamError:
        pass


async def subscribe_ws(client: Client, *, answer: bool = True) -> tuple[Listener, str]:
    """``media.subscribe`` on ``client``; answer it (unless ``answer=False``).
    Returns the listener and the SFU's offer."""
    offer = (await client.ok("media.subscribe"))["sdp"]
    pc = new_pc()
    listener = Listener(pc, slot_ssrcs(offer))

    @pc.on("track")
    def _track(track: MediaStreamTrack) -> None:
        mid = next(t.mid for t in pc.getTransceivers() if t.receiver.track is track)
        assert mid is not None
        listener.tasks.append(asyncio.get_running_loop().create_task(_count_frames(listener, mid, track)))

    def observe(data: bytes) -> bool:
        if len(data) >= 12 and 128 <= data[0] < 192 and not 192 <= data[1] <= 223:
            seq, _ts, ssrc = struct.unpack_from("!HII", data, 2)
            listener.packets.append(Arrival(time.monotonic(), ssrc, seq))
        return False

    await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
    adapter.drop_incoming(pc, observe)
    if answer:
        await pc.setLocalDescription(await pc.createAnswer())
        await client.ok("media.answer", sdp=pc.localDescription.sdp)
    return listener, offer


def latest_slots(client: Client) -> dict[str, str | None]:
    """The last ``media.slots`` mapping (mid -> user) this client was sent."""
    got = [f for f in client.frames if f.get("type") == "event" and f.get("event") == "media.slots"]
    return dict(got[-1]["data"]["slots"]) if got else {}
