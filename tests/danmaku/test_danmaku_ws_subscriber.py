"""The websockets adapter: frames never interleave with the connection's own (fragmented)
sends, nothing is written after close, both encodings, and 4010 closes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import msgpack
import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from livepark.danmaku import DanmakuHub, HubConfig, WebSocketSubscriber
from livepark.danmaku.frames import CLOSE_SLOW_CONSUMER

SUBPROTOCOLS = ["livepark.v1.json", "livepark.v1.msgpack"]


@pytest.mark.parametrize("encoding", ["json", "msgpack"])
async def test_held_during_fragmented_send_and_no_write_after_close(encoding: str) -> None:
    hub = DanmakuHub(HubConfig(event_window=0.0))
    done = asyncio.Event()
    subs: list[WebSocketSubscriber] = []

    async def handler(ws: ServerConnection) -> None:
        sub = WebSocketSubscriber(ws, "alice")
        subs.append(sub)
        assert sub.encoding == encoding
        await hub.attach("r1", sub)

        async def fragments() -> AsyncIterator[str]:
            yield "part1-"
            await hub.publish_event("r1", "seat.changed", {"seat": 1})  # mid-message
            await asyncio.sleep(0.05)
            yield "part2"

        await ws.send(fragments())
        await hub.publish_event("r1", "seat.changed", {"seat": 2})
        await done.wait()
        await ws.close()
        assert sub.closed and sub.write_frame(b"\x81\x00") is False
        hub.detach("r1", sub)

    async with serve(handler, "127.0.0.1", 0, subprotocols=SUBPROTOCOLS, compression=None) as srv:  # type: ignore[arg-type]
        port = srv.sockets[0].getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}/", subprotocols=[f"livepark.v1.{encoding}"],  # type: ignore[list-item]
                           compression=None) as ws:  # fmt: skip
            got = [await ws.recv() for _ in range(4)]
            done.set()
            with pytest.raises(ConnectionClosed):
                await ws.recv()

    def decode(m: str | bytes) -> object:
        return json.loads(m) if isinstance(m, str) else msgpack.unpackb(m)

    history, fragmented, ev1, ev2 = got
    assert decode(history)["type"] == "danmaku.history"  # type: ignore[index]
    assert fragmented == "part1-part2"  # the held event did not split the message
    assert [decode(e)["data"]["seat"] for e in (ev1, ev2)] == [1, 2]  # type: ignore[index]
    await hub.aclose()


async def test_close_with_4010_then_abort_after_grace() -> None:
    closed = asyncio.Event()
    subs: list[WebSocketSubscriber] = []

    async def handler(ws: ServerConnection) -> None:
        sub = WebSocketSubscriber(ws, "bob", close_grace=0.2)
        subs.append(sub)
        sub.close(CLOSE_SLOW_CONSUMER, "slow_consumer")
        sub.close(CLOSE_SLOW_CONSUMER, "slow_consumer")  # idempotent
        assert sub.write_frame(b"\x81\x00") is False
        await ws.wait_closed()
        closed.set()

    async with serve(handler, "127.0.0.1", 0, subprotocols=SUBPROTOCOLS, compression=None) as srv:  # type: ignore[arg-type]
        port = srv.sockets[0].getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}/", subprotocols=["livepark.v1.msgpack"],  # type: ignore[list-item]
                           compression=None) as ws:  # fmt: skip
            with pytest.raises(ConnectionClosed) as exc:
                await ws.recv()
            assert exc.value.rcvd is not None
            assert (exc.value.rcvd.code, exc.value.rcvd.reason) == (4010, "slow_consumer")
        await asyncio.wait_for(closed.wait(), 2)
    assert subs[0].buffered() == 0


async def test_rejects_connection_without_livepark_subprotocol() -> None:
    errors: list[Exception] = []

    async def handler(ws: ServerConnection) -> None:
        try:
            WebSocketSubscriber(ws, "x")
        except ValueError as exc:
            errors.append(exc)

    async with serve(handler, "127.0.0.1", 0, compression=None) as srv:
        port = srv.sockets[0].getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}/") as ws:
            await ws.wait_closed()
    assert errors
