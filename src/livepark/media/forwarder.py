"""The forwarding hot path: one publisher track → many subscriber slots, no decoding.

Sans-I/O in the sense that matters for tests: packets come in as plain values
(:meth:`TrackForwarder.on_rtp`) and go out through *sinks*, ``(protect, sendto, addr)``
triples — in production the subscriber leg's SRTP ``protect`` and the ``sendto`` of the ICE
pair aioice nominated; in unit tests, plain functions.

Structure:

- :class:`~livepark.media.outputs.SlotOutput` / :class:`~livepark.media.outputs.OutputGroup`
  (in :mod:`livepark.media.outputs`) — slots, and the groups of slots that share layout and
  offsets.  A packet is rewritten and serialised once per group; each member only costs
  ``sendto(protect(data), addr)`` (in C when built).  Subscribers that joined a track fresh
  share offsets (0, 0); subscribers that switched sources together share the offsets computed
  from their common history.
- :class:`TrackForwarder` — per publisher track: RTX unwrapping/padding drop, duplicate
  filter, NACK cache, keyframe gating of *pending* outputs (a video output starts only at a
  keyframe), per-group fan-out, NACK service.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from livepark.media.codecs import MIN_TS_STEP, CodecInfo
from livepark.media.keyframes import KeyframeRequester
from livepark.media.nack_cache import PacketCache
from livepark.media.outputs import (
    FanOut,
    ForwardStats,
    Kind,
    OutputGroup,
    OutputParams,
    Protect,
    SendTo,
    Sink,
    SlotOutput,
)
from livepark.media.rewriter import continue_offsets
from livepark.media.rtpheader import HeaderTemplate, abs_send_time

__all__ = [
    "MAX_PAYLOAD",
    "FanOut",
    "ForwardStats",
    "Kind",
    "OutputGroup",
    "OutputParams",
    "Protect",
    "SendTo",
    "Sink",
    "SlotOutput",
    "TrackForwarder",
]

MAX_PAYLOAD = 1300
"""Larger RTP payloads are dropped at intake (``oversize_dropped``): with the rewritten
header and the SRTP trailer they would not fit the send buffers (pylibsrtp's is 1500 B), and
no WebRTC sender produces them (they packetise for a ~1200 B MTU)."""

REBASE_AT = 0x4000
"""Once a group is this many packets past its start, move the start forward (older
retransmissions are dropped, and the 16-bit window never wraps)."""


class TrackForwarder:
    """Fan-out of one publisher track (audio or video)."""

    def __init__(
        self,
        owner: str,
        kind: Kind,
        codecs: Mapping[int, CodecInfo],
        *,
        stats: ForwardStats | None = None,
        cache_size: int = 1024,
        keyframes: KeyframeRequester | None = None,
        rtx_ssrcs: Mapping[int, int] | None = None,
        on_sink_error: Callable[[SlotOutput, BaseException], None] | None = None,
        fanout: FanOut | None = None,
    ) -> None:
        self.owner = owner
        self.kind = kind
        self.codecs = dict(codecs)
        self.rtx_ssrcs = dict(rtx_ssrcs or {})
        self.stats = stats or ForwardStats()
        # No audio cache: Chromium does not NACK Opus by default (LiveKit serves them; we don't).
        self.cache = PacketCache(cache_size) if kind == "video" and cache_size > 0 else None
        self.keyframes = keyframes if keyframes is not None else KeyframeRequester()
        self.on_sink_error = on_sink_error
        self.fanout = fanout
        self.media_ssrc: int | None = None
        self.pending: list[SlotOutput] = []
        self.outputs: set[SlotOutput] = set()
        self.groups: dict[tuple[Any, ...], OutputGroup] = {}
        self._group_list: list[OutputGroup] = []
        self.highest_seq: int | None = None
        self.last_packet_time: float | None = None
        self.packets_in = 0
        self.sender_report: tuple[int, int] | None = None
        """The publisher's last RTCP SR for the media SSRC: (NTP timestamp, RTP timestamp)."""
        self.min_ts_step = MIN_TS_STEP[kind]

    # ------------------------------------------------------------------ outputs
    def attach(self, out: SlotOutput, now: float) -> None:
        """``out`` should carry this track from now on (it starts when ready + keyframe)."""
        if out.track is not None and out.track is not self:
            out.track.detach(out)
        out.track = self
        self.outputs.add(out)
        if out.ready and out.group is None and not out.pending:
            self._make_pending(out, now)

    def output_ready(self, out: SlotOutput, now: float) -> None:
        """The subscriber's transport for ``out`` became usable."""
        if out.track is self and out.group is None and not out.pending:
            self._make_pending(out, now)

    def detach(self, out: SlotOutput) -> None:
        """Stop forwarding to ``out`` (effective for the very next packet)."""
        if out.pending:
            out.pending = False
            try:
                self.pending.remove(out)
            except ValueError:
                pass
        g = out.group
        if g is not None:
            g.remove(out)
            if not g.members:
                self._drop_group(g)
        self.outputs.discard(out)
        out.track = None

    def _make_pending(self, out: SlotOutput, now: float) -> None:
        out.pending = True
        out.pending_since = now
        self.pending.append(out)
        if self.kind == "video":
            self.keyframes.wish()  # the caller polls want_keyframe() to send it

    def _drop_group(self, g: OutputGroup) -> None:
        self.groups.pop(g.key, None)
        try:
            self._group_list.remove(g)
        except ValueError:
            pass

    @property
    def keyframe_outstanding(self) -> bool:
        return bool(self.pending) and self.kind == "video"

    def want_keyframe(self, now: float) -> bool:
        """Whether a PLI should be sent to the publisher now (throttled)."""
        if self.kind != "video":
            return False
        return self.keyframes.poll(now, outstanding=bool(self.pending))

    def request_keyframe(self, now: float) -> bool:
        """A subscriber asked (PLI/FIR). Returns whether to send a PLI now."""
        if self.kind != "video":
            return False
        return self.keyframes.request(now)

    # ------------------------------------------------------------------ packets
    def on_rtp(
        self,
        ssrc: int,
        pt: int,
        seq: int,
        ts: int,
        marker: int,
        payload: bytes,
        audio_level: tuple[bool, int] | None,
        now: float,
    ) -> None:
        stats = self.stats
        stats.packets_in += 1
        if len(payload) > MAX_PAYLOAD:
            stats.oversize_dropped += 1
            return
        codec = self.codecs.get(pt)
        if codec is None:
            stats.unknown_payload_type += 1
            return
        if codec.apt is not None:  # RTX (RFC 4588)
            if len(payload) <= 2:
                stats.padding_dropped += 1  # bandwidth probe
                return
            apt_codec = self.codecs.get(codec.apt)
            if apt_codec is None or self.media_ssrc is None:
                stats.unknown_payload_type += 1
                return
            seq = (payload[0] << 8) | payload[1]
            payload = payload[2:]
            codec = apt_codec
            pt = codec.payload_type
            ssrc = self.media_ssrc
            cache = self.cache
            if cache is not None and cache.contains(seq, now):
                stats.duplicates_dropped += 1  # probe with an old payload, or a 2nd copy
                return
        else:
            if ssrc != self.media_ssrc:
                if self.media_ssrc is not None:
                    self._restart(now)
                self.media_ssrc = ssrc
            cache = self.cache
            if cache is not None and cache.contains(seq, now):
                stats.duplicates_dropped += 1
                return
        self.packets_in += 1
        self.last_packet_time = now
        hs = self.highest_seq
        if hs is None or ((seq - hs) & 0xFFFF) < 0x8000:
            self.highest_seq = seq
        if cache is not None:
            cache.put(seq, ts, marker, pt, payload, now)

        if self.pending:
            self._start_pending(codec, seq, ts, payload, now)

        send_time = abs_send_time(now) if self.kind == "video" else None
        fanout = self.fanout
        mime = codec.mime
        plen = len(payload)
        for g in self._group_list:
            d = (seq - g.start_seq) & 0xFFFF
            if d >= 0x8000:
                continue  # predates this epoch (e.g. a late retransmission)
            out_pt = g.pt_map.get(mime)
            if out_pt is None:
                continue
            out_seq = (seq + g.seq_off) & 0xFFFF
            out_ts = (ts + g.ts_off) & 0xFFFFFFFF
            if d > g.max_d:
                g.max_d = d
                g.last_out_seq = out_seq
                g.last_out_ts = out_ts
                g.last_time = now
                if d >= REBASE_AT:
                    g.start_seq = (g.start_seq + 0x2000) & 0xFFFF
                    g.max_d -= 0x2000
            data = g.template.build(out_pt, marker, out_seq, out_ts, payload, audio_level, send_time)
            g.packets += 1
            g.octets += plen
            n = 0
            if g.fast and fanout is not None:
                n, dropped, failed = fanout(data, g.fast)
                stats.fast_forwarded += n
                if dropped:
                    stats.send_drops += dropped
                if failed is not None:
                    self._fast_failed(g, failed)
            for protect, sendto, addr in g.sinks:
                try:
                    sendto(protect(data), addr)
                    n += 1
                except BlockingIOError:
                    stats.send_drops += 1
                except Exception as exc:
                    self._sink_failed(g, protect, exc)
            stats.packets_forwarded += n
            stats.bytes_forwarded += n * len(data)

    def _sink_failed(self, g: OutputGroup, protect: Protect, exc: BaseException) -> None:
        self.stats.send_errors += 1
        for out in list(g.members):
            if out.sink is not None and out.sink[0] is protect and self.on_sink_error is not None:
                self.on_sink_error(out, exc)

    def _fast_failed(self, g: OutputGroup, failed: list[tuple[Any, str]]) -> None:
        self.stats.send_errors += len(failed)
        for sink, reason in failed:
            for out in list(g.members):
                if out.fast is sink and self.on_sink_error is not None:
                    self.on_sink_error(out, OSError(reason))

    def _start_pending(self, codec: CodecInfo, seq: int, ts: int, payload: bytes, now: float) -> None:
        if self.kind == "video":
            if not codec.keyframe_start(payload):
                return
            self.keyframes.keyframe_received()
            self.stats.keyframes_forwarded += 1
        started = [o for o in self.pending if o.ready]
        self.pending = [o for o in self.pending if not o.ready]
        new_sinks: dict[OutputGroup, list[Sink]] = {}
        for out in started:
            out.pending = False
            params = out.params
            assert params is not None and out.sink is not None
            seq_off, ts_off = continue_offsets(out.history, seq, ts, now, codec.clock_rate, self.min_ts_step)
            key = (params.layout_key(), seq_off, ts_off)
            g = self.groups.get(key)
            if g is None:
                g = OutputGroup(key, params, seq_off, ts_off, seq, codec.clock_rate)
                g.pt_map = params.pt_map_for(codec)
                self.groups[key] = g
                self._group_list.append(g)
            else:
                back = (g.start_seq - seq) & 0xFFFF
                if 0 < back < 0x8000:  # a late (recovered) keyframe start: widen the window
                    g.start_seq = seq
                    g.max_d += back
            g.add(out)
            new_sinks.setdefault(g, []).append(out.sink)
        # A keyframe start that arrives late (recovered by RTX): replay what followed it.
        hs = self.highest_seq
        if self.cache is not None and hs is not None and hs != seq and new_sinks:
            self._replay(new_sinks, seq, hs, now)

    def _replay(self, new_sinks: dict[OutputGroup, list[Sink]], first: int, last: int, now: float) -> None:
        cache = self.cache
        assert cache is not None
        count = (last - first) & 0xFFFF
        if count >= 0x8000 or count > cache.capacity:
            return
        for i in range(1, count + 1):
            s = (first + i) & 0xFFFF
            entry = cache.get(s, now)
            if entry is None:
                continue
            codec = self.codecs.get(entry.payload_type)
            if codec is None:
                continue
            for g, sinks in new_sinks.items():
                out_pt = g.pt_map.get(codec.mime)
                if out_pt is None:
                    continue
                data = g.template.build(
                    out_pt,
                    entry.marker,
                    (s + g.seq_off) & 0xFFFF,
                    (entry.ts + g.ts_off) & 0xFFFFFFFF,
                    entry.payload,
                    None,
                    abs_send_time(now),
                )
                for protect, sendto, addr in sinks:
                    try:
                        sendto(protect(data), addr)
                    except BlockingIOError:
                        self.stats.send_drops += 1
                    except Exception as exc:
                        self._sink_failed(g, protect, exc)

    def _restart(self, now: float) -> None:
        """The publisher's media SSRC changed: new stream, re-sync every output."""
        if self.cache is not None:
            self.cache.clear()
        self.highest_seq = None
        for g in list(self._group_list):
            for out in list(g.members):
                g.remove(out)
                out.pending = True
                out.pending_since = now
                self.pending.append(out)
            self._drop_group(g)
        if self.pending and self.kind == "video":
            self.keyframes.wish()

    # ------------------------------------------------------------------ NACK
    def retransmit(self, out: SlotOutput, out_seqs: list[int], now: float) -> int:
        """Serve a subscriber's NACK for ``out`` from the cache. Returns packets resent."""
        self.stats.nacks_received += len(out_seqs)
        g = out.group
        cache = self.cache
        if g is None or cache is None or out.sink is None or out.params is None:
            self.stats.nacks_missed += len(out_seqs)
            return 0
        protect, sendto, addr = out.sink
        served = 0
        for s in out_seqs:
            in_seq = (s - g.seq_off) & 0xFFFF
            if ((in_seq - g.start_seq) & 0xFFFF) >= 0x8000:
                self.stats.nacks_missed += 1
                continue
            entry = cache.get(in_seq, now)
            codec = self.codecs.get(entry.payload_type) if entry is not None else None
            out_pt = g.pt_map.get(codec.mime) if codec is not None else None
            if entry is None or out_pt is None:
                self.stats.nacks_missed += 1
                continue
            out_ts = (entry.ts + g.ts_off) & 0xFFFFFFFF
            rtx_pt = out.params.rtx_payload_types.get(out_pt)
            if rtx_pt is not None:
                if out.rtx_template is None:
                    out.rtx_template = HeaderTemplate(out.params.rtx_ssrc, out.params.mid, out.params.ext)
                out.rtx_seq = (out.rtx_seq + 1) & 0xFFFF
                data = out.rtx_template.build(
                    rtx_pt,
                    entry.marker,
                    out.rtx_seq,
                    out_ts,
                    s.to_bytes(2, "big") + entry.payload,
                    None,
                    abs_send_time(now),
                )
            else:
                data = g.template.build(
                    out_pt, entry.marker, s, out_ts, entry.payload, None, abs_send_time(now)
                )
            try:
                sendto(protect(data), addr)
            except BlockingIOError:
                self.stats.send_drops += 1
                continue
            except Exception as exc:
                self._sink_failed(g, protect, exc)
                break
            served += 1
        self.stats.nacks_served += served
        return served
