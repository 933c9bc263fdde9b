"""The hub over real WebSocket connections (websockets server + clients on 127.0.0.1)."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import msgpack
import pytest
from danmaku_kit import Client, FakeSub, MetricDeltas, client, eventually, gauge, hub_server, open_client

from livepark.clock import ManualClock
from livepark.danmaku import (
    DanmakuHub,
    Decision,
    HubConfig,
    InMemoryBroker,
    InMemoryPubSub,
    InvalidEvent,
    InvalidMode,
    Message,
    Sender,
    Verdict,
)

FAST = HubConfig(rate=1000, burst=1000, batch_window=0.1, stats_interval=0.2, event_window=0.0)


def sender(i: int | str) -> Sender:
    return Sender(f"u{i}", f"User {i}")


async def test_comments_in_one_window_arrive_in_one_frame_in_order() -> None:
    # The window is measured on the hub's clock: a manual one, so a stalled runner cannot
    # split it (the flush timer still runs for real and closes the batch once it is due).
    clock = ManualClock()
    hub = DanmakuHub(HubConfig(batch_window=0.3), clock=clock)
    async with hub_server(hub) as hs:
        async with client(hs.url("r1", "viewer")) as j, client(hs.url("r1", "v2"), "msgpack") as m:
            delta = MetricDeltas()
            sent = []
            for i in range(12):  # spread over 0.22 s of the 0.3 s window
                sent.append(await hub.send_comment("r1", sender(i), f"comment {i}"))
                clock.advance(0.02 if i < 11 else 0.0)
            stats = hub.room_stats("r1")
            assert stats is not None and stats.pending_items == 12  # one open batch, unsent
            assert j.of("danmaku.batch") == m.of("danmaku.batch") == []
            clock.advance(0.1)  # the window has elapsed: the flush timer sends the batch
            for c in (j, m):
                await c.wait_for(lambda c: len(c.comments()) == 12)
                batches = c.of("danmaku.batch")
                assert len(batches) == 1, "12 comments inside one window -> one frame"
                assert [i["id"] for i in batches[0]["items"]] == [r.id for r in sent]
                assert batches[0]["skipped"] == 0
            assert delta("livepark_danmaku_messages_in_total", kind="comment") == 12
            assert delta("livepark_danmaku_batches_total", reason="window") == 1
            assert delta("livepark_danmaku_frame_writes_total", cls="lossy") == 2
            assert delta("livepark_danmaku_deliveries_total", cls="lossy") == 24  # 12 x 2 members
            assert delta("livepark_danmaku_skipped_batches_total") == 0


async def test_ordering_across_many_windows_and_senders() -> None:
    hub = DanmakuHub(FAST)
    async with hub_server(hub) as hs:
        async with client(hs.url("r1", "a")) as a, client(hs.url("r1", "b"), "msgpack") as b:
            ids = []
            for i in range(60):
                ids.append((await hub.send_comment("r1", sender(i % 7), f"n{i}")).id)
                if i % 10 == 0:
                    await asyncio.sleep(0.03)
            for c in (a, b):
                await c.wait_for(lambda c: len(c.comments()) == 60)
                assert [x["id"] for x in c.comments()] == ids
                assert len(c.of("danmaku.batch")) >= 2


async def test_rate_limit_duplicate_and_length_over_websocket() -> None:
    clock = ManualClock()  # the bucket refills on the hub's clock, not on how slow we are
    hub = DanmakuHub(HubConfig(rate=1.0, burst=3.0, max_chars=10), clock=clock)
    async with hub_server(hub) as hs, client(hs.url("r1", "alice")) as a:
        ok = [await a.request("danmaku.send", {"text": f"hi {i}"}) for i in range(3)]
        assert all(r["type"] == "danmaku.send.ok" for r in ok)
        limited = await a.request("danmaku.send", {"text": "hi 3"})
        assert limited["error"]["code"] == "rate_limited"
        assert 0 < limited["error"]["retry_after"] <= 1.0
        dup = await a.request("danmaku.send", {"text": "hi 0"})
        assert dup["error"]["code"] == "duplicate"
        long = await a.request("danmaku.send", {"text": "x" * 11})
        assert long["error"] == {"code": "too_long", "message": long["error"]["message"],
                                 "limit": 10}  # fmt: skip
        empty = await a.request("danmaku.send", {"text": " \u3000 "})
        assert empty["error"]["code"] == "empty"
        clock.advance(1.05)
        assert (await a.request("danmaku.send", {"text": "later"}))["type"] == "danmaku.send.ok"
        clock.advance(0.2)  # past its batch window
        await a.wait_for(lambda c: len(c.comments()) == 4)
        assert [x["text"] for x in a.comments()] == ["hi 0", "hi 1", "hi 2", "later"]


class WordModerator:
    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.calls: list[tuple[str, str, str]] = []

    async def check(self, room_id: str, user_id: str, text: str) -> Verdict:
        self.calls.append((room_id, user_id, text))
        if self.delay:
            await asyncio.sleep(self.delay)
        if "spam" in text:
            return Verdict(Decision.SHADOW, (("ad", "spam"),))
        if "bad" in text:
            return Verdict(Decision.REJECT, (("abuse",),), 0.99)
        if "hmm" in text:
            return Verdict(Decision.REVIEW)
        return Verdict.passed()


async def test_shadow_only_to_sender_and_reject_never_fanned_out() -> None:
    mod = WordModerator()
    hub = DanmakuHub(FAST, moderator=mod)
    async with hub_server(hub) as hs:
        async with (
            client(hs.url("r1", "alice")) as a1,
            client(hs.url("r1", "alice"), "msgpack") as a2,
            client(hs.url("r1", "bob")) as b,
        ):
            r1 = await a1.request("danmaku.send", {"text": "buy spam now"})
            assert r1["type"] == "danmaku.send.ok"  # indistinguishable for the sender
            r2 = await a1.request("danmaku.send", {"text": "bad words"})
            assert r2["error"]["code"] == "rejected"
            r3 = await b.request("danmaku.send", {"text": "hello"})
            r4 = await a1.request("danmaku.send", {"text": "hmm ok"})  # review -> pass
            assert r3["type"] == r4["type"] == "danmaku.send.ok"
            for c in (a1, a2):
                await c.wait_for(lambda c: len(c.comments()) == 3)
                assert [x["text"] for x in c.comments()] == ["buy spam now", "hello", "hmm ok"]
            await b.wait_for(lambda c: len(c.comments()) == 2)
            await asyncio.sleep(0.25)
            assert [x["text"] for x in b.comments()] == ["hello", "hmm ok"]
            assert ("r1", "alice", "bad words") in mod.calls
        # history: the shadowed comment is in alice's history only
        async with client(hs.url("r1", "alice")) as a3, client(hs.url("r1", "carol")) as c:
            hist_a = a3.of("danmaku.history")[0]["items"]
            hist_c = c.of("danmaku.history")[0]["items"]
            assert [x["text"] for x in hist_a] == ["buy spam now", "hello", "hmm ok"]
            assert [x["text"] for x in hist_c] == ["hello", "hmm ok"]


@pytest.mark.parametrize("fail_open", [False, True])
async def test_moderation_timeout_policy(fail_open: bool) -> None:
    cfg = HubConfig(moderation_timeout=0.05, moderation_fail_open=fail_open, batch_window=0.05)
    hub = DanmakuHub(cfg, moderator=WordModerator(delay=1.0))
    async with hub_server(hub) as hs, client(hs.url("r1", "alice")) as a:
        resp = await a.request("danmaku.send", {"text": "slow filter"})
        if fail_open:
            assert resp["type"] == "danmaku.send.ok"
            await a.wait_for(lambda c: len(c.comments()) == 1)
        else:
            assert resp["error"]["code"] == "moderation_unavailable"
            # past the slow verdict (1.0 s) and one more window: a late verdict publishes nothing
            await asyncio.sleep(1.2)
            assert a.comments() == []


async def test_history_on_join() -> None:
    hub = DanmakuHub(HubConfig(rate=1000, burst=1000, history_comments=20, batch_window=0.05))
    async with hub_server(hub) as hs:
        ids = [(await hub.send_comment("r1", sender(i), f"c{i}")).id for i in range(25)]
        await asyncio.sleep(0.1)
        for enc in ("json", "msgpack"):
            async with client(hs.url("r1", f"late-{enc}"), enc) as late:
                hist = late.of("danmaku.history")
                assert len(hist) == 1
                assert [x["id"] for x in hist[0]["items"]] == ids[-20:]
        async with client(hs.url("empty-room", "x")) as x:
            assert x.of("danmaku.history")[0]["items"] == []


async def test_resume_after_reconnect_no_gap_no_duplicate() -> None:
    hub = DanmakuHub(FAST)
    async with hub_server(hub) as hs:
        a = await open_client(hs.url("r1", "alice"), "msgpack")
        for i in range(5):
            await hub.publish_event("r1", "seat.changed", {"seat": i, "user": f"u{i}"})
        await a.wait_for(lambda c: len(c.events()) == 5)
        last = a.events()[-1]["seq"]
        await a.close()
        for i in range(5, 9):  # published while alice is away
            await hub.publish_event("r1", "member.joined", {"user": f"u{i}"})
        b = await open_client(hs.url("r1", "alice", resume=last), "msgpack")
        await hub.publish_event("r1", "seat.changed", {"seat": 9})
        await b.wait_for(lambda c: len(c.events()) == 5)
        await asyncio.sleep(0.1)
        seqs = [e["seq"] for e in a.events()] + [e["seq"] for e in b.events()]
        assert seqs == list(range(1, 11))
        assert b.of("attached")[0]["outcome"] == "replayed"
        assert b.events()[0]["event"] == "member.joined"
        await b.close()


async def test_resume_too_old_is_answered_as_such() -> None:
    hub = DanmakuHub(HubConfig(history_events=5, event_window=0.0))
    async with hub_server(hub) as hs:
        for i in range(20):
            await hub.publish_event("r1", "gift.sent", {"n": i})
        async with client(hs.url("r1", "alice", resume=3), "json") as a:
            await a.wait_for(lambda c: bool(c.of("resume.gap_too_old")))
            notice = a.of("resume.gap_too_old")[0]
            assert notice == {"v": 1, "type": "resume.gap_too_old", "room": "r1",
                              "requested": 3, "latest_seq": 20}  # fmt: skip
            assert a.events() == []
            assert a.of("attached")[0]["outcome"] == "gap_too_old"
            await hub.publish_event("r1", "gift.sent", {"n": 20})  # live again after reload
            await a.wait_for(lambda c: [e["seq"] for e in c.events()] == [21])
        async with client(hs.url("r1", "bob", resume=16)) as b:  # inside the window (17..21)
            await b.wait_for(lambda c: [e["seq"] for e in c.events()] == list(range(17, 22)))
        async with client(hs.url("r1", "eve", resume=99)) as e:  # from the future
            await e.wait_for(lambda c: bool(c.of("resume.gap_too_old")))


async def test_likes_and_online_pushed_periodically() -> None:
    # The test drives the ticks itself (the timer would first fire after 60 s), so how many
    # pushes a busy runner fits in between does not matter; the timer-driven push is covered
    # by test_two_nodes_share_comments_and_one_sequence.
    hub = DanmakuHub(replace(FAST, stats_interval=60.0))

    def pushed(c: Client) -> list[tuple[int, int, int]]:
        return [(s["online"], s["likes"], s["new_likes"]) for s in c.of("danmaku.stats")]

    async with hub_server(hub) as hs:
        async with (
            client(hs.url("r1", "a")) as a,
            client(hs.url("r1", "b"), "msgpack") as b,
            client(hs.url("r1", "b")) as b2,  # same user twice counts once
        ):
            hub.tick()
            for c in (a, b, b2):
                await c.wait_for(lambda c: pushed(c) == [(2, 0, 0)])
            for _ in range(10):
                await a.send("danmaku.like", {"count": 3})
            await b.send("danmaku.like", {"count": 1000})  # clamped to max_like_count (50)
            await eventually(lambda: getattr(hub.room_stats("r1"), "likes", None) == 80)
            assert pushed(a) == [(2, 0, 0)]  # 11 like requests, no push: not per like
            hub.tick()  # one push carries all of them
            hub.tick()  # nothing changed: nothing pushed
            hub.like("r1", "a", 1)
            hub.tick()
            for c in (a, b, b2):  # frames are ordered: an extra push would show up in between
                await c.wait_for(lambda c: len(pushed(c)) >= 3)
                assert pushed(c) == [(2, 0, 0), (2, 80, 80), (2, 81, 1)]


async def test_compressed_batches_and_encode_once() -> None:
    clock = ManualClock()  # all 30 comments in one window however slow the runner is
    hub = DanmakuHub(HubConfig(rate=1000, burst=1000, batch_window=0.05, compress_min_bytes=64),
                     clock=clock)  # fmt: skip
    subs = {
        "j1": FakeSub("j1"), "j2": FakeSub("j2"),
        "m1": FakeSub("m1", "msgpack"), "m2": FakeSub("m2", "msgpack"),
        "z1": FakeSub("z1", "msgpack"), "z2": FakeSub("z2", "msgpack"),
    }  # fmt: skip
    for name, sub in subs.items():
        await hub.attach("r1", sub, compress=name.startswith("z"))
        sub.raw.clear()
    for i in range(30):
        await hub.send_comment("r1", sender(i), f"a fairly ordinary comment number {i}")
    clock.advance(0.1)
    await eventually(lambda: all(sub.raw for sub in subs.values()))
    for a, b in (("j1", "j2"), ("m1", "m2"), ("z1", "z2")):
        assert subs[a].raw and all(x is y for x, y in zip(subs[a].raw, subs[b].raw, strict=True))
    assert len(subs["z1"].raw[0]) < len(subs["m1"].raw[0]) / 2  # compressed once, smaller
    assert subs["z1"].frames() == subs["m1"].frames() == subs["j1"].frames()
    await hub.aclose()


async def test_speaker_levels_coalesce_latest_wins() -> None:
    clock = ManualClock()  # all five in one window however slow the runner is
    hub = DanmakuHub(HubConfig(batch_window=0.1), clock=clock)
    sub = FakeSub("x", "msgpack")
    await hub.attach("r1", sub)
    sub.raw.clear()  # the history frame
    for level in range(5):
        hub.publish_lossy("r1", "speaker.levels", {"u1": level}, key="speaker.levels")
    clock.advance(0.2)
    await eventually(lambda: bool(sub.raw))
    items = [i for f in sub.frames() if f["type"] == "danmaku.batch" for i in f["items"]]
    assert [(i["kind"], i["data"]) for i in items] == [("speaker.levels", {"u1": 4})]
    await hub.aclose()


async def test_two_nodes_share_comments_and_one_sequence() -> None:
    broker = InMemoryBroker()
    n1 = DanmakuHub(FAST, pubsub=InMemoryPubSub(broker, "n1"))
    n2 = DanmakuHub(FAST, pubsub=InMemoryPubSub(broker, "n2"))
    async with hub_server(n1) as h1, hub_server(n2) as h2:
        async with client(h1.url("r1", "alice")) as a, client(h2.url("r1", "bob")) as b:
            await n1.send_comment("r1", sender("alice"), "from node 1")
            await n2.send_comment("r1", sender("bob"), "from node 2")
            s1 = await n1.publish_event("r1", "seat.changed", {"seat": 1})
            s2 = await n2.publish_event("r1", "seat.changed", {"seat": 2})
            s3 = await n1.publish_event("r1", "seat.changed", {"seat": 3})
            assert (s1, s2, s3) == (1, 2, 3)
            for c in (a, b):
                await c.wait_for(lambda c: len(c.comments()) == 2 and len(c.events()) == 3)
                assert sorted(x["text"] for x in c.comments()) == ["from node 1", "from node 2"]
                assert [e["seq"] for e in c.events()] == [1, 2, 3]
            for _ in range(10):
                n1.like("r1", "alice", 1)
            await b.wait_for(lambda c: any(s["likes"] == 10 and s["online"] == 2
                                           for s in c.of("danmaku.stats")))  # fmt: skip
        # bob moves to node 1 and resumes there: nothing lost, nothing twice
        await n2.publish_event("r1", "seat.changed", {"seat": 4})
        async with client(h1.url("r1", "bob", resume=3)) as b2:
            await b2.wait_for(lambda c: [e["seq"] for e in c.events()] == [4])
        # a third node joining late primes its history from the backend
        n3 = DanmakuHub(FAST, pubsub=InMemoryPubSub(broker, "n3"))
        late = FakeSub("carol")
        res = await n3.attach("r1", late, resume_from=1)
        assert res.outcome == "replayed" and late.seqs() == [2, 3, 4]
        await n3.aclose()


async def test_close_room_flushes_and_forgets() -> None:
    hub = DanmakuHub(HubConfig(batch_window=5.0))
    sub = FakeSub("x")
    await hub.attach("r1", sub)
    await hub.send_comment("r1", sender(1), "last words")
    await hub.close_room("r1")
    assert [i["text"] for f in sub.frames() if f["type"] == "danmaku.batch" for i in f["items"]] == [
        "last words"
    ]
    assert hub.room_stats("r1") is None
    await hub.aclose()


async def test_invalid_payloads_are_refused_with_codes() -> None:
    hub = DanmakuHub(HubConfig())
    with pytest.raises(InvalidEvent):
        await hub.publish_event("r1", "seat.changed", {"bad": object()})
    with pytest.raises(InvalidEvent):
        hub.publish_lossy("r1", "speaker.levels", {"bad": {1, 2}})
    with pytest.raises(InvalidMode) as exc:
        await hub.send_comment("r1", sender(1), "hi", mode="sideways")
    assert exc.value.to_wire()["code"] == "invalid_mode"
    await hub.aclose()


async def test_shadowed_spam_cannot_push_real_comments_out_of_history() -> None:
    hub = DanmakuHub(
        HubConfig(rate=1000, burst=1000, dup_window=0.0, history_comments=5, batch_window=0.05),
        moderator=WordModerator(),
    )
    async with hub_server(hub) as hs:
        real = await hub.send_comment("r1", sender("bob"), "a real comment")
        for i in range(50):  # every one of them shadowed by moderation
            await hub.send_comment("r1", sender("spammer"), f"spam {i}")
        async with client(hs.url("r1", "carol")) as carol, client(hs.url("r1", "uspammer")) as spammer:
            assert [x["id"] for x in carol.of("danmaku.history")[0]["items"]] == [real.id]
            # the spammer still sees her own comments, as if they had gone out
            mine = spammer.of("danmaku.history")[0]["items"]
            assert [x["text"] for x in mine] == [f"spam {i}" for i in range(45, 50)]


async def test_retry_after_moderation_unavailable_and_rejects_cost_a_token() -> None:
    mod = WordModerator(delay=1.0)  # slower than the timeout: fail-closed refusals
    hub = DanmakuHub(HubConfig(moderation_timeout=0.05, batch_window=0.05, rate=0.1, burst=4), moderator=mod)
    delta = MetricDeltas()
    async with hub_server(hub) as hs, client(hs.url("r1", "alice")) as a:
        first = await a.request("danmaku.send", {"text": "hello there"})
        assert first["error"]["code"] == "moderation_unavailable"
        mod.delay = 0.0  # moderation is back
        again = await a.request("danmaku.send", {"text": "hello there"})
        assert again["type"] == "danmaku.send.ok", again  # the retry is judged, not "duplicate"
        await a.wait_for(lambda c: [x["text"] for x in c.comments()] == ["hello there"])
        dup = await a.request("danmaku.send", {"text": "hello there"})
        assert dup["error"]["code"] == "duplicate"  # it went out: now it is a duplicate
        # a rejected text is not remembered either: resent, it is moderated (and rejected) again
        assert (await a.request("danmaku.send", {"text": "bad one"}))["error"]["code"] == "rejected"
        assert (await a.request("danmaku.send", {"text": "bad one"}))["error"]["code"] == "rejected"
        assert [c for c in mod.calls if c[2] == "bad one"] == [("r1", "alice", "bad one")] * 2
        # every comment that reached moderation took a token (burst 4): the bucket is empty
        limited = await a.request("danmaku.send", {"text": "a fine comment"})
        assert limited["error"]["code"] == "rate_limited"
    assert delta("livepark_danmaku_refused_total", code="moderation_unavailable") == 1
    assert delta("livepark_danmaku_refused_total", code="rejected") == 2
    assert delta("livepark_danmaku_refused_total", code="duplicate") == 1
    assert delta("livepark_danmaku_messages_in_total", kind="comment") == 1


@pytest.mark.parametrize(
    ("config", "age", "resume", "outcome"),
    [
        # more events than the in-memory backend's own default (1000) are kept when asked
        (HubConfig(history_events=1500, event_window=0.0), 0.0, 100, "replayed"),
        # a shorter configured age than its default (300 s) is honoured by the backend too
        (HubConfig(history_seconds=10.0, event_window=0.0), 60.0, 1, "gap_too_old"),
    ],
)
async def test_default_pubsub_keeps_the_configured_history_window(
    config: HubConfig, age: float, resume: int, outcome: str
) -> None:
    now = [1000.0]
    hub = DanmakuHub(config, clock=lambda: now[0])
    n = 1200 if outcome == "replayed" else 10
    for i in range(n):
        await hub.publish_event("r1", "gift.sent", {"n": i})
    await hub.close_room("r1", delete_history=False)  # this node forgets; the backend keeps
    now[0] += age
    sub = FakeSub("alice")
    result = await hub.attach("r1", sub, resume_from=resume)  # the room is re-primed
    assert result.outcome == outcome
    assert sub.seqs() == (list(range(resume + 1, n + 1)) if outcome == "replayed" else [])
    await hub.aclose()


class DroppingBroker(InMemoryBroker):
    """The in-memory backend with a lossy link to its nodes: deliveries of ``drop`` seqs vanish."""

    def __init__(self, drop: set[int]) -> None:
        super().__init__()
        self.drop = drop

    def _deliver(self, message: Message) -> None:
        if message.seq not in self.drop:
            super()._deliver(message)


async def test_laggards_skipped_stats_are_counted_and_queue_gauges_sampled() -> None:
    broker = DroppingBroker(drop={2})
    cfg = HubConfig(soft_limit=1024, hard_limit=1 << 20, stats_interval=60.0, event_window=30.0)
    hub = DanmakuHub(cfg, pubsub=InMemoryPubSub(broker, "n1"))
    lag, ok = FakeSub("lag"), FakeSub("ok")
    await hub.attach("r1", lag)
    await hub.attach("r1", ok)
    lag.size = 4096  # its outbound buffer is past the soft limit
    delta = MetricDeltas()
    hub.like("r1", "ok", 5)
    hub.tick()
    assert [f["likes"] for f in ok.frames() if f["type"] == "danmaku.stats"] == [5]
    assert [f for f in lag.frames() if f["type"] == "danmaku.stats"] == []
    assert delta("livepark_danmaku_skipped_batches_total") == 1
    assert delta("livepark_danmaku_messages_in_total", kind="like") == 5
    # must-not-lose: two events wait in the (long) event window, then seq 2 is lost in transit
    await hub.publish_event("r1", "seat.changed", {"seat": 1})
    other = InMemoryPubSub(broker, "n2")
    payload = msgpack.packb({"n": "n2", "e": "seat.changed", "d": {"seat": 2}, "t": 0})
    await other.append("danmaku:r1", payload)  # seq 2: never delivered to n1
    await other.append("danmaku:r1", payload)  # seq 3: delivered, held until 2 is refetched
    await asyncio.sleep(0)  # run the deliveries already scheduled (call_soon), nothing timed
    hub.tick()
    assert gauge("livepark_danmaku_reliable_queue_depth") == 1  # seq 1, in the event window
    assert gauge("livepark_danmaku_pending_events") == 1  # seq 3, waiting for seq 2

    def refetched() -> bool:
        hub.tick()
        return gauge("livepark_danmaku_pending_events") == 0

    await eventually(refetched)  # the gap is refetched (after its 50 ms grace)
    assert gauge("livepark_danmaku_reliable_queue_depth") == 3  # 1, 2, 3: window still open
    assert ok.seqs() == []
    hub.flush_events("r1")
    hub.tick()
    assert gauge("livepark_danmaku_reliable_queue_depth") == 0
    assert gauge("livepark_danmaku_pending_events") == 0
    assert ok.seqs() == [1, 2, 3]
    await hub.aclose()
