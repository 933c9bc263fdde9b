"""Issue 2's proof over real WebSocket connections to a real node."""

from __future__ import annotations

import asyncio

from helpers.livenode import HOST, SPEAKER, VIEWER, Client, node_config, running_node, token


async def test_voice_room_seats_lock_clear_and_resume() -> None:
    async with running_node() as app:
        host = await Client.connect(app)
        joined = await host.join(token("r1", "hana", HOST), kind="voice")
        assert joined["you"]["role"] == "host" and len(joined["room"]["seats"]) == 8

        alice = await Client.connect(app, "msgpack")
        bo = await Client.connect(app)
        await alice.join(token("r1", "alice", SPEAKER))
        await bo.join(token("r1", "bo", SPEAKER))
        await host.next_event("member.joined", user_id="bo")

        await alice.ok("seat.take", seat=1)
        await bo.ok("seat.take", seat=2)
        ev = await host.next_event("seat.changed", seat=2)
        assert ev["data"]["user_id"] == "bo" and isinstance(ev["seq"], int)
        ev = await alice.next_event("seat.changed", seat=2)  # msgpack member sees it too
        assert ev["data"]["user_id"] == "bo"

        await host.ok("seat.lock", seat=3, locked=True)
        await host.ok("seat.clear", seat=2)
        ev = await bo.next_event("seat.changed", seat=2, user_id=None)
        assert ev["seq"] > 0

        cleo = await Client.connect(app)
        await cleo.join(token("r1", "cleo", SPEAKER))
        assert await cleo.error("seat.take", seat=3) == "seat_locked"
        assert await cleo.error("seat.take", seat=1) == "seat_taken"
        assert await bo.error("seat.lock", seat=4) == "not_permitted"

        # alice's phone loses its network: she stays seated as "away", then resumes.
        token_before = alice.joined["resume_token"]  # type: ignore[index]
        last_seq = max(f.get("seq", 0) for f in alice.frames)
        alice.drop()
        away = await host.next_event("member.away", user_id="alice")
        await host.ok("seat.lock", seat=5, locked=True)  # happens while she is away
        alice2 = await Client.connect(app, "msgpack")
        resumed = await alice2.ok("session.resume", resume_token=token_before, last_seq=last_seq)
        assert resumed["you"]["seat"] == 1 and resumed["you"]["role"] == "speaker"
        assert resumed["room"]["seats"][0]["user_id"] == "alice"
        missed = await alice2.next_event("seat.changed", seat=5)
        assert missed["seq"] > away["seq"] and missed["data"]["locked"] is True
        await host.next_event("member.back", user_id="alice")
        # the old token is spent
        again = await Client.connect(app)
        assert await again.error("session.resume", resume_token=token_before) == "resume_failed"
        for c in (host, bo, cleo, alice2, again):
            await c.close()


async def test_away_member_loses_seat_after_grace() -> None:
    async with running_node(node_config(rooms={"resume_grace": 0.5})) as app:
        host = await Client.connect(app)
        await host.join(token("r2", "hana", HOST))
        bo = await Client.connect(app)
        await bo.join(token("r2", "bo", SPEAKER))
        await bo.ok("seat.take")
        tok = bo.joined["resume_token"]  # type: ignore[index]
        bo.drop()
        left = await host.next_event("member.left", user_id="bo", timeout=5)
        assert left["data"]["reason"] == "timeout"
        freed = [f for f in host.frames if f.get("event") == "seat.changed" and f["data"]["seat"] == 1]
        assert freed[-1]["data"]["user_id"] is None
        late = await Client.connect(app)
        assert await late.error("session.resume", resume_token=tok) == "resume_failed"
        await host.close()
        await late.close()


async def test_kick_bans_and_closes_with_4003() -> None:
    async with running_node() as app:
        host = await Client.connect(app)
        await host.join(token("r3", "hana", HOST))
        bo = await Client.connect(app)
        await bo.join(token("r3", "bo", VIEWER))
        await host.ok("member.kick", user_id="bo", ban_seconds=60)
        assert await bo.wait_closed() == 4003
        bo2 = await Client.connect(app)
        reply = await bo2.request("join", token=token("r3", "bo", VIEWER))
        assert reply["error"]["code"] == "banned" and reply["error"]["retry_after"] > 0
        await host.close()
        await bo2.close()


async def test_room_end_closes_everyone_with_4004() -> None:
    async with running_node() as app:
        host = await Client.connect(app)
        await host.join(token("r4", "hana", HOST))
        bo = await Client.connect(app)
        await bo.join(token("r4", "bo"))
        await host.ok("room.end")
        ended = await bo.next_event("room.ended")
        assert ended["seq"] > 0
        assert await bo.wait_closed() == 4004
        assert await host.wait_closed() == 4004
        late = await Client.connect(app)
        assert await late.error("join", token=token("r4", "cy")) == "room_not_found"
        await late.close()


async def test_second_connection_replaces_first() -> None:
    async with running_node() as app:
        host = await Client.connect(app)
        await host.join(token("r5", "hana", HOST))
        phone = await Client.connect(app)
        await phone.join(token("r5", "bo"))
        tablet = await Client.connect(app)
        await tablet.join(token("r5", "bo"))
        assert await phone.wait_closed() == 4011
        pong = await tablet.ok("ping", t=1)
        assert pong["t"] == 1
        await asyncio.sleep(0.1)
        snap = await host.ok("room.snapshot")
        assert [m["user_id"] for m in snap["room"]["members"]].count("bo") == 1
        await host.close()
        await tablet.close()
