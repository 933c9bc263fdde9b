"""Seat control acts on media, proven where it matters: at a listener, over the real protocol.

A voice room on a real node: two seated aiortc speakers publish through ``media.publish``, an
aiortc listener subscribes through ``media.subscribe`` and records the arrival time of every
RTP packet at its socket.  When the host mutes or clears a seat, no packet of that seat's
slot may arrive later than 200 ms after the host *sent* the request, while the other speaker
keeps arriving and the muted speaker's own client keeps sending (the SFU enforces it, not
her app).  Unmuting, or taking the seat again, brings her packets back.
"""

from __future__ import annotations

import time

from aiortc import RTCPeerConnection
from ws_media import Listener, LoopLag, latest_slots, publish_ws, subscribe_ws, until

from helpers.livenode import HOST, SPEAKER, VIEWER, Client, running_node, token

ROOM = "seats-media"
BOUND = 0.2  # seconds from the host's request to the last packet of that seat at the listener
SETTLE = 0.6  # how long we watch for stray packets after the bound


def slot_of(client: Client, user: str) -> str | None:
    return next((mid for mid, u in latest_slots(client).items() if u == user), None)


async def packets_sent(pc: RTCPeerConnection) -> int:
    report = await pc.getStats()
    return sum(s.packetsSent for s in report.values() if s.type == "outbound-rtp")


async def assert_silenced(
    listener: Listener, mid: str, other: str, t0: float, what: str, lag: LoopLag
) -> None:
    # The SFU, the node and every peer share one event loop: when it stalls, a packet the SFU
    # sent in time waits unread in the listener's socket.  So only loop time that was not
    # measurably stalled counts toward the bound (a seat still forwarded sends every 20 ms
    # and is caught once BOUND + SETTLE of such time has passed).
    await lag.wait_unstalled(t0, BOUND + SETTLE)
    late = lag.beyond(t0, BOUND, [p.t for p in listener.rtp(mid, since=t0)])
    last = max(p.t for p in listener.rtp(mid))
    print(
        f"{what}: the seat's last packet reached the listener {1000 * (last - t0):+.0f} ms from it"
        f" (loop stalled {1000 * lag.stalled(t0, last):.0f} ms in between)"
    )
    assert late == [], f"{what}: {len(late)} packets on slot {mid} more than {BOUND * 1000:.0f} ms later"
    # the listener's leg is alive: the other speaker kept arriving all along
    assert len(lag.beyond(t0, BOUND, [p.t for p in listener.rtp(other, since=t0)])) >= 10


async def test_seat_mute_and_clear_stop_her_packets_at_the_listener_within_200ms() -> None:
    async with running_node() as app, LoopLag() as lag:
        host = await Client.connect(app)
        await host.join(token(ROOM, "hana", HOST), kind="voice")
        mei, aiko, lily = await Client.connect(app), await Client.connect(app), await Client.connect(app)
        await mei.join(token(ROOM, "mei", SPEAKER))
        await aiko.join(token(ROOM, "aiko", SPEAKER))
        await lily.join(token(ROOM, "lily", VIEWER))
        await mei.ok("seat.take", seat=1)
        await aiko.ok("seat.take", seat=2)
        mei_pub = await publish_ws(mei)
        aiko_pub = await publish_ws(aiko)
        listener, _ = await subscribe_ws(lily)
        try:
            assert await until(lambda: {"mei", "aiko"} <= set(latest_slots(lily).values()), 15)
            mei_mid, aiko_mid = slot_of(lily, "mei"), slot_of(lily, "aiko")
            assert mei_mid and aiko_mid
            assert await until(
                lambda: len(listener.rtp(mei_mid)) >= 25 and len(listener.rtp(aiko_mid)) >= 25, 15
            ), "the listener never heard both speakers"

            # -- the host mutes seat 1
            t0 = time.monotonic()
            await host.ok("seat.mute", seat=1, muted=True)
            notice = await mei.next_event("seat.changed", seat=1, muted_by_host=True)
            assert notice["data"]["user_id"] == "mei" and isinstance(notice["seq"], int)
            sent_before = await packets_sent(mei_pub.pc)
            await assert_silenced(listener, mei_mid, aiko_mid, t0, "seat.mute", lag)
            assert await packets_sent(mei_pub.pc) > sent_before, "her client should still be sending"
            assert "mei" not in latest_slots(lily).values()
            assert await mei.error("seat.self_mute", muted=False) == "seat_muted_by_host"

            # -- unmuted: she is heard again
            t1 = time.monotonic()
            await host.ok("seat.mute", seat=1, muted=False)
            assert await until(lambda: slot_of(lily, "mei") is not None, 3)
            mei_mid = slot_of(lily, "mei")
            assert mei_mid
            assert await until(lambda: len(listener.rtp(mei_mid, since=t1)) >= 10, 3), "silent after unmute"

            # -- the host clears seat 1: she is a listener now, and not forwarded
            t2 = time.monotonic()
            await host.ok("seat.clear", seat=1)
            freed = await mei.next_event("seat.changed", seat=1, user_id=None)
            assert freed["data"]["muted_by_host"] is False
            role = await mei.next_event("role.changed", user_id="mei")
            assert role["data"]["role"] == "listener"
            await assert_silenced(listener, mei_mid, aiko_mid, t2, "seat.clear", lag)
            assert "mei" not in latest_slots(lily).values()

            # -- she takes a seat again: forwarded again, without publishing anew
            t3 = time.monotonic()
            await mei.ok("seat.take", seat=3)
            assert await until(lambda: slot_of(lily, "mei") is not None, 3)
            mei_mid = slot_of(lily, "mei")
            assert mei_mid
            assert await until(lambda: len(listener.rtp(mei_mid, since=t3)) >= 10, 3)
            snap = await host.ok("room.snapshot")
            assert snap["room"]["seats"][2]["user_id"] == "mei"
            assert snap["room"]["seats"][1]["user_id"] == "aiko"
        finally:
            for peer in (mei_pub, aiko_pub, listener):
                await peer.close()
            for c in (host, mei, aiko, lily):
                await c.close()
