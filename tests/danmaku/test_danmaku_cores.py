"""Sans-I/O cores with plain values and hypothesis properties."""

from __future__ import annotations

import json
import struct

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livepark.danmaku.batcher import Batcher
from livepark.danmaku.errors import (
    CommentTooLong,
    DuplicateComment,
    EmptyComment,
    RateLimited,
)
from livepark.danmaku.eventlog import EventLog
from livepark.danmaku.frames import BatchFrames, FrameKind, decode_frame_payload, ws_frame
from livepark.danmaku.history import CommentHistory
from livepark.danmaku.policy import PolicyLimits, SenderPolicy, normalize

# ---------------------------------------------------------------- batcher


def test_batcher_window_and_poll() -> None:
    b: Batcher[str] = Batcher(window=0.1, max_items=10, max_bytes=1000)
    assert b.add("a", 10, now=0.0) is None
    assert b.add("b", 10, now=0.05) is None
    assert b.deadline == pytest.approx(0.1)
    assert b.poll(0.09) is None
    batch = b.poll(0.1)
    assert batch is not None and batch.items == ("a", "b") and batch.reason == "window"
    assert b.deadline is None and b.poll(5.0) is None


def test_batcher_size_closes_early_and_keys_coalesce() -> None:
    b: Batcher[str] = Batcher(window=1.0, max_items=2, max_bytes=1000)
    b.add("a", 1, 0.0)
    b.add("lvl1", 1, 0.0, key="levels")
    assert len(b) == 2
    assert b.add("lvl2", 1, 0.1, key="levels") is None  # replaced in place, not appended
    closed = b.add("c", 1, 0.2)
    assert closed is not None and closed.items == ("a", "lvl2") and closed.reason == "size"
    assert b.flush() is not None and b.flush() is None


ops = st.lists(
    st.tuples(
        st.floats(min_value=0, max_value=0.08),  # time step
        st.integers(min_value=1, max_value=300),  # item size
        st.booleans(),  # poll after?
    ),
    max_size=200,
)


@given(ops, st.integers(1, 8), st.integers(200, 1200))
def test_batcher_properties(steps: list[tuple[float, int, bool]], max_items: int, max_bytes: int) -> None:
    window = 0.1
    b: Batcher[tuple[int, float, int]] = Batcher(window, max_items, max_bytes)
    now = 0.0
    batches = []
    for i, (dt, size, poll) in enumerate(steps):
        now += dt
        if poll and size % 2:  # the hub's order: close a full batch before adding
            out = b.close_if_full(size)
            if out:
                assert out.reason == "size"
                batches.append(out)
        out = b.add((i, now, size), size, now)
        if out:
            batches.append(out)
        if poll:
            out = b.poll(now)
            if out:
                batches.append(out)
    last = b.flush()
    if last:
        batches.append(last)
    # every item exactly once, in order
    assert [it[0] for bt in batches for it in bt.items] == list(range(len(steps)))
    for bt in batches:
        assert 1 <= len(bt.items) <= max_items
        assert bt.nbytes == sum(it[2] for it in bt.items)
        assert bt.nbytes <= max_bytes or len(bt.items) == 1
        assert bt.opened_at == bt.items[0][1]
        assert all(it[1] - bt.opened_at < window for it in bt.items)


keyed_ops = st.lists(
    st.tuples(
        st.floats(min_value=0, max_value=0.08),  # time step
        st.integers(min_value=1, max_value=300),  # item size
        st.one_of(st.none(), st.sampled_from(["levels", "mic", "cam"])),  # coalescing key
        st.booleans(),  # poll after? (and close_if_full before, for odd sizes)
    ),
    max_size=200,
)


