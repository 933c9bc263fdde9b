"""Hub-level property: every must-not-lose event reaches a member exactly once, in order,
across any number of disconnect/resume points inside the window, with events published
concurrently with the resumes (fake subscribers; the wire tests use real sockets)."""

from __future__ import annotations

import asyncio

from danmaku_kit import FakeSub
from hypothesis import given, settings
from hypothesis import strategies as st

from livepark.danmaku import DanmakuHub, HubConfig

op = st.one_of(
    st.tuples(st.just("publish"), st.integers(1, 5)),  # burst of concurrent publishes
    st.tuples(st.just("reconnect"), st.booleans()),  # resume now / after a yield
    st.tuples(st.just("sleep"), st.sampled_from([0.0, 0.004, 0.012])),
)


@given(st.lists(op, min_size=1, max_size=25), st.sampled_from([0.0, 0.005]))
@settings(max_examples=60, deadline=None)
def test_events_exactly_once_across_resumes(ops: list[tuple[str, object]], window: float) -> None:
    async def scenario() -> None:
        hub = DanmakuHub(HubConfig(event_window=window, history_events=1000))
        conns = [FakeSub("alice", "msgpack")]
        await hub.attach("r1", conns[0])
        published = 0
        pending: list[asyncio.Task[int]] = []
        for kind, arg in ops:
            if kind == "publish":
                assert isinstance(arg, int)
                pending += [
                    asyncio.create_task(hub.publish_event("r1", "seat.changed", {"n": i})) for i in range(arg)
                ]
                published += arg
            elif kind == "reconnect":
                old = conns[-1]
                hub.detach("r1", old)
                old.close(1001, "gone")
                if arg:
                    await asyncio.sleep(0)
                seen = [s for c in conns for s in c.seqs()]
                new = FakeSub("alice", "msgpack")
                conns.append(new)
                res = await hub.attach("r1", new, resume_from=seen[-1] if seen else 0)
                assert res.outcome == "replayed"
            else:
                assert isinstance(arg, float)
                await asyncio.sleep(arg)
        await asyncio.gather(*pending)
        await asyncio.sleep(window + 0.01)
        seqs = [s for c in conns for s in c.seqs()]
        assert seqs == list(range(1, published + 1))
        await hub.aclose()

    asyncio.run(scenario())
