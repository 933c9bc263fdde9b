"""Resume through a real node: the host, and members closed by the server for bad input."""

from __future__ import annotations

import json

import pytest

from helpers.livenode import HOST, SPEAKER, Client, node_config, running_node, token


async def test_host_resumes_and_keeps_her_room() -> None:
    async with running_node() as app:
        host = await Client.connect(app)
        joined = await host.join(token("h1", "hana", HOST))
        bo = await Client.connect(app)
        await bo.join(token("h1", "bo", SPEAKER))
        await bo.ok("seat.take", seat=1)
        last_seq = (await host.next_event("seat.changed", seat=1, user_id="bo"))["seq"]
        host.drop()
        await bo.next_event("member.away", user_id="hana")
        await bo.ok("seat.self_mute", muted=True)  # while she is away
        again = await Client.connect(app)
        resumed = await again.ok("session.resume", resume_token=joined["resume_token"], last_seq=last_seq)
        assert resumed["you"] == {"user_id": "hana", "name": "Hana", "role": "host", "seat": None}
        assert resumed["room"]["host_id"] == "hana"
        assert resumed["resume_token"] != joined["resume_token"]
        missed = await again.next_event("seat.changed", seat=1)  # replayed: the first after last_seq
        assert missed["data"]["self_muted"] is True and missed["seq"] > last_seq
        await bo.next_event("member.back", user_id="hana")
        # still the host: her moderation works
        await again.ok("seat.mute", seat=1, muted=True)
        await bo.next_event("seat.changed", seat=1, muted_by_host=True)
        assert await bo.error("seat.self_mute", muted=False) == "seat_muted_by_host"
        for c in (again, bo):
            await c.close()


async def _oversized(c: Client) -> None:
    await c.send_raw(json.dumps({"v": 1, "id": 99, "type": "ping", "data": {"x": "a" * 5000}}))


async def _flood(c: Client) -> None:
    for i in range(60):
        try:
            await c.send_raw(json.dumps({"v": 1, "id": 100 + i, "type": "ping"}))
        except Exception:
            return


async def _garbage(c: Client) -> None:
    for _ in range(10):
        await c.send_raw("garbage")


@pytest.mark.parametrize(
    ("code", "misbehave"),
    [(1009, _oversized), (4029, _flood), (4400, _garbage)],
    ids=["1009", "4029", "4400"],
)
async def test_member_closed_for_bad_input_stays_seated_away_and_can_resume(code, misbehave) -> None:  # type: ignore[no-untyped-def]
    """A protocol close is not a leave: the member keeps her seat as away and may resume."""
    # No refill during the test (0.001 token/s): the flood's close lands at an exact frame
    # (18 pongs after join and seat.take, 4 refusals, the 5th strike), however slow the runner.
    cfg = node_config(
        signaling={"max_frame_bytes": 4096, "request_rate": 0.001, "request_burst": 20, "flood_strikes": 5}
    )
    async with running_node(cfg) as app:
        host = await Client.connect(app)
        await host.join(token("b1", "hana", HOST))
        bo = await Client.connect(app)
        joined = await bo.join(token("b1", "bo", SPEAKER))
        await bo.ok("seat.take", seat=3)
        await misbehave(bo)
        assert await bo.wait_closed() == code
        if code == 4029:
            pongs = [f for f in bo.frames if f.get("type") == "reply" and f["id"] >= 100]
            assert [f["ok"] for f in pongs] == [True] * 18 + [False] * 4
        await host.next_event("member.away", user_id="bo")
        snap = await host.ok("room.snapshot")
        (entry,) = [m for m in snap["room"]["members"] if m["user_id"] == "bo"]
        assert entry["away"] is True and snap["room"]["seats"][2]["user_id"] == "bo"
        assert not [f for f in host.frames if f.get("event") == "member.left"]
        again = await Client.connect(app)
        resumed = await again.ok("session.resume", resume_token=joined["resume_token"])
        assert resumed["you"]["seat"] == 3 and resumed["you"]["role"] == "speaker"
        await host.next_event("member.back", user_id="bo")
        for c in (host, again):
            await c.close()