@given(keyed_ops, st.integers(1, 8), st.integers(200, 1200))
@settings(max_examples=300)
def test_batcher_merges_same_key_items(
    steps: list[tuple[float, int, str | None, bool]], max_items: int, max_bytes: int
) -> None:
    """Same key in one batch: the latest item wins, in the slot of the first; every other
    item is in exactly one batch, in order; size and window bounds still hold."""
    window = 0.1
    Item = tuple[int, float, int, str | None]
    b: Batcher[Item] = Batcher(window, max_items, max_bytes)
    now = 0.0
    batches = []
    added: list[tuple[int, Item]] = []  # (index in ``batches`` of the batch it went into, item)
    for i, (dt, size, key, poll) in enumerate(steps):
        now += dt
        if poll and size % 2:
            out = b.close_if_full(size, key)
            if out:
                assert out.reason == "size"
                batches.append(out)
        item = (i, now, size, key)
        out = b.add(item, size, now, key)
        if out:
            batches.append(out)
        added.append((len(batches), item))  # it went into the batch open after add()
        if poll:
            out = b.poll(now)
            if out:
                batches.append(out)
    last = b.flush()
    if last:
        batches.append(last)
    assert all(at < len(batches) for at, _ in added)  # nothing left behind
    for index, bt in enumerate(batches):
        # reference: this batch's items in arrival order, a repeated key overwriting its slot
        mine = [item for at, item in added if at == index]
        expected: list[Item] = []
        slots: dict[str, int] = {}
        for item in mine:
            key = item[3]
            if key is not None and key in slots:
                expected[slots[key]] = item  # latest wins, position kept
            else:
                if key is not None:
                    slots[key] = len(expected)
                expected.append(item)
        assert list(bt.items) == expected  # everything else exactly once, in order
        assert len({it[3] for it in bt.items if it[3] is not None}) == len(slots)
        assert 1 <= len(bt.items) <= max_items
        assert bt.nbytes == sum(it[2] for it in bt.items)
        assert bt.nbytes <= max_bytes or len(bt.items) == 1
        assert bt.opened_at == mine[0][1]
        assert all(it[1] - bt.opened_at < window for it in bt.items)


# ---------------------------------------------------------------- event log


def test_eventlog_append_since_and_too_old() -> None:
    log: EventLog[str] = EventLog(max_events=3, max_age=10.0)
    seqs = [log.append(x, now=0.0).seq for x in "abcde"]
    assert seqs == [1, 2, 3, 4, 5]
    assert [e.item for e in log.since(2, 0.0) or []] == ["c", "d", "e"]
    assert log.since(1, 0.0) is None  # seq 2 fell out of the window
    assert log.since(5, 0.0) == []
    assert log.since(6, 0.0) is None  # ahead of the server: reload
    assert log.since(4, 20.0) is None  # everything expired by age
    assert log.since(5, 20.0) == []  # ... but nothing was missed


@given(
    st.lists(st.floats(0, 3), min_size=1, max_size=120),
    st.integers(1, 50),
    st.data(),
)
@settings(max_examples=200)
def test_eventlog_resume_exactly_once(gaps: list[float], max_events: int, data: st.DataObject) -> None:
    """Any resume point inside the window yields every later event exactly once."""
    max_age = 30.0
    log: EventLog[int] = EventLog(max_events, max_age)
    now, times = 0.0, []
    for i, dt in enumerate(gaps):
        now += dt
        e = log.append(i, now)
        times.append(now)
        assert e.seq == i + 1  # strictly increasing, no gaps
    seen = data.draw(st.integers(0, len(gaps)), label="client last seq")
    resume_at = now + data.draw(st.floats(0, 40), label="resume delay")
    replay = log.since(seen, resume_at)
    in_window = (len(gaps) - seen) <= max_events and all(t >= resume_at - max_age for t in times[seen:])
    if in_window:
        assert replay is not None
        assert [e.seq for e in replay] == list(range(seen + 1, len(gaps) + 1))
        # live events after the resume continue the sequence: union is exactly once
        live = [log.append(-1, resume_at).seq for _ in range(3)]
        assert [e.seq for e in replay] + live == list(range(seen + 1, len(gaps) + 4))
    else:
        assert replay is None


