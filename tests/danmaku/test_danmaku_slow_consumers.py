"""Clients that stop reading: the room keeps flowing, laggards skip then get 4010, memory
stays bounded.

Server sockets get SO_SNDBUF=8 KiB and laggards SO_RCVBUF=4 KiB so kernel buffers fill
after a few batches and the transports' own buffers (what the hub bounds) take the rest.

Memory bound (docs/protocol-danmaku.md, "Slow consumers and memory"): while readers are
stopped, the server's Python heap grows by at most 1.25 x (``soft_limit`` + 16 KiB) per
stopped reader -- the soft limit, one batch frame (< 16 KiB here) on top of it, and the
write buffer's over-allocation -- plus 256 KiB for the room as a whole.  Measured with
tracemalloc over the server side only (live allocations made under the hub's modules:
transport write buffers filled by the hub, frames, batches, room state); the test's own
clients are excluded, and kernel socket buffers are not Python heap.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
import tracemalloc
from collections.abc import Callable

from danmaku_kit import (
    MetricDeltas,
    client,
    drain_raw,
    eventually,
    hub_server,
    open_client,
    parse_raw,
    raw_ws,
    wait_until,
)

from livepark.danmaku import DanmakuHub, HubConfig, Sender, Subscriber
from livepark.danmaku.frames import CLOSE_SLOW_CONSUMER

SOFT, HARD = 16 * 1024, 64 * 1024
STALL = 2.5  # stall_timeout: the paused reader stalls ~0.5 s at a time; laggards never read
TEXT = "弹幕 " * 40 + "x" * 60  # ~140 code points, ~300 bytes of UTF-8


def config(**kw: float) -> HubConfig:
    base = dict(
        rate=10_000, burst=10_000, batch_window=0.05, soft_limit=SOFT, hard_limit=HARD,
        stall_timeout=STALL, close_grace=3.0, stats_interval=0.5, event_window=0.0,
        dup_window=0.0,
    )  # fmt: skip
    base.update(kw)
    return HubConfig(**base)  # type: ignore[arg-type]


async def produce(hub: DanmakuHub, seconds: float, per_second: int) -> int:
    sent, start = 0, time.monotonic()
    while time.monotonic() - start < seconds:
        for _ in range(per_second // 20):
            await hub.send_comment("r1", Sender(f"p{sent % 50}", "P"), f"{sent} {TEXT}")
            sent += 1
        await asyncio.sleep(0.05)
    return sent


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def drain_until(sock: socket.socket, done: Callable[[bytes], bool], within: float) -> bytes:
    """Read until ``done(all bytes read so far)``, EOF/reset, or ``within`` seconds."""
    loop = asyncio.get_running_loop()
    data = b""
    with contextlib.suppress(TimeoutError, ConnectionError):
        async with asyncio.timeout(within):
            while not done(data) and (chunk := await loop.sock_recv(sock, 65536)):
                data += chunk
    return data


async def test_laggards_skip_then_4010_while_room_flows_and_memory_is_bounded() -> None:
    kicks: list[tuple[str, str]] = []

    def on_kick(room: str, sub: Subscriber, reason: str) -> None:
        kicks.append((sub.user_id, reason))

    hub = DanmakuHub(config(), on_kick=on_kick)
    delta = MetricDeltas()
    async with hub_server(hub, sndbuf=8192) as hs:
        good = [await open_client(hs.url("r1", f"good{i}"), enc)
                for i, enc in enumerate(["json", "msgpack", "json"])]  # fmt: skip
        laggards = [await raw_ws(hs.port, f"/?room=r1&user=lag{i}&grace=1") for i in range(20)]
        # paused: stops reading, resumes well before the stall timeout -> told what it skipped
        paused, _ = await raw_ws(hs.port, "/?room=r1&user=paused")
        # sleeper: stops reading for good, then reads within the grace -> sees 4010
        sleeper, _ = await raw_ws(hs.port, "/?room=r1&user=sleeper&grace=15")
        n_conns = len(good) + len(laggards) + 2
        bound = n_conns * (SOFT + 16 * 1024)  # soft limit + one batch frame (<16 KiB) each
        peak = 0
        lags: list[float] = []  # event-loop lag: how late a 5 ms sleep wakes up (diagnostic)

        async def sample() -> None:
            nonlocal peak
            while True:
                peak = max(peak, hs.buffered_total())
                before = time.monotonic()
                await asyncio.sleep(0.005)
                lags.append(time.monotonic() - before - 0.005)

        sampler = asyncio.create_task(sample())
        # 5 s = 2 x stall_timeout: laggards (full after ~0.3 s) are kicked around 2.8 s and
        # the room keeps flowing past that
        producer = asyncio.create_task(produce(hub, 2 * STALL, 400))
        (paused_sub,) = hs.subscribers["paused"]
        paused_data, cycles, first_stop = b"", 0, None
        while not producer.done():
            # stop reading until the hub must skip batches for us (its buffer is past the
            # soft limit), stay stopped 0.5 s longer, then read: each stall lasts ~0.5 s
            # (plus scheduling delays), far below the 2.5 s stall timeout
            await wait_until(lambda: paused_sub.buffered() > SOFT or producer.done(), 3.0)
            if first_stop is None and paused_sub.buffered() > SOFT:
                first_stop = time.monotonic()
            await asyncio.sleep(0.5)
            paused_data += await drain_raw(paused, 0.3)
            cycles += 1
        # it stopped and resumed several times, over more than stall_timeout in all: a stall
        # clock that is not reset by a delivered batch would have kicked it
        assert first_stop is not None and cycles >= 3, (first_stop, cycles)
        assert time.monotonic() - first_stop > STALL
        sent = await producer
        paused_data += await drain_raw(paused, 0.3)  # buffer empties: the next batch goes out
        await hub.send_comment("r1", Sender("p0", "P"), f"{sent} the end")
        sent += 1

        def has_the_end(data: bytes) -> bool:
            frames, _ = parse_raw(paused_data + data)
            return any(i["text"].endswith(" the end") for f in frames if f["type"] == "danmaku.batch"
                       for i in f["items"])  # fmt: skip

        paused_data += await drain_until(paused, has_the_end, 5.0)

        # 1. the good members got everything, in order, never skipped, on time
        for g in good:
            await g.wait_for(lambda c: len(c.comments()) == sent)
            assert [int(x["text"].split()[0]) for x in g.comments()] == list(range(sent))
            assert all(b["skipped"] == 0 for b in g.of("danmaku.batch"))
            delays = [
                arrival - max(i["ts"] for i in f["items"]) / 1000
                for f, arrival in zip(g.frames, g.arrivals, strict=True)
                if f["type"] == "danmaku.batch"
            ]
            p95 = percentile(delays, 0.95)
            print(f"good member: publish->receipt p95 {p95 * 1000:.0f} ms, max "
                  f"{max(delays) * 1000:.0f} ms; event-loop lag max {max(lags) * 1000:.0f} ms")  # fmt: skip
            # the 0.05 s window plus fan-out; a stalled runner may delay a few frames, but a
            # good member held up by laggards would wait for their kick (>= 2.5 s) or forever
            assert p95 < 0.05 + 0.25, (p95, max(lags))
            assert max(delays) < 1.0, (max(delays), max(lags))

        # 2. laggards were kicked (stalled: they skipped every batch for 2.5 s)
        kicked = {u for u, _ in kicks}
        assert {f"lag{i}" for i in range(20)} <= kicked
        assert "sleeper" in kicked and not kicked & {"good0", "good1", "good2", "paused"}
        assert {r for _, r in kicks} == {"stalled"}
        assert delta("livepark_danmaku_slow_consumer_disconnects_total", reason="stalled") == 21
        assert delta("livepark_danmaku_slow_consumer_disconnects_total", reason="hard_limit") == 0
        assert delta("livepark_danmaku_messages_in_total", kind="comment") == sent
        lossy = delta("livepark_danmaku_deliveries_total", cls="lossy")
        assert len(good) * sent <= lossy < len(good) * sent + 22 * sent  # laggards got a part
        batches = sum(delta("livepark_danmaku_batches_total", reason=r) for r in ("window", "size"))
        assert batches >= len(good[0].of("danmaku.batch"))

        # 3. the paused client was told how much it skipped; nothing is unaccounted for
        frames, close = parse_raw(paused_data)
        paused_batches = [f for f in frames if f["type"] == "danmaku.batch"]
        got = sum(len(b["items"]) for b in paused_batches)
        skipped = sum(b["skipped"] for b in paused_batches)
        assert close is None and skipped > 0
        assert got + skipped == sent
        # every laggard (20 + sleeper + paused) skipped at least one batch before its kick
        assert delta("livepark_danmaku_skipped_batches_total") >= 22

        # 4. the sleeper reads the backlog then the 4010 close frame (then EOF)
        frames, close = parse_raw(await drain_raw(sleeper, 5.0))
        assert close == CLOSE_SLOW_CONSUMER

        # 5. memory stayed bounded, and is released once laggards are aborted
        sampler.cancel()
        print(f"peak server-side buffered bytes {peak} (bound {bound}, {n_conns} connections)")
        assert peak <= bound, (peak, bound)
        lag_subs = [s for u, subs in hs.subscribers.items() if u.startswith("lag") for s in subs]
        assert len(lag_subs) == 20 and all(s.closed for s in lag_subs)
        # raw laggards never read their close frame: aborted 1 s (their grace) after the kick
        await eventually(lambda: sum(s.buffered() for s in lag_subs) == 0, within=5.0)
        for g in good:
            await g.close()
        for sock, _ in laggards:
            sock.close()
        paused.close()
        sleeper.close()


async def test_must_not_lose_overflow_hits_hard_limit() -> None:
    kicks: list[tuple[str, str]] = []
    hub = DanmakuHub(
        config(stall_timeout=60.0),
        on_kick=lambda room, sub, reason: kicks.append((sub.user_id, reason)),
    )
    delta = MetricDeltas()
    async with hub_server(hub, sndbuf=8192) as hs:
        async with client(hs.url("r1", "good"), "msgpack") as good:
            lag, _ = await raw_ws(hs.port, "/?room=r1&user=lag&grace=10")
            peak = 0
            blob = "y" * 4000
            for i in range(60):  # 240 KB of events, far past the 64 KiB hard limit
                await hub.publish_event("r1", "gift.sent", {"i": i, "blob": blob})
                peak = max(peak, hs.buffered_total())
                await asyncio.sleep(0.005)
            await good.wait_for(lambda c: len(c.events()) == 60)
            assert [e["seq"] for e in good.events()] == list(range(1, 61))
            assert kicks == [("lag", "hard_limit")]
            assert delta("livepark_danmaku_slow_consumer_disconnects_total", reason="hard_limit") == 1
            assert delta("livepark_danmaku_deliveries_total", cls="reliable") >= 60
            assert peak <= 2 * HARD  # each connection stays under the hard limit
            # read within the 10 s grace: what was buffered (< hard limit), the close frame, EOF
            frames, close = parse_raw(await drain_raw(lag, 5.0))
            seqs = [f["seq"] for f in frames if f["type"] == "event"]
            assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) < 60
            assert close == CLOSE_SLOW_CONSUMER  # 4010 on the wire
            lag.close()


async def test_resume_whose_replay_exceeds_hard_limit_is_answered_gap_too_old() -> None:
    hub = DanmakuHub(config())
    delta = MetricDeltas()
    async with hub_server(hub) as hs:
        blob = "y" * 4000
        for i in range(40):  # 160 KB of history, more than the 64 KiB hard limit
            await hub.publish_event("r1", "gift.sent", {"i": i, "blob": blob})
        for attempt in range(2):  # the same answer every time: no 4010 reconnect loop
            async with client(hs.url("r1", "alice", resume=5)) as a:
                await a.wait_for(lambda c: bool(c.of("resume.gap_too_old")))
                assert a.of("attached")[0]["outcome"] == "gap_too_old"
                notice = a.of("resume.gap_too_old")[0]
                assert (notice["requested"], notice["latest_seq"]) == (5, 40 + attempt)
                assert a.events() == []
                # still connected: after reloading the snapshot it follows live events
                await hub.publish_event("r1", "gift.sent", {"i": "live"})
                live = [41 + attempt]
                await a.wait_for(lambda c, live=live: [e["seq"] for e in c.events()] == live)
                assert a.close_code is None
        async with client(hs.url("r1", "bob", resume=38)) as b:  # 4 events fit: replayed
            await b.wait_for(lambda c: [e["seq"] for e in c.events()] == [39, 40, 41, 42])
            assert b.of("attached")[0]["outcome"] == "replayed"
    assert delta("livepark_danmaku_resumes_total", outcome="gap_too_old") == 2
    assert delta("livepark_danmaku_resumes_total", outcome="replayed") == 1
    assert delta("livepark_danmaku_slow_consumer_disconnects_total", reason="hard_limit") == 0


SERVER_MODULES = tuple(
    f"livepark/danmaku/{m}.py"
    for m in ("hub", "room", "ws_subscriber", "batcher", "eventlog", "history", "intake", "join")
)
ROOM_SLACK = 256 * 1024
PER_STOPPED_READER = (SOFT + 16 * 1024) * 5 // 4


def server_heap(snapshot: tracemalloc.Snapshot) -> int:
    """Bytes still allocated whose allocation ran through the hub's modules (server side)."""
    return sum(
        t.size for t in snapshot.traces if any(f.filename.endswith(SERVER_MODULES) for f in t.traceback)
    )


