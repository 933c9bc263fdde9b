"""Bad input over real sockets: a clear error or close code, and the room undisturbed."""

from __future__ import annotations

import asyncio
import json

import msgpack
from websockets.asyncio.client import connect

from helpers.livenode import HOST, SPEAKER, Client, node_config, running_node, token


async def _room_with_host(app):  # type: ignore[no-untyped-def]
    host = await Client.connect(app)
    await host.join(token("bad", "hana", HOST))
    return host


async def test_malformed_unknown_and_out_of_turn() -> None:
    async with running_node() as app:
        host = await _room_with_host(app)
        c = await Client.connect(app)
        assert await c.error("seat.take", seat=1) == "not_joined"
        await c.send_raw("{not json")
        reply = await c.next_frame("reply")
        assert reply["ok"] is False and reply["error"]["code"] == "bad_request" and reply["id"] is None
        await c.send_raw(msgpack.packb({"v": 1, "id": 5, "type": 7}))
        reply = await c.next_frame("reply")
        assert (reply["id"], reply["error"]["code"]) == (5, "bad_request")
        await c.join(token("bad", "bo", SPEAKER))
        assert await c.error("join", token=token("bad", "bo", SPEAKER)) == "already_joined"
        assert await c.error("teleport") == "unknown_type"
        assert await c.error("seat.take", seat="three") == "bad_request"
        assert await c.error("seat.take", seat=99) == "no_such_seat"
        assert await c.error("member.kick", user_id="hana", ban_seconds=-1) == "bad_request"
        # the room is undisturbed: the host still acts, and bo still sees it
        await host.ok("seat.lock", seat=2, locked=True)
        ev = await c.next_event("seat.changed", seat=2)
        assert ev["data"]["locked"] is True
        await c.close()
        await host.close()


async def test_oversized_frame_closes_1009_and_room_continues() -> None:
    async with running_node(node_config(signaling={"max_frame_bytes": 4096})) as app:
        host = await _room_with_host(app)
        big = await Client.connect(app)
        await big.join(token("bad", "bo"))
        await big.send_raw(json.dumps({"v": 1, "id": 1, "type": "ping", "data": {"x": "a" * 5000}}))
        assert await big.wait_closed() == 1009
        assert (await host.ok("ping"))["online"] >= 1
        await host.close()


async def test_repeated_garbage_closes_4400() -> None:
    async with running_node() as app:
        c = await Client.connect(app)
        for _ in range(10):
            await c.send_raw("garbage")
        assert await c.wait_closed() == 4400


# A refill rate so low that no token comes back during a test: which frames are served,
# refused, and close the connection is then exact, however slowly the machine runs.
NO_REFILL = 0.001


async def test_flood_is_rate_limited_then_closed_4029() -> None:
    burst, strikes = 5, 10
    cfg = node_config(signaling={"request_rate": NO_REFILL, "request_burst": burst, "flood_strikes": strikes})
    async with running_node(cfg) as app:
        host = await _room_with_host(app)
        c = await Client.connect(app)
        await c.join(token("bad", "bo"))  # one token of the burst
        for i in range(40):
            try:
                await c.send_raw(json.dumps({"v": 1, "id": 100 + i, "type": "ping"}))
            except Exception:
                break
        assert await c.wait_closed() == 4029
        pings = [f for f in c.frames if f.get("type") == "reply" and f["id"] >= 100]
        # the rest of the burst is served, then strikes - 1 refusals; the strikes-th one closes
        assert [f["id"] for f in pings] == list(range(100, 100 + burst - 1 + strikes - 1))
        assert [f["ok"] for f in pings] == [True] * (burst - 1) + [False] * (strikes - 1)
        codes = [f["error"]["code"] for f in pings if not f["ok"]]
        assert codes == ["rate_limited"] * (strikes - 1)
        assert (await host.ok("ping"))["t"] is None  # the host is unaffected
        await host.close()


async def test_auth_timeout_4002_and_heartbeat_4008() -> None:
    # Two nodes: the member who joins must not race a 0.3 s auth limit to get her join in.
    async with running_node(node_config(signaling={"auth_timeout": 0.3})) as app:
        silent = await Client.connect(app)
        assert await silent.wait_closed() == 4002
    async with running_node(node_config(signaling={"idle_timeout": 1.0})) as app:
        c = await Client.connect(app)
        await c.join(token("bad", "hana", HOST))
        assert await c.wait_closed(timeout=5) == 4008


async def test_bad_tokens_get_codes_then_4001() -> None:
    async with running_node() as app:
        c = await Client.connect(app)
        assert await c.error("join", token="nope") == "token_malformed"
        assert await c.error("join", token=token("bad", "x", HOST, verified=False)) == "not_verified"
        assert await c.error("join", token=token("bad", "x", HOST), room="other") == "token_wrong_room"
        assert await c.wait_closed() == 4001


async def test_json_is_default_and_unknown_subprotocol_falls_back() -> None:
    async with running_node() as app:
        assert app.ports is not None
        async with connect(f"ws://127.0.0.1:{app.ports.ws}/", subprotocols=["x.unknown"]) as ws:  # type: ignore[list-item]
            assert ws.subprotocol is None
            await ws.send(json.dumps({"v": 1, "id": 1, "type": "ping"}))
            reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert reply["ok"] is True


async def test_flood_of_big_malformed_frames_is_cut_off() -> None:
    """Garbage counts toward the rate limit like any request: 60 KB malformed frames mixed with
    valid pings (which used to reset the malformed count and leave the garbage unlimited) get
    the connection closed with 4029 within a bounded number of frames."""
    burst, strikes = 40, 20  # the defaults, without refill: the close lands at an exact frame
    cfg = node_config(signaling={"request_rate": NO_REFILL, "request_burst": burst, "flood_strikes": strikes})
    async with running_node(cfg) as app:
        c = await Client.connect(app)
        garbage = "x" * 60_000
        try:
            for i in range(150):
                await c.send_raw(garbage if i % 5 else json.dumps({"v": 1, "id": i, "type": "ping"}))
        except Exception:
            pass
        assert await c.wait_closed() == 4029
        replies = [f for f in c.frames if f.get("type") == "reply"]
        # the burst (8 pongs, 32 bad_request), then strikes - 1 refusals; the next frame closes
        assert len(replies) == burst + strikes - 1
        served, refused = replies[:burst], replies[burst:]
        assert [f["id"] for f in served if f["ok"]] == list(range(0, burst, 5))
        assert [f["error"]["code"] for f in served if not f["ok"]] == ["bad_request"] * (burst * 4 // 5)
        assert [f["error"]["code"] for f in refused] == ["rate_limited"] * (strikes - 1)
