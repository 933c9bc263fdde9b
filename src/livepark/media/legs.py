"""Peer-connection legs: thin holders of an aiortc ``RTCPeerConnection`` and its SFU state.

A *publisher leg* receives one user's audio/video (the client offers, the SFU answers); a
*subscriber leg* sends a fixed set of slots to one user (the SFU offers — or, WHEP style, the
client offers and the SFU answers).  Decisions live in :mod:`livepark.media.room`.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from typing import TYPE_CHECKING, Any, Literal

from aiortc import MediaStreamTrack, RTCBundlePolicy, RTCConfiguration, RTCIceServer, RTCPeerConnection

from livepark.media.config import IceServer
from livepark.media.forwarder import Kind, SlotOutput, TrackForwarder
from livepark.media.slots import SlotAllocator

if TYPE_CHECKING:
    from av.frame import Frame

log = logging.getLogger(__name__)


class LegState(enum.IntEnum):
    OFFERED = 1
    """SFU offer sent, waiting for the subscriber's answer."""
    CONNECTING = 2
    """Negotiated; ICE/DTLS in progress."""
    CONNECTED = 3
    CLOSED = 4


class SilentTrack(MediaStreamTrack):
    """A sender track whose ``recv()`` never returns.

    aiortc's sender loop then waits forever (no 20 ms polling, no encoder is ever created)
    while the SFU writes RTP for the transceiver itself.
    """

    def __init__(self, kind: Kind) -> None:
        super().__init__()
        self.kind = kind

    async def recv(self) -> Frame:
        await asyncio.get_running_loop().create_future()
        raise AssertionError("unreachable")  # pragma: no cover


def new_peer_connection(servers: tuple[IceServer, ...]) -> RTCPeerConnection:
    ice = [
        RTCIceServer(urls=list(s.urls), username=s.username or None, credential=s.credential or None)
        for s in servers
    ]
    return RTCPeerConnection(RTCConfiguration(iceServers=ice, bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))


class Leg:
    role: Literal["publisher", "subscriber"]

    def __init__(self, room_id: str, user_id: str, pc: RTCPeerConnection, now: float) -> None:
        self.room_id = room_id
        self.user_id = user_id
        self.pc = pc
        self.state = LegState.CONNECTING
        self.created_at = now
        self.state_since = now
        self.closing = False
        self.closed = False

    def set_state(self, state: LegState, now: float) -> None:
        if state != self.state:
            self.state = state
            self.state_since = now

    async def close(self) -> None:
        """Close the peer connection (idempotent; run it as a background task)."""
        self.closing = True
        self.state = LegState.CLOSED
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(Exception):
            await self.pc.close()


class PublisherLeg(Leg):
    role = "publisher"

    def __init__(self, room_id: str, user_id: str, pc: RTCPeerConnection, now: float) -> None:
        super().__init__(room_id, user_id, pc, now)
        self.tracks: dict[Kind, TrackForwarder] = {}
        self.receivers: dict[Kind, Any] = {}
        self.expected: set[Kind] = set()
        self.started: set[Kind] = set()
        self.announced = False

    @property
    def last_packet_time(self) -> float | None:
        times = [t.last_packet_time for t in self.tracks.values() if t.last_packet_time is not None]
        return max(times) if times else None


class SubscriberLeg(Leg):
    role = "subscriber"

    def __init__(
        self,
        room_id: str,
        user_id: str,
        pc: RTCPeerConnection,
        now: float,
        *,
        audio_slots: int,
        video_slots: int,
        client_offered: bool,
    ) -> None:
        super().__init__(room_id, user_id, pc, now)
        self.audio: list[SlotOutput] = [SlotOutput(user_id, "audio", i) for i in range(audio_slots)]
        self.video: list[SlotOutput] = [SlotOutput(user_id, "video", i) for i in range(video_slots)]
        self.senders: dict[SlotOutput, Any] = {}
        self.mids: dict[SlotOutput, str] = {}
        self.allocator = SlotAllocator(max(audio_slots, video_slots))
        self.client_offered = client_offered
        self.last_slots: dict[str, str | None] | None = None
        self.remb: int | None = None
        self.rtcp_path: tuple[Any, Any, Any] | None = None
        self.next_sr = 0.0
        self.cname = "livepark"

    @property
    def outputs(self) -> list[SlotOutput]:
        return self.audio + self.video

    def slot_map(self) -> dict[str, str | None]:
        """mid → user carried (None: idle)."""
        out: dict[str, str | None] = {}
        for o in self.outputs:
            mid = self.mids.get(o)
            if mid is None:
                continue
            track = o.track
            out[mid] = track.owner if track is not None else None
        return out
