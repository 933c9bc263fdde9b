"""Issue 3, item 7 (live room): the demo pages in real Chromium through the real SFU.

Two viewer pages wait; the host page goes live with the fake camera + mic; the viewers keep
decoding for 10 s; a third viewer opened 5 s into that shows video within 2 s of its
subscribe reply. Then: a dropped viewer socket resumes without the video stopping, and
danmaku goes around.
"""

from __future__ import annotations

import asyncio
import itertools
import json

from e2e_pages import Member, dump, open_page, sample
from playwright.async_api import Browser

from livepark.app import App

ROOM = "live-e2e"
WINDOW = 10.0  # seconds the two first viewers are watched
LATE_JOIN_AFTER = 5.0
LATE_FIRST_FRAME_MAX_MS = 2000  # the product bound, from the late viewer's subscribe reply
FIRST_FRAME_WAIT = 15.0  # how long a test waits for first frames (a bound on CI, not the product)
MIN_FPS = 5  # absolute floor for a viewer's decode rate ...
MIN_FPS_OF_HOST = 0.8  # ... which must also keep up with what the host encoded over the same window


async def test_host_goes_live_and_viewers_watch(chromium: Browser, demo_node: App) -> None:
    host = await open_page(chromium, demo_node, "host.html", room=ROOM, identity="hana", name="Hana")
    await host.wait("lp.ready")

    # Two viewers arrive before the live starts and wait for it.
    viewers = list(
        await asyncio.gather(
            *(
                open_page(chromium, demo_node, "viewer.html", room=ROOM, identity=u, name=u.title())
                for u in ("mia", "nora")
            )
        )
    )
    for v in viewers:
        await v.wait("lp.ready")
        assert await v.page.is_visible("text=waiting for the host to go live")

    await host.page.click("#go-live")
    await host.wait("lp.live")
    await host.page.wait_for_function("document.querySelector('#preview').videoWidth > 0")
    for v in viewers:
        await v.wait("lp.timing.firstFrame", timeout=FIRST_FRAME_WAIT)
        # What she sees: the host's tile, labelled with her name, playing. The <video> element
        # learns its size from the first frame it renders, which may be after framesDecoded > 0.
        tile = v.page.locator(".tile:not([hidden])")
        await tile.locator(".label", has_text="Hana").wait_for(timeout=FIRST_FRAME_WAIT * 1000)
        video = await tile.locator("video").element_handle()
        await v.page.wait_for_function(
            "v => v.videoWidth > 0 && !v.paused", arg=video, polling=100, timeout=FIRST_FRAME_WAIT * 1000
        )
        assert not await v.page.is_visible("text=waiting for the host to go live")

    # Watch the two viewers for 10 s; open a third one 5 s in.
    async def late_viewer() -> tuple[Member, dict[str, float]]:
        await asyncio.sleep(LATE_JOIN_AFTER)
        late = await open_page(chromium, demo_node, "viewer.html", room=ROOM, identity="lily", name="Lily")
        await late.wait("lp.ready", timeout=FIRST_FRAME_WAIT)
        # Waiting longer than the bound only turns a miss into a failure that says where the
        # time went (below); the bound itself is asserted on the page's own timestamps.
        timing: dict[str, float] = await late.wait(
            "lp.timing.firstFrame && lp.timing", timeout=FIRST_FRAME_WAIT
        )
        return late, timing

    # The host's outbound figures are sampled with the viewers: under CPU overuse Chromium's
    # encoder may lower its frame rate, which no SFU or viewer can make up for.
    (*rows, host_row), (late, t) = await asyncio.gather(
        sample([*viewers, host], WINDOW, every=2.0), late_viewer()
    )
    encoded = [s["video"]["framesEncoded"] for s in host_row]
    assert all(b > a for a, b in itertools.pairwise(encoded)), dump(encoded)
    host_fps = (encoded[-1] - encoded[0]) / WINDOW
    print(f"host: {host_fps:.1f} frames/s encoded")
    for v, row in zip(viewers, rows, strict=True):
        frames = [s["video"]["framesDecoded"] for s in row]
        packets = [s["audio"]["packetsReceived"] for s in row]
        assert all(b > a for a, b in itertools.pairwise(frames)), dump(frames)
        assert all(b > a for a, b in itertools.pairwise(packets)), dump(packets)
        fps = (frames[-1] - frames[0]) / WINDOW
        audio_pps = (packets[-1] - packets[0]) / WINDOW
        print(f"{await v.lp('lp.me.identity')}: {fps:.1f} frames/s decoded, {audio_pps:.0f} audio packets/s")
        # Chromium's fake camera gives 20 fps; she decodes (nearly) every frame the host encoded.
        assert fps >= max(MIN_FPS, MIN_FPS_OF_HOST * host_fps), dump({"decoded": frames, "encoded": encoded})
        assert audio_pps >= 40, dump(packets)  # Opus: 50 packets/s

    after_offer_ms = t["firstFrame"] - t["offer"]
    parts = (
        f"late viewer: first frame {after_offer_ms:.0f} ms after the subscribe reply "
        f"(offer -> answer accepted {t['answered'] - t['offer']:.0f} ms, "
        f"-> first decoded frame {t['firstFrame'] - t['answered']:.0f} ms; "
        f"joined -> offer {t['offer'] - t['joined']:.0f} ms; subscribe attempts {t.get('attempts')})"
    )
    print(parts)
    assert after_offer_ms < LATE_FIRST_FRAME_MAX_MS, parts
    first = await late.stats()
    await late.stats_until(
        lambda s: (
            s["video"]["framesDecoded"] > first["video"]["framesDecoded"]
            and s["audio"]["packetsReceived"] > first["audio"]["packetsReceived"]
        )
    )

    # Nora's network drops (the server loses her socket): her page resumes with its resume
    # token, her video never stops, and her copy of the room matches the host's again.
    nora = viewers[1]
    frames_before = (await nora.stats())["video"]["framesDecoded"]
    demo_node.node.members[(ROOM, "nora")].ws.transport.abort()
    await nora.wait("lp.client.resumes === 1 && lp.client.ws && lp.client.ws.readyState === 1", timeout=5)
    assert await nora.page.inner_text("#status") == "watching"
    await nora.stats_until(lambda s: s["video"]["framesDecoded"] > frames_before, timeout=2)
    room_copy = "JSON.stringify([lp.client.lastSeq, lp.client.room.members.map(m => [m.user_id, m.away])])"
    await host.wait("lp.client.room.members.every(m => !m.away)", timeout=3)
    await nora.wait(f"{room_copy} === {json.dumps(await host.lp(room_copy))}", timeout=3)

    # Danmaku: a viewer's comment reaches the host and the other viewers.
    await viewers[0].page.fill("#send input", "so pretty today!")
    await viewers[0].page.click("#send button")
    for m in (host, viewers[1], late):
        await m.page.locator("#comments li", has_text="so pretty today!").wait_for(timeout=3000)
    # The host sees who is watching.
    for name in ("Mia", "Nora", "Lily"):
        await host.page.locator("#members li", has_text=name).wait_for(timeout=3000)
    assert "frames" in await host.page.inner_text("#stats")

    for m in (host, *viewers, late):
        assert m.errors == [], m.errors
