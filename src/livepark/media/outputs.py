"""What the forwarder writes to: subscriber slots and the groups that share one serialisation.

- :class:`SlotOutput` — one slot (transceiver) of one subscriber leg, with its sinks: a
  Python ``(protect, sendto, addr)`` triple and, when the C extension is built, a
  :class:`livepark.media._fastsend.Sink` for the same destination.
- :class:`OutputGroup` — the outputs of one track that share an outgoing layout (mid, SSRC,
  payload types, extension ids) *and* sequence/timestamp offsets.
- :class:`ForwardStats` — counters shared by every track of an SFU.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from livepark.media.codecs import CodecInfo
from livepark.media.rewriter import SlotHistory
from livepark.media.rtpheader import ExtensionIds, HeaderTemplate

if TYPE_CHECKING:
    from livepark.media.forwarder import TrackForwarder

Kind = Literal["audio", "video"]
Protect = Callable[[bytes], bytes]
SendTo = Callable[[bytes, Any], None]
Sink = tuple[Protect, SendTo, Any]
FanOut = Callable[[bytes, list[Any]], tuple[int, int, list[tuple[Any, str]] | None]]
"""``livepark.media._fastsend.fanout``: (data, C sinks) → (sent, dropped, failures)."""


@dataclass
class ForwardStats:
    packets_in: int = 0
    packets_forwarded: int = 0
    fast_forwarded: int = 0
    """Of ``packets_forwarded``, those sent by the C loop."""
    bytes_forwarded: int = 0
    padding_dropped: int = 0
    duplicates_dropped: int = 0
    unknown_payload_type: int = 0
    oversize_dropped: int = 0
    nacks_received: int = 0
    nacks_served: int = 0
    nacks_missed: int = 0
    send_errors: int = 0
    send_drops: int = 0
    """Datagrams dropped because a socket buffer was full (EAGAIN)."""
    keyframes_forwarded: int = 0


@dataclass(slots=True)
class OutputParams:
    """What one subscriber slot negotiated (from its ``RTCRtpSendParameters``)."""

    mid: str | None
    ssrc: int
    rtx_ssrc: int
    payload_types: dict[str, int]
    """Lower-case mime → outgoing payload type (first one negotiated for the mime)."""
    rtx_payload_types: dict[int, int] = field(default_factory=dict)
    """Outgoing media payload type → its RTX payload type."""
    ext: ExtensionIds = field(default_factory=ExtensionIds)
    h264_payload_types: dict[str, int] = field(default_factory=dict)
    """H.264 profile → outgoing payload type (first one negotiated for the profile)."""

    def layout_key(self) -> tuple[Any, ...]:
        return (
            self.mid,
            self.ssrc,
            self.ext,
            tuple(sorted(self.payload_types.items())),
            tuple(sorted(self.h264_payload_types.items())),
        )

    def pt_map_for(self, codec: CodecInfo) -> dict[str, int]:
        """``payload_types`` for a track sending ``codec``: H.264 goes out on the payload
        type negotiated for the publisher's profile when the slot has one (else on any)."""
        pts = dict(self.payload_types)
        if codec.profile is not None and codec.mime in pts:
            pts[codec.mime] = self.h264_payload_types.get(codec.profile, pts[codec.mime])
        return pts


class SlotOutput:
    """One slot of one subscriber leg."""

    __slots__ = (
        "fast",
        "group",
        "history",
        "index",
        "join_octets",
        "join_packets",
        "kind",
        "octets_base",
        "owner",
        "packets_base",
        "params",
        "pending",
        "pending_since",
        "rtx_seq",
        "rtx_template",
        "sink",
        "track",
    )

    def __init__(self, owner: str, kind: Kind, index: int) -> None:
        self.owner = owner
        self.kind = kind
        self.index = index
        self.params: OutputParams | None = None
        self.sink: Sink | None = None
        self.fast: Any = None
        """The same destination as ``sink`` for the C send loop (None: Python loop only)."""
        self.track: TrackForwarder | None = None
        self.group: OutputGroup | None = None
        self.pending = False
        self.pending_since = 0.0
        self.history: SlotHistory | None = None
        self.rtx_seq = 1000
        self.rtx_template: HeaderTemplate | None = None
        self.packets_base = 0
        self.octets_base = 0
        self.join_packets = 0
        self.join_octets = 0

    @property
    def ready(self) -> bool:
        return self.sink is not None and self.params is not None

    @property
    def mid(self) -> str | None:
        return self.params.mid if self.params else None

    def counters(self) -> tuple[int, int]:
        """(packets, octets) sent on this slot so far, for RTCP sender reports."""
        g = self.group
        if g is None:
            return self.packets_base, self.octets_base
        return (
            self.packets_base + g.packets - self.join_packets,
            self.octets_base + g.octets - self.join_octets,
        )

    def report_pair(self) -> tuple[int, float] | None:
        """(last RTP timestamp sent, monotonic time it was sent) — for sender reports."""
        g = self.group
        if g is not None and g.packets:
            return g.last_out_ts, g.last_time
        if self.history is not None:
            return self.history.last_ts, self.history.last_time
        return None


class OutputGroup:
    """Outputs of one track sharing layout and offsets: one serialisation per packet."""

    __slots__ = (
        "clock_rate",
        "fast",
        "key",
        "last_out_seq",
        "last_out_ts",
        "last_time",
        "max_d",
        "members",
        "octets",
        "packets",
        "pt_map",
        "seq_off",
        "sinks",
        "start_seq",
        "template",
        "ts_off",
    )

    def __init__(
        self,
        key: tuple[Any, ...],
        params: OutputParams,
        seq_off: int,
        ts_off: int,
        start_seq: int,
        clock_rate: int,
    ) -> None:
        self.key = key
        self.template = HeaderTemplate(params.ssrc, params.mid, params.ext)
        self.pt_map = dict(params.payload_types)
        self.seq_off = seq_off
        self.ts_off = ts_off
        self.start_seq = start_seq
        self.clock_rate = clock_rate
        self.max_d = -1
        self.last_out_seq = 0
        self.last_out_ts = 0
        self.last_time = 0.0
        self.packets = 0
        self.octets = 0
        self.members: list[SlotOutput] = []
        self.sinks: list[Sink] = []
        """Python sinks of the members that have no C sink."""
        self.fast: list[Any] = []
        """C sinks (``SlotOutput.fast``) of the other members."""

    def add(self, out: SlotOutput) -> None:
        assert out.sink is not None
        self.members.append(out)
        if out.fast is not None:
            self.fast.append(out.fast)
        else:
            self.sinks.append(out.sink)
        out.group = self
        out.join_packets = self.packets
        out.join_octets = self.octets

    def remove(self, out: SlotOutput) -> None:
        self.members.remove(out)
        if out.fast is not None and any(f is out.fast for f in self.fast):
            self.fast = [f for f in self.fast if f is not out.fast]
        else:
            self.sinks = [k for k in self.sinks if k is not out.sink]
        out.packets_base += self.packets - out.join_packets
        out.octets_base += self.octets - out.join_octets
        if self.packets:
            out.history = SlotHistory(self.last_out_seq, self.last_out_ts, self.last_time)
        out.group = None
