"""Danmaku through a whole node: the signaling socket carries comments, likes and history."""

from __future__ import annotations

import asyncio

from websockets.asyncio.client import connect

from helpers.livenode import HOST, Client, running_node, token
from livepark.auth.grants import Grants


async def test_comments_history_likes_and_grants() -> None:
    async with running_node() as app:
        host = await Client.connect(app)
        await host.join(token("d1", "hana", HOST), kind="live")
        viewer = await Client.connect(app, "msgpack")
        await viewer.join(token("d1", "mia"))
        sent = await host.ok("danmaku.send", text="welcome ✨")
        assert sent["text"] == "welcome ✨" and sent["comment_id"]
        batch = await viewer.next_frame("danmaku.batch")
        assert [i["text"] for i in batch["items"] if i["kind"] == "comment"] == ["welcome ✨"]
        assert batch["items"][0]["user"] == {"id": "hana", "name": "Hana"}

        assert await host.error("danmaku.send", text="welcome ✨") == "duplicate"
        assert await host.error("danmaku.send", text="   ") == "empty"
        assert await host.error("danmaku.send", text="x" * 500) == "too_long"

        late = await Client.connect(app)
        await late.join(token("d1", "zoe"))
        history = await late.next_frame("danmaku.history")
        assert [i["text"] for i in history["items"]] == ["welcome ✨"]

        muted = await Client.connect(app)
        await muted.join(token("d1", "quiet", Grants(can_publish_data=False)))
        assert await muted.error("danmaku.send", text="hi") == "insufficient_grant"
        assert await muted.error("danmaku.like", count=1) == "insufficient_grant"

        assert (await viewer.ok("danmaku.like", count=3))["counted"] == 3
        # stats go out on the hub's timer (stats_interval), not per like: a tick that came
        # before the like carries fewer; read pushes until the like shows (bounded)
        async with asyncio.timeout(5):
            while (stats := await host.next_frame("danmaku.stats"))["likes"] < 3:
                pass
        upto = next(i for i, f in enumerate(host.frames) if f is stats)
        pushes = [f for f in host.frames[: upto + 1] if f.get("type") == "danmaku.stats"]
        assert stats["likes"] == 3 and stats["online"] == 4  # hana, mia, zoe, quiet
        assert [f["likes"] for f in pushes] == [0] * (len(pushes) - 1) + [3]  # one push, all 3
        assert stats["new_likes"] == (3 if len(pushes) > 1 else 0)  # 0 on a room's first push
        for c in (host, viewer, late, muted):
            await c.close()


async def test_rate_limit_on_comments() -> None:
    async with running_node() as app:
        host = await Client.connect(app)
        await host.join(token("d2", "hana", HOST))
        codes = []
        for i in range(6):
            reply = await host.request("danmaku.send", text=f"msg {i}")
            codes.append("ok" if reply["ok"] else reply["error"]["code"])
        assert codes[:3] == ["ok", "ok", "ok"] and "rate_limited" in codes
        await host.close()


async def test_server_declines_permessage_deflate() -> None:
    """Batches are compressed once per batch; per-connection deflate would cost ~64 KiB of
    zlib state per socket and a compression per write, so the node must refuse it."""
    async with running_node() as app:
        assert app.ports is not None
        url = f"ws://127.0.0.1:{app.ports.ws}/"
        async with connect(url, subprotocols=["livepark.v1.json"]) as ws:  # type: ignore[list-item]
            assert ws.request is not None and ws.response is not None
            offered = ws.request.headers.get("Sec-WebSocket-Extensions", "")
            assert "permessage-deflate" in offered  # the client default offers it
            assert ws.response.headers.get("Sec-WebSocket-Extensions") is None
            assert ws.protocol.extensions == []
            member = Client(ws, "json")
            await member.join(token("d3", "hana", HOST), kind="live")
            await member.ok("danmaku.send", text="uncompressed")
            batch = await member.next_frame("danmaku.batch")
            assert [i["text"] for i in batch["items"]] == ["uncompressed"]
            await member.close()
