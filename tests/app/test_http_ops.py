"""The operators' listener: health, metrics, and the admin API's credential checks."""

from __future__ import annotations

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from helpers.livenode import ADMIN_KEY, HOST, Client, running_node, token


async def test_healthz_and_metrics_reflect_rooms() -> None:
    async with running_node() as app, aiohttp.ClientSession() as http:
        assert app.ports is not None
        base = f"http://127.0.0.1:{app.ports.ops}"
        # livepark_connections is a process-wide gauge other tests' connections move: a delta
        async with http.get(f"{base}/metrics") as r:
            before = await r.text()
        host = await Client.connect(app)
        await host.join(token("m1", "hana", HOST), kind="live")
        app.node.tick()
        async with http.get(f"{base}/healthz") as r:
            assert r.status == 200 and (await r.json())["rooms"] == 1
        async with http.get(f"{base}/metrics") as r:
            text = await r.text()
        assert 'livepark_rooms{kind="live"} 1.0' in text
        assert _value(text, "livepark_connections") - _value(before, "livepark_connections") == 1
        assert 'livepark_signaling_messages_in_total{type="join"}' in text
        app.hub.tick()  # samples the danmaku gauges: one room, the host's one connection
        async with http.get(f"{base}/metrics") as r:
            danmaku = await r.text()
        assert "livepark_danmaku_rooms 1.0" in danmaku
        assert "livepark_danmaku_subscribers 1.0" in danmaku
        await host.close()


async def test_admin_api_requires_the_key_and_works_with_it() -> None:
    async with running_node() as app, aiohttp.ClientSession() as http:
        assert app.ports is not None
        base = f"http://127.0.0.1:{app.ports.ops}/admin"
        async with http.get(f"{base}/rooms") as r:
            assert r.status == 401
        async with http.get(f"{base}/rooms", headers={"Authorization": "Bearer wrong"}) as r:
            assert r.status == 401
        auth = {"Authorization": f"Bearer {ADMIN_KEY}"}
        async with http.post(f"{base}/rooms", json={"room": "a1", "kind": "voice"}, headers=auth) as r:
            assert r.status == 201
        async with http.post(f"{base}/rooms", json={"room": "a1"}, headers=auth) as r:
            assert r.status == 409 and (await r.json())["error"]["code"] == "room_exists"
        async with http.post(f"{base}/rooms", data=b"{", headers=auth) as r:
            assert r.status == 400
        host = await Client.connect(app)
        joined = await host.join(token("a1", "hana", HOST))
        assert joined["you"]["role"] == "host"
        viewer = await Client.connect(app)
        await viewer.join(token("a1", "bo"))
        async with http.get(f"{base}/rooms/a1", headers=auth) as r:
            body = await r.json()
            assert {m["user_id"] for m in body["room"]["members"]} == {"hana", "bo"}
        async with http.post(
            f"{base}/rooms/a1/kick", json={"user_id": "bo", "ban_seconds": 5}, headers=auth
        ) as r:
            assert r.status == 200
        assert await viewer.wait_closed() == 4003
        async with http.post(f"{base}/rooms/a1/end", json={"reason": "policy"}, headers=auth) as r:
            assert r.status == 200
        ended = await host.next_event("room.ended")
        assert ended["data"]["reason"] == "policy"
        async with http.post(f"{base}/rooms/nope/end", json={}, headers=auth) as r:
            assert r.status == 404


async def test_admin_api_disabled_without_key() -> None:
    from helpers.livenode import node_config

    async with running_node(node_config(auth={"admin_key": ""})) as app, aiohttp.ClientSession() as http:
        assert app.ports is not None
        async with http.get(f"http://127.0.0.1:{app.ports.ops}/admin/rooms") as r:
            assert r.status == 404 and (await r.json())["error"]["code"] == "admin_disabled"


def _value(text: str, name: str, **labels: str) -> float:
    """A sample's value in a Prometheus exposition (0 when absent)."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return 0.0


async def test_metrics_values_follow_traffic() -> None:
    """Counters and gauges move by what happened (the registry is per process: compare deltas)."""
    async with running_node() as app, aiohttp.ClientSession() as http:
        assert app.ports is not None
        url = f"http://127.0.0.1:{app.ports.ops}/metrics"

        async def scrape() -> str:
            async with http.get(url) as r:
                return await r.text()

        before = await scrape()
        host = await Client.connect(app)
        await host.join(token("m2", "hana", HOST))
        bo = await Client.connect(app)
        await bo.join(token("m2", "bo"))
        for _ in range(3):
            await bo.ok("ping")
        assert await bo.error("seat.take", seat=1) == "not_permitted"
        assert await bo.error("teleport") == "unknown_type"
        await bo.send_raw("{not json")
        await bo.next_frame("reply")
        app.node.tick()
        after = await scrape()

        def delta(name: str, **labels: str) -> float:
            return _value(after, name, **labels) - _value(before, name, **labels)

        assert _value(after, "livepark_participants") == 2
        assert _value(after, "livepark_rooms", kind="voice") == 1
        assert delta("livepark_signaling_messages_in_total", type="join") == 2
        assert delta("livepark_signaling_messages_in_total", type="ping") == 3
        assert delta("livepark_signaling_messages_in_total", type="seat.*") == 1
        assert delta("livepark_signaling_messages_in_total", type="refused") == 1
        # at least: 2 join replies, 3 pongs, 3 error replies (plus events)
        assert delta("livepark_signaling_messages_out_total") >= 8
        assert delta("livepark_signaling_errors_total", code="not_permitted") == 1
        assert delta("livepark_signaling_errors_total", code="unknown_type") == 1
        assert delta("livepark_signaling_errors_total", code="bad_request") == 1
        await bo.ok("leave")
        assert await bo.wait_closed() == 1000
        app.node.tick()
        final = await scrape()
        assert _value(final, "livepark_participants") == 1
        closes = "livepark_signaling_closes_total"
        assert _value(final, closes, code="1000") - _value(before, closes, code="1000") == 1
        await host.close()
