"""The forwarding hot path with plain values and fake sinks (no sockets)."""

from __future__ import annotations

import itertools
from typing import Any

from aiortc.rtp import RtpPacket

from livepark.media.codecs import CodecInfo
from livepark.media.forwarder import OutputParams, SlotOutput, TrackForwarder
from livepark.media.keyframes import KeyframeRequester
from livepark.media.rtpheader import ExtensionIds

VP8 = {97: CodecInfo(97, "video/vp8", 90000), 98: CodecInfo(98, "video/rtx", 90000, apt=97)}
OPUS = {111: CodecInfo(111, "audio/opus", 48000)}
KEY = b"\x90\x80\x05\x00\x9d\x01"  # VP8: X, S, PID 0; I with 7-bit picture id; P=0 (key)
DELTA = b"\x90\x80\x05\x01\x9d\x01"
CONT = b"\x80\x80\x05zz"  # continuation (S=0)


class Sink:
    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.fail = False

    def protect(self, data: bytes) -> bytes:
        if self.fail:
            raise RuntimeError("srtp")
        return data

    def sendto(self, data: bytes, addr: Any) -> None:
        self.sent.append(data)

    def packets(self) -> list[RtpPacket]:
        return [RtpPacket.parse(d) for d in self.sent]

    def seqs(self) -> list[int]:
        return [p.sequence_number for p in self.packets()]


def output(
    owner: str, kind: str = "video", mid: str = "4", ssrc: int = 1111, rtx: bool = False
) -> tuple[SlotOutput, Sink]:
    out = SlotOutput(owner, kind, 0)  # type: ignore[arg-type]
    sink = Sink()
    out.params = OutputParams(
        mid=mid,
        ssrc=ssrc,
        rtx_ssrc=2222,
        payload_types={"video/vp8": 100} if kind == "video" else {"audio/opus": 96},
        rtx_payload_types={100: 101} if rtx else {},
        ext=ExtensionIds(1, 2, 3),
    )
    out.sink = (sink.protect, sink.sendto, ("127.0.0.1", 9))
    return out, sink


def video_track(**kw: Any) -> TrackForwarder:
    return TrackForwarder("alice", "video", VP8, keyframes=KeyframeRequester(1.0, 0.5), **kw)


def feed(
    track: TrackForwarder,
    seq: int,
    payload: bytes,
    now: float,
    ts: int | None = None,
    pt: int = 97,
    ssrc: int = 5,
) -> None:
    track.on_rtp(ssrc, pt, seq & 0xFFFF, ts if ts is not None else seq * 3000, 1, payload, None, now)


def test_video_output_waits_for_keyframe_then_gets_everything() -> None:
    track = video_track()
    out, sink = output("bob")
    track.attach(out, 0.0)
    assert out.pending and track.keyframe_outstanding
    assert track.want_keyframe(0.0) is True  # the caller sends the PLI now
    assert track.want_keyframe(0.1) is False  # throttled
    feed(track, 10, DELTA, 0.1)
    feed(track, 11, CONT, 0.1)
    assert sink.sent == []
    feed(track, 12, KEY, 0.2)
    feed(track, 13, CONT, 0.2)
    feed(track, 14, DELTA, 0.3)
    assert sink.seqs() == [12, 13, 14]  # fresh output: publisher numbers pass through
    assert not track.keyframe_outstanding
    p = sink.packets()[0]
    assert p.payload_type == 100 and p.ssrc == 1111 and p.payload == KEY


def test_identical_subscribers_share_one_serialisation() -> None:
    track = video_track()
    (a, sa), (b, sb) = output("a"), output("b")
    track.attach(a, 0.0)
    track.attach(b, 0.0)
    feed(track, 1, KEY, 0.0)
    feed(track, 2, CONT, 0.0)
    assert len(track.groups) == 1
    assert sa.sent == sb.sent and len(sa.sent) == 2
    assert track.stats.packets_forwarded == 4


def test_detach_stops_forwarding_at_once() -> None:
    track = video_track()
    a, sa = output("a")
    track.attach(a, 0.0)
    feed(track, 1, KEY, 0.0)
    track.detach(a)
    feed(track, 2, CONT, 0.0)
    assert sa.seqs() == [1]
    assert not track.groups


def test_switching_publishers_keeps_sequence_and_time_moving_forward() -> None:
    alice, bob = video_track(), TrackForwarder("bob", "video", VP8)
    out, sink = output("viewer")
    alice.attach(out, 0.0)
    for i in range(5):
        feed(alice, 100 + i, KEY if i == 0 else DELTA, i * 0.033, ts=900000 + i * 3000)
    bob.attach(out, 0.2)  # slot taken over by bob
    assert out.track is bob and out.pending
    feed(bob, 5000, DELTA, 0.25, ts=12345)  # not a keyframe: nothing yet
    feed(bob, 5001, KEY, 0.5, ts=15345)
    feed(bob, 5002, DELTA, 0.53, ts=18345)
    pkts = sink.packets()
    seqs = [p.sequence_number for p in pkts]
    assert seqs == [100, 101, 102, 103, 104, 105, 106]
    ts = [p.timestamp for p in pkts]
    assert all(b > a for a, b in itertools.pairwise(ts))
    jump = ts[5] - ts[4]
    assert 3000 <= jump <= 90000 * 0.5  # ~elapsed wall time (0.5 - 0.132 s)
    assert {p.ssrc for p in pkts} == {1111}


