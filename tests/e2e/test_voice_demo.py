"""Issue 3, item 7 (voice room): three seated Chromium speakers and a Chromium listener.

The listener hears all three (audio packets rising on three slots) and sees speaker events
naming them; the host (a protocol client) mutes one seat and her audio stops reaching the
listener while her browser keeps sending: the SFU, not the page, enforces the mute.
"""

from __future__ import annotations

import asyncio

from e2e_pages import Member, dump, open_page, sample
from playwright.async_api import Browser

from helpers.livenode import HOST, Client, token
from livepark.app import App

ROOM = "voice-e2e"
SPEAKERS = ("aiko", "mei", "yuki")
MUTED = "mei"  # seat 2
MUTE_TAKES_EFFECT_MAX = 1.0  # seconds from the host's request to her slot being dropped


def slot_of(slots: dict[str, str | None]) -> dict[str, str]:
    return {user: mid for mid, user in slots.items() if user is not None}


async def test_voice_room_listener_hears_speakers_and_host_mute_stops_one(
    chromium: Browser, demo_node: App
) -> None:
    host = await Client.connect(demo_node)
    await host.join(token(ROOM, "hana", HOST, name="Hana"), kind="voice")

    speakers: list[Member] = list(
        await asyncio.gather(
            *(
                open_page(
                    chromium, demo_node, "voice.html", room=ROOM, identity=u, name=u.title(), role="speaker"
                )
                for u in SPEAKERS
            )
        )
    )
    for seat, s in enumerate(speakers, start=1):
        await s.wait("lp.ready")
        await s.page.click(f".seat[data-seat='{seat}'] button:has-text('Take seat')")
    for s in speakers:
        await s.wait("lp.publishing")

    listener = await open_page(
        chromium, demo_node, "voice.html", room=ROOM, identity="lily", name="Lily", role="viewer"
    )
    await listener.wait("lp.ready")
    assert await listener.page.locator(".seat button:has-text('Take seat')").count() == 0  # no grant
    await listener.wait("Object.values(lp.slots).filter(Boolean).length === 3")
    mids = slot_of(await listener.lp("lp.slots"))
    assert sorted(mids) == sorted(SPEAKERS)

    # She hears every speaker: each one's slot keeps receiving packets.
    (row,) = await sample([listener], 2.0, every=1.0)
    for user, mid in mids.items():
        counts = [s["mids"][mid]["packetsReceived"] for s in row]
        assert counts[0] < counts[1] < counts[2], (user, dump(row))
    # ... and sees who is talking: speaker events name all three.
    seen = await listener.wait(
        f"{list(SPEAKERS)}.every(u => lp.speakersSeen.includes(u)) && lp.speakersSeen", timeout=5
    )
    print("speakers seen by the listener:", seen)
    for seat, name in enumerate(("Aiko", "Mei", "Yuki"), start=1):
        assert await listener.page.inner_text(f".seat[data-seat='{seat}'] .who") == name

    # The host mutes seat 2: Mei's audio stops reaching the listener.
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await host.ok("seat.mute", seat=2, muted=True)
    await listener.wait(f"!Object.values(lp.slots).includes('{MUTED}')", timeout=3)
    dropped_after = loop.time() - t0
    print(f"mute: {MUTED}'s slot dropped {dropped_after * 1000:.0f} ms after the host's request")
    assert dropped_after < MUTE_TAKES_EFFECT_MAX
    seat2 = listener.page.locator(".seat[data-seat='2']")
    await seat2.locator(".flags", has_text="muted by host").wait_for(timeout=2000)
    await asyncio.sleep(0.3)  # packets already on the wire
    (row,) = await sample([listener], 2.0, every=1.0)
    her = [s["mids"][mids[MUTED]]["packetsReceived"] for s in row]
    assert her[0] == her[-1], dump(her)
    for user in SPEAKERS:
        if user != MUTED:
            counts = [s["mids"][mids[user]]["packetsReceived"] for s in row]
            assert counts[0] < counts[-1], (user, dump(counts))
    assert not await seat2.evaluate("e => e.classList.contains('speaking')")
    # Her browser still sends (silence): the SFU is what stopped her.
    mei = speakers[1]
    sent = [(await mei.stats())["outbound"]["audio"]["packetsSent"]]
    await asyncio.sleep(1.0)
    sent.append((await mei.stats())["outbound"]["audio"]["packetsSent"])
    assert sent[1] > sent[0], sent
    await mei.page.locator(".seat[data-seat='2'] .flags", has_text="muted by host").wait_for(timeout=2000)

    # Unmuted, she is heard again.
    await host.ok("seat.mute", seat=2, muted=False)
    await listener.wait(f"Object.values(lp.slots).includes('{MUTED}')", timeout=3)
    mid = slot_of(await listener.lp("lp.slots"))[MUTED]
    before = (await listener.stats())["mids"][mid]["packetsReceived"]
    await asyncio.sleep(1.0)
    assert (await listener.stats())["mids"][mid]["packetsReceived"] > before

    for m in (*speakers, listener):
        assert m.errors == [], m.errors
    await host.close()
