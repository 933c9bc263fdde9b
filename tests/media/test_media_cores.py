"""Sans-I/O pieces: NACK cache, keyframe policy, offsets, speakers, last-N, slots."""

import itertools

from hypothesis import given
from hypothesis import strategies as st

from livepark.media.keyframes import KeyframeRequester
from livepark.media.lastn import LastNSelector
from livepark.media.nack_cache import PacketCache
from livepark.media.rewriter import SlotHistory, continue_offsets, seq_diff
from livepark.media.slots import SlotAllocator
from livepark.media.speakers import SpeakerDetector


def test_cache_ring_overwrites_oldest() -> None:
    c = PacketCache(4)
    for s in range(6):
        c.put(s, s * 10, 0, 97, bytes([s]), now=0.0)
    assert c.get(0, 0.0) is None and c.get(1, 0.0) is None
    e = c.get(5, 0.0)
    assert e is not None and e.payload == b"\x05" and e.ts == 50
    assert c.contains(4, 0.0) and not c.contains(1, 0.0)
    assert c.get(5, now=10.0) is None  # too old
    assert c.hits == 1 and c.misses == 3


def test_cache_wraps_sequence_numbers() -> None:
    c = PacketCache(1024)
    for s in range(65530, 65536 + 10):
        c.put(s & 0xFFFF, 0, 0, 97, b"", now=0.0)
    assert c.contains(65535, 0.0) and c.contains(3, 0.0)


def test_keyframe_throttle_and_retry() -> None:
    k = KeyframeRequester(min_interval=1.0, retry_interval=0.5)
    assert k.request(0.0)  # first request goes out
    assert not k.request(0.3)  # throttled, remembered
    assert not k.poll(0.9, outstanding=False)
    assert k.poll(1.0, outstanding=False)  # the remembered wish, once allowed
    assert not k.poll(1.2, outstanding=False)
    # outstanding subscriber keeps asking, but never faster than min_interval
    assert not k.poll(1.6, outstanding=True)
    assert k.poll(2.0, outstanding=True)
    k.request(2.1)
    k.keyframe_received()  # a keyframe satisfied the wish
    assert not k.poll(3.5, outstanding=False)
    assert k.sent == 3


def test_retry_interval_applies_when_longer() -> None:
    k = KeyframeRequester(min_interval=0.1, retry_interval=0.5)
    assert k.request(0.0)
    assert not k.poll(0.3, outstanding=True)
    assert k.poll(0.5, outstanding=True)


def test_offsets_without_history_pass_through() -> None:
    assert continue_offsets(None, 100, 5000, 1.0, 90000, 3000) == (0, 0)


@given(
    last_seq=st.integers(0, 0xFFFF),
    last_ts=st.integers(0, 0xFFFFFFFF),
    in_seq=st.integers(0, 0xFFFF),
    in_ts=st.integers(0, 0xFFFFFFFF),
    gap=st.floats(0, 1000),
    rate=st.sampled_from([48000, 90000]),
)
def test_offsets_continue_sequence_and_move_time_forward(
    last_seq: int, last_ts: int, in_seq: int, in_ts: int, gap: float, rate: int
) -> None:
    seq_off, ts_off = continue_offsets(
        SlotHistory(last_seq, last_ts, 10.0), in_seq, in_ts, 10.0 + gap, rate, 960
    )
    assert (in_seq + seq_off) & 0xFFFF == (last_seq + 1) & 0xFFFF
    step = ((in_ts + ts_off) - last_ts) & 0xFFFFFFFF
    assert 960 <= step <= 30 * rate + 1  # forward, at least one frame, capped
    assert step < 0x80000000


def test_seq_diff() -> None:
    assert seq_diff(1, 65535) == 2
    assert seq_diff(65535, 1) == -2


def test_speaker_detector_smooths_and_rate_limits() -> None:
    d = SpeakerDetector(threshold=0.25, interval=0.3)
    t = 0.0
    events = []
    for _ in range(50):  # 1 s of alice loud (-10 dBov), bob quiet (-90 dBov)
        d.add("alice", 10, t)
        d.add("bob", 90, t)
        ev = d.poll(t)
        if ev is not None:
            events.append((t, ev))
        t += 0.02
    assert events and all(e[1][0][0] == "alice" for e in events)
    assert all(b[0] - a[0] >= 0.3 - 1e-9 for a, b in itertools.pairwise(events))
    assert d.level("bob", t) == 0.0 or d.level("bob", t) < 0.25
    # alice stops sending (muted): she decays out after `stale`
    ev = d.poll(t + 1.0)
    assert ev == ()
    assert d.active(t + 1.0) == []


def test_speaker_ranking_loudest_first() -> None:
    d = SpeakerDetector(interval=0.0)
    for i in range(20):
        d.add("a", 40, i * 0.02)
        d.add("b", 5, i * 0.02)
    assert [u for u, _ in d.active(0.4)] == ["b", "a"]


def test_lastn_fills_then_replaces_least_recent_silent_member() -> None:
    s = LastNSelector(2, hold=1.0)
    assert s.add("a", 0.0) and s.add("b", 0.0)
    assert not s.add("c", 0.0)
    assert s.members() == {"a", "b"}
    s.update(["a"], 1.0)
    assert s.update(["c"], 2.0)  # b never spoke: evicted
    assert s.members() == {"a", "c"}
    assert s.update(["b"], 2.5)  # a is silent and was never held: b replaces it
    assert s.members() == {"b", "c"}
    assert not s.update(["a"], 2.8)  # b and c entered < 1 s ago: held
    assert s.update(["a"], 3.1)  # c (entered at 2.0, silent now) makes room
    assert s.members() == {"a", "b"}


def test_lastn_never_flaps_when_everyone_talks() -> None:
    s = LastNSelector(2, hold=1.0)
    for u in "abc":
        s.add(u, 0.0)
    changes = 0
    for i in range(100):
        changes += s.update(["a", "b", "c"] if i % 2 else ["c", "b", "a"], 5.0 + i * 0.05)
    assert changes <= 1


def test_lastn_select_for_excludes_self() -> None:
    s = LastNSelector(2)
    for u in "abc":
        s.add(u, 0.0)
    s.update(["c"], 1.0)
    assert s.select_for("listener") == s.ranked()[:2]
    member = next(iter(s.members()))
    assert member not in s.select_for(member) and len(s.select_for(member)) == 2
    assert s.remove("a") or True
    assert "a" not in s.ranked()


def test_slot_allocator_is_sticky() -> None:
    a = SlotAllocator(3)
    assert a.assign(["x", "y"]) == [0, 1]
    assert a.slots == ["x", "y", None]
    assert a.assign(["y", "z"]) == [0]  # x out, z takes the freed slot 0; y stays in 1
    assert a.slots == ["z", "y", None]
    assert a.assign(["y", "z", "w", "v"]) == [2]
    assert a.slot_of("w") == 2 and a.slot_of("v") is None


@given(st.lists(st.lists(st.sampled_from("abcdef"), max_size=6), max_size=20))
def test_slot_allocator_invariants(rounds: list[list[str]]) -> None:
    a = SlotAllocator(3)
    for desired in rounds:
        before = list(a.slots)
        a.assign(desired)
        want = list(dict.fromkeys(desired))[:3]
        assert sorted(u for u in a.slots if u) == sorted(want)
        for i, u in enumerate(before):
            if u is not None and u in want:
                assert a.slots[i] == u  # sticky