def test_rtx_padding_dropped_and_real_rtx_unwrapped_once() -> None:
    track = video_track(rtx_ssrcs={6: 5})
    out, sink = output("v")
    track.attach(out, 0.0)
    feed(track, 1, KEY, 0.0)
    feed(track, 3, DELTA, 0.0)  # 2 lost upstream
    track.on_rtp(6, 98, 700, 0, 0, b"\x00", None, 0.1)  # padding probe
    track.on_rtp(6, 98, 701, 3000 * 2, 0, b"\x00\x02" + CONT, None, 0.1)  # recovers seq 2
    track.on_rtp(6, 98, 702, 3000 * 2, 0, b"\x00\x02" + CONT, None, 0.1)  # duplicate
    track.on_rtp(6, 98, 703, 3000, 0, b"\x00\x01" + KEY, None, 0.1)  # probe with old payload
    assert sink.seqs() == [1, 3, 2]
    assert sink.packets()[2].payload == CONT
    assert track.stats.padding_dropped == 1 and track.stats.duplicates_dropped == 2
    assert track.media_ssrc == 5


def test_nack_served_from_cache_plain_and_rtx() -> None:
    track = video_track()
    plain, sp = output("p")
    rtx, sr = output("r", rtx=True)
    track.attach(plain, 0.0)
    track.attach(rtx, 0.0)
    for s in range(1, 6):
        feed(track, s, KEY if s == 1 else DELTA, 0.0)
    sp.sent.clear()
    sr.sent.clear()
    assert track.retransmit(plain, [2, 4, 999], 0.1) == 2
    assert sp.seqs() == [2, 4]
    assert track.retransmit(rtx, [3], 0.1) == 1
    p = sr.packets()[0]
    assert p.payload_type == 101 and p.ssrc == 2222 and p.payload[:2] == b"\x00\x03"
    assert p.payload[2:] == DELTA
    assert track.stats.nacks_served == 3 and track.stats.nacks_missed == 1


def test_late_keyframe_start_replays_what_followed() -> None:
    track = video_track()
    feed(track, 1, KEY, 0.0)
    out, sink = output("late")
    track.attach(out, 0.1)
    # keyframe start 10 lost upstream; its continuation arrives, then RTX recovers 10
    feed(track, 11, CONT, 0.2)
    feed(track, 12, CONT, 0.2)
    track.on_rtp(5, 97, 10, 30000, 0, KEY, None, 0.25)  # retransmitted on the media SSRC
    assert sorted(sink.seqs()) == [10, 11, 12]


def test_audio_starts_on_next_packet_and_keeps_levels() -> None:
    track = TrackForwarder("alice", "audio", OPUS)
    out, sink = output("bob", kind="audio", mid="0")
    track.attach(out, 0.0)
    track.on_rtp(9, 111, 7, 960, 0, b"opus", (True, 30), 0.0)
    p = sink.packets()[0]
    assert p.payload_type == 96 and p.sequence_number == 7


def test_failing_sink_reported_and_others_still_served() -> None:
    errors: list[str] = []
    track = TrackForwarder("alice", "audio", OPUS, on_sink_error=lambda o, e: errors.append(o.owner))
    (a, sa), (b, sb) = output("a", kind="audio", mid="0"), output("b", kind="audio", mid="0")
    track.attach(a, 0.0)
    track.attach(b, 0.0)
    sa.fail = True
    track.on_rtp(9, 111, 1, 960, 0, b"x", None, 0.0)
    assert errors == ["a"] and len(sb.sent) == 1
    assert track.stats.send_errors == 1


def test_unknown_payload_type_dropped() -> None:
    track = video_track()
    out, sink = output("v")
    track.attach(out, 0.0)
    feed(track, 1, KEY, 0.0, pt=120)
    assert sink.sent == [] and track.stats.unknown_payload_type == 1


def test_ssrc_change_restarts_outputs_at_next_keyframe() -> None:
    track = video_track()
    out, sink = output("v")
    track.attach(out, 0.0)
    feed(track, 1, KEY, 0.0)
    feed(track, 2, DELTA, 0.03)
    feed(track, 50, DELTA, 0.1, ssrc=77)  # publisher restarted its encoder/stream
    assert out.pending
    feed(track, 51, KEY, 0.2, ssrc=77)
    assert sink.seqs() == [1, 2, 3]


def test_sender_report_counters() -> None:
    track = TrackForwarder("alice", "audio", OPUS)
    out, _ = output("bob", kind="audio", mid="0")
    track.attach(out, 0.0)
    for s in range(3):
        track.on_rtp(9, 111, s, s * 960, 0, b"abcd", None, 0.0)
    assert out.counters() == (3, 12)
    track.detach(out)
    assert out.counters() == (3, 12)
    assert out.report_pair() == (2 * 960, 0.0)
