"""Grants over real sockets: what a token lets a member do, and what a refusal costs her."""

from __future__ import annotations

from helpers.livenode import HOST, SPEAKER, Client, node_config, running_node, token
from livepark.auth.grants import Grants


async def test_refused_grants_after_joining_never_close_the_connection() -> None:
    """Only failed joins count toward the 4001 limit: a viewer without can_publish_data or
    can_publish is told ``insufficient_grant`` as often as she tries, and stays in the room."""
    async with running_node() as app:
        host = await Client.connect(app)
        await host.join(token("g1", "hana", HOST), kind="live")
        quiet = await Client.connect(app)
        await quiet.join(token("g1", "mia", Grants(can_publish_data=False)))
        codes = []
        for i in range(3):
            codes.append(await quiet.error("danmaku.send", text=f"hello {i}"))
            codes.append(await quiet.error("danmaku.like", count=1))
            codes.append(await quiet.error("media.publish", sdp="v=0"))
        assert codes == ["insufficient_grant"] * 9
        assert (await quiet.ok("ping", t=7))["t"] == 7
        assert quiet.close_code is None
        snap = await host.ok("room.snapshot")
        assert "mia" in [m["user_id"] for m in snap["room"]["members"]]
        for c in (host, quiet):
            await c.close()


async def test_token_without_room_join_is_refused() -> None:
    async with running_node() as app:
        host = await Client.connect(app)
        await host.join(token("g2", "hana", HOST))
        c = await Client.connect(app)
        no_join = token("g2", "bo", Grants(room_join=False, can_publish=True))
        assert await c.error("join", token=no_join) == "insufficient_grant"
        assert await c.error("seat.take") == "not_joined"
        snap = await host.ok("room.snapshot")
        assert [m["user_id"] for m in snap["room"]["members"]] == ["hana"]
        # a refused join is a failed attempt to get in: the third closes with 4001
        assert await c.error("join", token=no_join) == "insufficient_grant"
        assert await c.error("join", token=no_join) == "insufficient_grant"
        assert await c.wait_closed() == 4001
        await host.close()


async def test_unverified_members_are_admitted_when_not_required() -> None:
    async with running_node(node_config(rooms={"require_verified": False})) as app:
        host = await Client.connect(app)
        await host.join(token("g3", "hana", HOST, verified=False))
        bo = await Client.connect(app)
        joined = await bo.join(token("g3", "bo", SPEAKER, verified=False))
        assert joined["you"]["role"] == "listener"
        await bo.ok("seat.take", seat=1)
        ev = await host.next_event("seat.changed", seat=1)
        assert ev["data"]["user_id"] == "bo"
        for c in (host, bo):
            await c.close()


async def test_only_the_host_invites_cohosts_an_admin_may_remove_them() -> None:
    async with running_node() as app:
        host = await Client.connect(app)
        await host.join(token("g4", "hana", HOST), kind="live")
        mod = await Client.connect(app)
        await mod.join(token("g4", "mod", HOST))
        bo = await Client.connect(app)
        await bo.join(token("g4", "bo", SPEAKER))
        assert await mod.error("cohost.invite", user_id="bo") == "not_permitted"
        await host.ok("cohost.invite", user_id="bo")
        invited = await bo.next_event("cohost.invited")
        assert invited["data"]["by"] == "hana"
        await bo.ok("cohost.accept")
        await mod.ok("cohost.remove", user_id="bo")
        ev = await host.next_event("cohosts.changed", cohosts=[])
        assert ev["seq"] > 0
        for c in (host, mod, bo):
            await c.close()