@given(st.permutations(list(range(1, 40))), st.lists(st.integers(1, 39), max_size=20))
def test_eventlog_follower_orders_and_dedupes(order: list[int], dups: list[int]) -> None:
    authority: EventLog[int] = EventLog(100, 100.0)
    for i in range(1, 40):
        authority.append(i, 0.0)
    follower: EventLog[int] = EventLog(100, 100.0, primed=False)
    delivered: list[int] = []
    arrivals = order + dups
    half = len(arrivals) // 2
    for seq in arrivals[:half]:
        got, _ = follower.offer(seq, seq, 0.0)
        delivered += [e.seq for e in got]
    assert delivered == []  # nothing before priming
    # prime from the backend's view at this moment (it knows everything up to 39)
    window = authority.since(0, 0.0) or []
    got = follower.prime([(e.seq, e.item) for e in window[:10]], 10, 0.0)
    delivered += [e.seq for e in got]
    for seq in arrivals[half:]:
        got, _ = follower.offer(seq, seq, 0.0)
        delivered += [e.seq for e in got]
    # everything after the primed window arrives exactly once, in order
    assert delivered == list(range(11, 40))[: len(delivered)]
    assert len(set(delivered)) == len(delivered)
    if set(range(11, 40)) <= set(arrivals):
        assert delivered == list(range(11, 40))


def test_eventlog_gap_reported_and_skipped() -> None:
    f: EventLog[str] = EventLog(10, 100.0)
    assert f.offer(1, "a", 0.0) == ([f.since(0, 0.0)[0]], False)  # type: ignore[index]
    got, gap = f.offer(3, "c", 0.0)
    assert got == [] and gap and f.missing_after() == 1
    got = f.skip_gap(0.0)
    assert [e.seq for e in got] == [3]
    assert f.since(1, 0.0) is None and [e.seq for e in f.since(2, 0.0) or []] == [3]


# ---------------------------------------------------------------- sender policy


def test_policy_length_nfc_and_empty() -> None:
    p = SenderPolicy(PolicyLimits(rate=100, burst=100, max_chars=5))
    assert p.check_comment("u", "  e\u0301e\u0301e\u0301e\u0301e\u0301  ", 0.0) == "\u00e9" * 5
    with pytest.raises(CommentTooLong) as exc:
        p.check_comment("u", "abcdef", 0.0)
    assert exc.value.code == "too_long" and exc.value.to_wire()["limit"] == 5
    for blank in ["", "   ", "\t\n", "\u3000"]:
        with pytest.raises(EmptyComment):
            p.check_comment("u", blank, 0.0)
    assert normalize("a\nb\x00c") == "a b c"


def test_policy_rate_limit_and_duplicates() -> None:
    p = SenderPolicy(PolicyLimits(rate=1.0, burst=3.0, dup_window=10.0))
    for i in range(3):
        p.check_comment("u", f"m{i}", 0.0)
    with pytest.raises(RateLimited) as exc:
        p.check_comment("u", "m3", 0.0)
    assert exc.value.retry_after == pytest.approx(1.0)
    assert exc.value.code == "rate_limited"
    p.check_comment("other", "m0", 0.0)  # per user
    with pytest.raises(DuplicateComment):
        p.check_comment("u", "M0 ", 1.5)  # same text (case/space-insensitive), no token used
    p.check_comment("u", "m3", 1.5)
    p.check_comment("u", "m0", 12.0)  # the window has passed
    assert p.sweep(1000.0) == 2 and len(p) == 0


@given(st.lists(st.tuples(st.floats(0, 2), st.integers(0, 5)), max_size=100))
def test_policy_never_exceeds_bucket(steps: list[tuple[float, int]]) -> None:
    p = SenderPolicy(PolicyLimits(rate=1.0, burst=3.0, dup_window=0.0))
    now, accepted = 0.0, []
    for dt, n in steps:
        now += dt
        try:
            p.check_comment("u", f"text {n} {now}", now)
            accepted.append(now)
        except RateLimited:
            pass
    for i, t0 in enumerate(accepted):
        for j in range(i, len(accepted)):
            assert j - i + 1 <= 3 + (accepted[j] - t0) * 1.0 + 1e-9


