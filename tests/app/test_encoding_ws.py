"""The negotiated encoding is what goes over the wire: msgpack binary frames, JSON text frames."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import msgpack
from websockets.asyncio.client import ClientConnection, connect

from helpers.livenode import HOST, Client, running_node, token
from livepark.app import App


async def _raw(app: App, subprotocol: str) -> ClientConnection:
    assert app.ports is not None
    return await connect(f"ws://127.0.0.1:{app.ports.ws}/", subprotocols=[subprotocol])  # type: ignore[list-item]


async def _frames_until(
    ws: ClientConnection, decode: Callable[[Any], Any], **match: Any
) -> list[str | bytes]:
    """Raw frames received until (and including) the first whose message contains ``match``."""
    frames: list[str | bytes] = []
    async with asyncio.timeout(5):
        while True:
            raw = await ws.recv()
            frames.append(raw)
            msg = decode(raw)
            if all(msg.get(k) == v for k, v in match.items()):
                return frames


async def test_msgpack_connections_get_binary_msgpack_frames_json_ones_text() -> None:
    async with running_node() as app:
        host = await Client.connect(app)
        await host.join(token("e1", "hana", HOST))
        mp = await _raw(app, "livepark.v1.msgpack")
        js = await _raw(app, "livepark.v1.json")
        assert mp.subprotocol == "livepark.v1.msgpack"
        assert js.subprotocol == "livepark.v1.json"
        await mp.send(msgpack.packb({"v": 1, "id": 1, "type": "join", "data": {"token": token("e1", "mia")}}))
        await js.send(json.dumps({"v": 1, "id": 1, "type": "join", "data": {"token": token("e1", "bo")}}))
        mp_frames = await _frames_until(mp, msgpack.unpackb, type="reply", id=1)
        js_frames = await _frames_until(js, json.loads, type="reply", id=1)
        await host.ok("seat.lock", seat=4, locked=True)
        mp_frames += await _frames_until(mp, msgpack.unpackb, type="event", event="seat.changed")
        js_frames += await _frames_until(js, json.loads, type="event", event="seat.changed")
        assert all(isinstance(f, bytes) for f in mp_frames)
        assert all(isinstance(f, str) for f in js_frames)
        mp_msgs = [msgpack.unpackb(f) for f in mp_frames]
        js_msgs = [json.loads(f) for f in js_frames]
        for msgs, user in ((mp_msgs, "mia"), (js_msgs, "bo")):
            reply = msgs[0]
            assert reply["type"] == "reply" and reply["ok"] and reply["data"]["you"]["user_id"] == user
            assert msgs[-1]["data"] == {
                "seat": 4,
                "user_id": None,
                "locked": True,
                "muted_by_host": False,
                "self_muted": False,
            }
        # a JSON text frame on a msgpack connection is understood, and answered in msgpack
        await mp.send(json.dumps({"v": 1, "id": 2, "type": "ping", "data": {"t": 5}}))
        async with asyncio.timeout(5):
            while True:
                raw = await mp.recv()
                assert isinstance(raw, bytes)
                msg = msgpack.unpackb(raw)
                if msg.get("type") == "reply" and msg["id"] == 2:
                    break
        assert msg["data"]["t"] == 5
        for ws in (mp, js):
            await ws.close()
        await host.close()
