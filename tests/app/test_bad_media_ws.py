"""Bad media input over the signaling WebSocket while a room is forwarding.

A live room on a real node: the host publishes (aiortc, through ``media.publish``) and a
viewer receives her over ``media.subscribe``.  Meanwhile a co-host sends garbage SDP, an
offer whose only codec the SFU cannot forward, a subscription she never answers, and a
garbage answer.  Each gets its documented error (or ``media.failed``) — and the viewer never
stops receiving the host, and the room is as it was.
"""

from __future__ import annotations

import itertools
import time

from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender
from ws_media import LoopLag, latest_slots, publish_ws, subscribe_ws, until

from helpers.livenode import HOST, SPEAKER, VIEWER, Client, node_config, running_node, token
from media.media_kit import ToneTrack

ROOM = "bad-media"
ANSWER_TIMEOUT = 1.0
ANSWER_SLACK = 1.5  # the offer's negotiation, the SFU's 50 ms housekeeping tick, delivery
MAX_GAP = 1.0  # seconds: audio comes every 20 ms; a longer silence at the viewer is a failure
# Both are judged on loop time that was not measurably stalled (LoopLag): the node, the SFU and
# every aiortc peer share one event loop, and a stall there is the machine's, not the SFU's.


async def pcmu_only_offer() -> str:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    t = pc.addTransceiver(ToneTrack(), direction="sendonly")
    t.setCodecPreferences(
        [c for c in RTCRtpSender.getCapabilities("audio").codecs if c.mimeType == "audio/PCMU"]
    )
    await pc.setLocalDescription(await pc.createOffer())
    sdp = str(pc.localDescription.sdp)
    await pc.close()
    assert "opus" not in sdp.lower() and "PCMU" in sdp
    return sdp


async def test_bad_media_requests_are_refused_and_the_stream_keeps_flowing() -> None:
    cfg = node_config(media={"answer_timeout": ANSWER_TIMEOUT})
    async with running_node(cfg) as app, LoopLag() as lag:
        host = await Client.connect(app)
        await host.join(token(ROOM, "hana", HOST), kind="live")
        bo = await Client.connect(app)
        await bo.join(token(ROOM, "bo", VIEWER))
        cy = await Client.connect(app)
        await cy.join(token(ROOM, "cy", SPEAKER))
        await host.ok("cohost.invite", user_id="cy")
        await cy.next_event("cohost.invited")
        await cy.ok("cohost.accept")
        await host.next_event("cohosts.changed")

        speaker = await publish_ws(host)
        viewer, _ = await subscribe_ws(bo)
        try:
            assert await until(lambda: "hana" in latest_slots(bo).values(), 15)
            slots_before = latest_slots(bo)
            mid = next(m for m, u in slots_before.items() if u == "hana" and m in viewer.ssrc_mid.values())
            assert await until(lambda: len(viewer.rtp(mid)) >= 25, 15), "the viewer never got the host"
            snap_before = (await host.ok("room.snapshot"))["room"]
            t_start = time.monotonic()

            # garbage and a codec the SFU does not forward
            assert await cy.error("media.publish", sdp="this is not sdp") == "bad_sdp"
            assert await cy.error("media.publish", sdp="v=0\r\nm=audio nine RTP/AVP 0\r\n") == "bad_sdp"
            assert await cy.error("media.publish", sdp=await pcmu_only_offer()) == "no_supported_codec"
            assert await cy.error("media.publish") == "bad_request"
            assert await bo.error("media.publish", sdp=await pcmu_only_offer()) == "insufficient_grant"
            assert await cy.error("media.answer", sdp="v=0\r\n") == "not_subscribed"

            # a subscription she never answers: closed, and she is told
            t_ask = time.monotonic()  # the SFU's offer (and its answer timer) comes after this
            _, offer = await subscribe_ws(cy, answer=False)
            assert offer.startswith("v=0")
            failed = await cy.next_event("media.failed", timeout=ANSWER_TIMEOUT + ANSWER_SLACK + 10)
            t_failed = time.monotonic()
            waited = t_failed - t_ask
            stalled = lag.stalled(t_ask, t_failed)
            assert failed["data"] == {"role": "subscriber", "reason": "answer_timeout"}
            assert waited >= ANSWER_TIMEOUT, f"closed {waited:.3f} s after the request: too early"
            assert waited - stalled <= ANSWER_TIMEOUT + ANSWER_SLACK, (waited, stalled)
            assert await cy.error("media.answer", sdp=offer) == "answer_timeout"

            # a subscription answered with garbage: refused, leg gone
            await subscribe_ws(cy, answer=False)
            assert await cy.error("media.answer", sdp="garbage") == "bad_sdp"
            failed = await cy.next_event("media.failed")
            assert failed["data"]["reason"] == "bad_answer"
            assert await cy.error("media.answer", sdp="garbage") == "not_subscribed"

            # throughout, the viewer kept receiving the host, without a gap
            t_end = time.monotonic()
            assert await until(lambda: len(viewer.rtp(mid, since=t_end)) >= 10, 2)
            times = [p.t for p in viewer.rtp(mid, since=t_start)]
            # a silence, less the loop stalls within it (aiortc's setup of the co-host's
            # peer connections runs on the same loop)
            gaps = [(b - a, lag.stalled(a, b)) for a, b in itertools.pairwise([t_start, *times])]
            worst = max(gaps, key=lambda g: g[0] - g[1])
            print(
                f"viewer: {len(times)} packets over {t_end - t_start:.1f} s, largest gap"
                f" {max(g for g, _ in gaps):.3f} s, worst unstalled {worst[0] - worst[1]:.3f} s"
            )
            assert worst[0] - worst[1] < MAX_GAP, worst
            assert latest_slots(bo) == slots_before

            # and the room is as it was: same members, roles, co-host; one publisher, one viewer leg
            snap_after = (await host.ok("room.snapshot"))["room"]
            assert snap_after == snap_before
            assert snap_after["cohosts"] == ["cy"]
            stats = app.sfu.stats()
            assert (stats["publishers"], stats["subscribers"]) == (1, 1)
            for c in (host, bo, cy):
                assert (await c.ok("ping"))["online"] == 3
        finally:
            await speaker.close()
            await viewer.close()
            for c in (host, bo, cy):
                await c.close()