def test_policy_two_phase_admit_then_commit_or_release() -> None:
    p = SenderPolicy(PolicyLimits(rate=0.01, burst=3.0, dup_window=10.0))
    first = p.admit("u", "hello", 0.0)
    with pytest.raises(DuplicateComment):
        p.admit("u", "HELLO", 0.1)  # the same text is being moderated right now
    p.release(first)  # moderation could not judge it (or rejected it)
    again = p.admit("u", "hello", 0.2)  # may be sent again ...
    p.commit(again)
    with pytest.raises(DuplicateComment):
        p.admit("u", "hello", 0.3)  # ... and once it went out, it is a duplicate
    p.admit("u", "other", 0.4)  # the third token: released or not, each admit spent one
    with pytest.raises(RateLimited):
        p.admit("u", "third", 0.5)
    q = SenderPolicy(PolicyLimits(rate=1.0, burst=1.0))
    pending = q.admit("v", "slow to judge", 0.0)
    assert q.sweep(100.0) == 0  # not forgotten while a comment is being moderated
    q.release(pending)
    assert q.sweep(100.0) == 1


def test_policy_likes_bounded() -> None:
    p = SenderPolicy(PolicyLimits(like_rate=10, like_burst=20, max_like_count=15))
    assert p.check_likes("u", 100, 0.0) == 15
    assert p.check_likes("u", 10, 0.0) == 5
    assert p.check_likes("u", 10, 0.0) == 0
    assert p.check_likes("u", 10, 1.0) == 10
    assert p.check_likes("u", -3, 5.0) == 0


# ---------------------------------------------------------------- comment history


def test_comment_history_keeps_public_comments_apart_from_shadowed_ones() -> None:
    h = CommentHistory(3, max_senders=4)
    h.add({"t": "real"})
    for i in range(10):
        h.add({"t": f"spam{i}"}, "spammer")
    h.add({"t": "real2"})
    h.add({"t": "spam10"}, "spammer")
    assert h.public() == [{"t": "real"}, {"t": "real2"}]
    assert h.items_for("someone") == h.public()
    # the sender sees her own shadowed comments merged in arrival order, last 3
    assert h.items_for("spammer") == [{"t": "spam9"}, {"t": "real2"}, {"t": "spam10"}]
    for i in range(10):  # many shadowed senders: only the 4 most recent are kept
        h.add({"t": "x"}, f"s{i}")
    assert h.senders == 4 and not h.has_shadowed("spammer") and h.has_shadowed("s9")
    assert CommentHistory(0).items_for("anyone") == []


# ---------------------------------------------------------------- frames


def _parse_ws(frame: bytes) -> tuple[int, bytes]:
    b0, b1 = frame[0], frame[1]
    assert b0 & 0x80 and not b1 & 0x80  # FIN, unmasked
    n, off = b1 & 0x7F, 2
    if n == 126:
        (n,), off = struct.unpack("!H", frame[2:4]), 4
    elif n == 127:
        (n,), off = struct.unpack("!Q", frame[2:10]), 10
    assert len(frame) == off + n
    return b0 & 0x0F, frame[off:]


@pytest.mark.parametrize("n", [0, 125, 126, 65535, 65536])
def test_ws_frame_lengths(n: int) -> None:
    opcode, payload = _parse_ws(ws_frame(b"x" * n, text=False))
    assert opcode == 2 and len(payload) == n
    assert _parse_ws(ws_frame(b"{}", text=True))[0] == 1


items_st = st.lists(
    st.fixed_dictionaries(
        {
            "kind": st.just("comment"),
            "id": st.text(max_size=8),
            "text": st.text(max_size=60),
            "ts": st.integers(0, 2**53),
        }
    ),
    max_size=30,
)


@given(items_st, st.integers(0, 10**6), st.sampled_from(list(FrameKind)))
def test_batch_frames_splice_skipped(items: list[dict[str, object]], skipped: int, kind: FrameKind) -> None:
    frames = BatchFrames("r1", items, compress_min=64)
    opcode, payload = _parse_ws(frames.get(kind, skipped))
    assert opcode == (1 if kind is FrameKind.JSON else 2)
    decoded = decode_frame_payload(payload, text=opcode == 1)
    expected = {"v": 1, "type": "danmaku.batch", "room": "r1", "items": items, "skipped": skipped}
    assert decoded == expected
    if kind is FrameKind.JSON:
        assert json.loads(payload) == expected
    elif kind is FrameKind.MSGPACK:
        assert msgpack.unpackb(payload) == expected
    assert frames.get(kind, skipped) is frames.get(kind, skipped) or skipped != 0