async def test_server_memory_growth_per_stopped_reader_is_bounded() -> None:
    """While N readers are stopped (and not yet kicked), the server-side heap grows by at most
    N x 1.25 x (soft_limit + 16 KiB) + 256 KiB: skipped batches are not kept anywhere."""
    # 800 comments of ~340 B: each stopped reader is offered ~270 KB, 6.6x its bound
    hub = DanmakuHub(config(stall_timeout=60.0))  # nobody is kicked during the measurement
    async with hub_server(hub, sndbuf=8192) as hs:
        good = await open_client(hs.url("r1", "good"))
        stopped = [await raw_ws(hs.port, f"/?room=r1&user=stop{i}") for i in range(20)]
        await asyncio.sleep(0.2)
        tracemalloc.start(10)  # deep enough to reach the hub from a transport write
        sent, peak = 0, 0
        try:
            for _ in range(2):  # 2 x 400 comments, 20 every 50 ms (~400/s unless slowed)
                for _ in range(20):
                    for _ in range(20):
                        await hub.send_comment("r1", Sender(f"p{sent % 50}", "P"), f"{sent} {TEXT}")
                        sent += 1
                    await asyncio.sleep(0.05)
                await asyncio.sleep(0.1)  # the last batch is out; stopped buffers stay full
                peak = max(peak, server_heap(tracemalloc.take_snapshot()))
        finally:
            tracemalloc.stop()
        await good.wait_for(lambda c: len(c.comments()) == sent)
        offered = sent * len(TEXT.encode())  # what each stopped reader would hold unskipped
        bound = len(stopped) * PER_STOPPED_READER + ROOM_SLACK
        print(f"server heap growth {peak} B with {len(stopped)} stopped readers "
              f"({peak / len(stopped) / 1024:.1f} KiB each); bound {bound} B; "
              f"{sent} comments, ~{offered} B offered to each")  # fmt: skip
        assert offered > 3 * PER_STOPPED_READER  # the bound is far below "keep everything"
        assert peak <= bound, (peak, bound)
        await good.close()
        for sock, _ in stopped:
            sock.close()
