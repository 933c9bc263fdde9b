"""Room limits through a real node: publishers, rooms per node, participants, idle rooms."""

from __future__ import annotations

import asyncio

import aiohttp

from helpers.livenode import ADMIN_KEY, HOST, SPEAKER, Client, node_config, running_node, token
from livepark.auth.grants import Grants


async def test_publishers_full_in_voice_and_live_rooms() -> None:
    async with running_node(node_config(rooms={"max_publishers": 2})) as app:
        host = await Client.connect(app)
        await host.join(token("p1", "hana", HOST), kind="voice")
        bo, cy = await Client.connect(app), await Client.connect(app)
        await bo.join(token("p1", "bo", SPEAKER))
        await cy.join(token("p1", "cy", SPEAKER))
        await bo.ok("seat.take", seat=1)  # host + bo: the limit
        assert await cy.error("seat.take", seat=2) == "publishers_full"
        await host.ok("seat.invite", user_id="cy", seat=2)
        await cy.next_event("seat.invited")
        assert await cy.error("seat.accept") == "publishers_full"
        await bo.ok("seat.leave")
        await cy.ok("seat.take", seat=2)

        live = await Client.connect(app)
        await live.join(token("p2", "lena", HOST), kind="live")
        a, b = await Client.connect(app), await Client.connect(app)
        await a.join(token("p2", "a", SPEAKER))
        await b.join(token("p2", "b", SPEAKER))
        await live.ok("cohost.invite", user_id="a")
        await live.ok("cohost.invite", user_id="b")
        await a.ok("cohost.accept")
        assert await b.error("cohost.accept") == "publishers_full"
        for c in (host, bo, cy, live, a, b):
            await c.close()


async def test_max_rooms_refuses_a_new_room_with_room_full() -> None:
    async with running_node(node_config(rooms={"max_rooms": 1})) as app, aiohttp.ClientSession() as http:
        first = await Client.connect(app)
        await first.join(token("m1", "hana", HOST))
        second = await Client.connect(app)
        assert await second.error("join", token=token("m2", "lena", HOST)) == "room_full"
        assert app.ports is not None
        async with http.post(
            f"http://127.0.0.1:{app.ports.ops}/admin/rooms",
            json={"room": "m3"},
            headers={"Authorization": f"Bearer {ADMIN_KEY}"},
        ) as r:
            assert r.status == 409 and (await r.json())["error"]["code"] == "room_full"
        # members still get into the open room, and once it ends a new one may open
        await second.join(token("m1", "bo"))
        await first.ok("room.end")
        assert await second.wait_closed() == 4004
        third = await Client.connect(app)
        await third.join(token("m2", "lena", HOST))
        await third.close()


async def test_max_participants_refuses_with_room_full_but_lets_admins_in() -> None:
    async with running_node(node_config(rooms={"max_participants": 2})) as app:
        host = await Client.connect(app)
        await host.join(token("f1", "hana", HOST))
        bo = await Client.connect(app)
        await bo.join(token("f1", "bo"))
        cy = await Client.connect(app)
        assert await cy.error("join", token=token("f1", "cy")) == "room_full"
        mod = await Client.connect(app)
        await mod.join(token("f1", "mod", HOST))  # admins bypass the limit (and count)
        await bo.ok("leave")
        assert await cy.error("join", token=token("f1", "cy")) == "room_full"
        await mod.ok("leave")
        await cy.join(token("f1", "cy"))
        for c in (host, cy):
            await c.close()


async def test_idle_room_ends_on_tick_and_closes_its_connections_4004() -> None:
    """No connected visible member for ``idle_timeout``: the tick ends the room, the members
    still connected (a hidden moderator) get ``room.ended`` then close code 4004."""
    cfg = node_config(rooms={"idle_timeout": 0.4, "resume_grace": 30})
    async with running_node(cfg) as app:
        host = await Client.connect(app)
        joined = await host.join(token("i1", "hana", HOST))
        mod = await Client.connect(app)
        await mod.join(token("i1", "mod", Grants(room_admin=True, hidden=True)))
        host.drop()
        await mod.next_event("member.away", user_id="hana")
        await asyncio.sleep(0.5)
        app.node.tick()
        ended = await mod.next_event("room.ended")
        assert ended["data"]["reason"] == "idle" and ended["seq"] > 0
        assert await mod.wait_closed() == 4004
        late = await Client.connect(app)
        assert await late.error("session.resume", resume_token=joined["resume_token"]) == "resume_failed"
        assert app.node.registry.get("i1") is None
        await late.close()
