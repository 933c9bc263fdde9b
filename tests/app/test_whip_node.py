"""WHIP (OBS) and WHEP (players) through a real node, with real access tokens.

The public HTTP listener, ``Node.authorize_http`` and the SFU together: an OBS-like aiortc
publisher POSTs its offer with a host token and creates the room; a WebSocket member sees
her arrive; a WHEP player decodes her audio and video; DELETE ends both sessions and the room
sees the publisher leave.  Bad, expired, wrong-room and under-granted tokens are refused with
the status and error code docs/protocol.md lists, and leave the room as it was.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import ClientSession
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError
from ws_media import until

from helpers.livenode import HOST, SPEAKER, VIEWER, Client, node_config, running_node, token
from livepark.app import App
from livepark.auth.tokens import mint_token
from media.media_kit import PatternTrack, ToneTrack

ROOM = "obs-room"
SDP = {"Content-Type": "application/sdp"}
ICE = [
    {"urls": ["stun:stun.example.org:3478"]},
    {"urls": ["turn:turn.example.org:3478"], "username": "obs", "credential": "relay-pass"},
]


@pytest.fixture
async def node() -> AsyncIterator[App]:
    async with running_node(node_config(media={"ice_servers": ICE})) as app:
        yield app


@pytest.fixture
async def http(node: App) -> AsyncIterator[tuple[ClientSession, str]]:
    assert node.ports is not None
    async with ClientSession() as session:
        yield session, f"http://127.0.0.1:{node.ports.http}"


def bearer(tok: str) -> dict[str, str]:
    return {**SDP, "Authorization": f"Bearer {tok}"}


async def obs_offer() -> RTCPeerConnection:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver(ToneTrack(), direction="sendonly")
    pc.addTransceiver(PatternTrack(), direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    return pc


class Player:
    """A WHEP player: offers to receive one audio and one video track, decodes them."""

    def __init__(self) -> None:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.frames: dict[str, int] = {"audio": 0, "video": 0}
        self.sizes: set[tuple[int, int]] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self.pc.on("track", self._on_track)

    def _on_track(self, track: MediaStreamTrack) -> None:
        self._tasks.append(asyncio.get_running_loop().create_task(self._consume(track)))

    async def _consume(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame: Any = await track.recv()
                self.frames[track.kind] += 1
                if track.kind == "video":
                    self.sizes.add((frame.width, frame.height))
        except MediaStreamError:
            pass

    async def offer(self) -> str:
        self.pc.addTransceiver("audio", direction="recvonly")
        self.pc.addTransceiver("video", direction="recvonly")
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return str(self.pc.localDescription.sdp)

    async def close(self) -> None:
        for t in self._tasks:
            t.cancel()
        await self.pc.close()


async def test_whip_publish_whep_play_and_delete_through_the_node(
    node: App, http: tuple[ClientSession, str]
) -> None:
    session, base = http
    obs, player = await obs_offer(), Player()
    viewer = None
    try:
        r = await session.post(
            f"{base}/whip/{ROOM}",
            data=obs.localDescription.sdp,
            headers=bearer(token(ROOM, "streamer", HOST)),
        )
        assert r.status == 201, await r.text()
        assert r.content_type == "application/sdp"
        whip = r.headers["Location"]
        assert whip.startswith(f"/whip/{ROOM}/") and r.headers["ETag"]
        links = r.headers.getall("Link")
        assert '<stun:stun.example.org:3478>; rel="ice-server"' in links
        assert any('username="obs"' in x and 'credential="relay-pass"' in x for x in links), links
        await obs.setRemoteDescription(RTCSessionDescription(sdp=await r.text(), type="answer"))

        # The WHIP token's room_admin created the room: a member can join it and sees her.
        viewer = await Client.connect(node)
        joined = await viewer.join(token(ROOM, "bo", VIEWER))
        assert joined["room"]["host_id"] == "streamer"
        assert "streamer" in [m["user_id"] for m in joined["room"]["members"]]
        started = await viewer.next_event("publisher.started", user_id="streamer", timeout=15)
        assert sorted(started["data"]["kinds"]) == ["audio", "video"]

        r = await session.post(
            f"{base}/whep/{ROOM}", data=await player.offer(), headers=bearer(token(ROOM, "player", VIEWER))
        )
        assert r.status == 201, await r.text()
        whep = r.headers["Location"]
        assert whep.startswith(f"/whep/{ROOM}/") and r.headers["ETag"]
        await player.pc.setRemoteDescription(RTCSessionDescription(sdp=await r.text(), type="answer"))
        assert await until(lambda: player.frames["video"] >= 20 and player.frames["audio"] >= 20, 20), (
            player.frames
        )
        assert player.sizes == {(160, 120)}  # OBS's picture, forwarded without transcoding
        assert node.sfu.stats()["subscribers"] == 1

        r = await session.delete(base + whep)
        assert r.status == 200
        assert node.sfu.stats()["subscribers"] == 0
        r = await session.delete(base + whip)
        assert r.status == 200
        stopped = await viewer.next_event("publisher.stopped", user_id="streamer")
        assert stopped["data"]["reason"] == "unpublished"
        left = await viewer.next_event("member.left", user_id="streamer")
        assert left["data"]["reason"] == "left"
        assert await until(lambda: node.sfu.stats()["publishers"] == 0, 3)
        snap = await viewer.ok("room.snapshot")
        assert [m["user_id"] for m in snap["room"]["members"]] == ["bo"]
        r = await session.delete(base + whip)
        assert r.status == 404 and (await r.json())["error"] == "not_found"
    finally:
        await obs.close()
        await player.close()
        if viewer is not None:
            await viewer.close()


async def test_whip_whep_refuse_bad_tokens_with_documented_codes(
    node: App, http: tuple[ClientSession, str]
) -> None:
    session, base = http
    obs = await obs_offer()
    sdp = obs.localDescription.sdp
    await obs.close()
    host = await Client.connect(node)
    await host.join(token(ROOM, "hana", HOST), kind="live")
    try:
        refusals: list[tuple[str, dict[str, str], int, str]] = [
            ("whip", SDP, 401, "unauthorized"),
            ("whip", bearer("not-a-jwt"), 401, "token_malformed"),
            (
                "whip",
                bearer(
                    mint_token(
                        "another-secret-another-secret-another", room=ROOM, identity="eve", grants=HOST
                    )
                ),
                401,
                "token_bad_signature",
            ),
            ("whip", bearer(token(ROOM, "eve", HOST, now=time.time() - 3600, ttl=60)), 401, "token_expired"),
            ("whip", bearer(token("other-room", "eve", HOST)), 403, "token_wrong_room"),
            ("whip", bearer(token(ROOM, "eve", VIEWER)), 403, "insufficient_grant"),
            ("whip", bearer(token(ROOM, "eve", HOST, verified=False)), 403, "not_verified"),
            ("whep", bearer(token(ROOM, "eve", HOST, now=time.time() - 3600, ttl=60)), 401, "token_expired"),
            ("whep", bearer(token("other-room", "eve", VIEWER)), 403, "token_wrong_room"),
            ("whep", bearer(token("no-such-room", "eve", VIEWER)), 404, "room_not_found"),
        ]
        for kind, headers, status, code in refusals:
            room = "no-such-room" if code == "room_not_found" else ROOM
            r = await session.post(f"{base}/{kind}/{room}", data=sdp, headers=headers)
            body = await r.json()
            assert (r.status, body["error"]) == (status, code), (kind, code, body)
            assert body["message"]
        r = await session.post(f"{base}/whip/{ROOM}", data=sdp, headers=SDP)
        assert r.headers["WWW-Authenticate"] == "Bearer"

        # nobody got in: the room is as the host left it, and no media leg was made
        snap = await host.ok("room.snapshot")
        assert [m["user_id"] for m in snap["room"]["members"]] == ["hana"]
        assert node.sfu.stats()["publishers"] == 0 and node.sfu.stats()["subscribers"] == 0
        assert await host.ok("ping")
    finally:
        await host.close()


async def test_whip_speaker_without_a_publishing_role_is_refused_and_not_left_in_the_room(
    node: App, http: tuple[ClientSession, str]
) -> None:
    """``can_publish`` alone is not enough in someone else's room: a speaker must be a
    co-host (live) to publish, and a refused WHIP attempt must not leave her behind."""
    session, base = http
    obs = await obs_offer()
    host = await Client.connect(node)
    await host.join(token(ROOM, "hana", HOST), kind="live")
    try:
        r = await session.post(
            f"{base}/whip/{ROOM}", data=obs.localDescription.sdp, headers=bearer(token(ROOM, "sam", SPEAKER))
        )
        assert (r.status, (await r.json())["error"]) == (403, "not_permitted")
        await asyncio.sleep(0.2)
        snap = await host.ok("room.snapshot")
        assert [m["user_id"] for m in snap["room"]["members"]] == ["hana"], snap["room"]["members"]
        assert node.sfu.stats()["publishers"] == 0
    finally:
        await obs.close()
        await host.close()


async def test_failed_whip_offer_does_not_leave_a_ghost_publisher_in_the_room() -> None:
    """OBS with a broken offer: the request is authorized (she joins the room she creates),
    then refused for its SDP.  No stream will ever end, so nothing else would make her leave:
    members must see her go within ``connect_timeout``."""
    async with running_node(node_config(media={"connect_timeout": 0.5})) as app, ClientSession() as session:
        assert app.ports is not None
        base = f"http://127.0.0.1:{app.ports.http}"
        r = await session.post(
            f"{base}/whip/{ROOM}", data="v=0\r\nbroken", headers=bearer(token(ROOM, "streamer", HOST))
        )
        assert (r.status, (await r.json())["error"]) == (400, "bad_sdp")
        viewer = await Client.connect(app)
        try:
            joined = await viewer.join(token(ROOM, "bo", VIEWER))
            if "streamer" in [m["user_id"] for m in joined["room"]["members"]]:
                left = await viewer.next_event("member.left", user_id="streamer", timeout=3)
                assert left["data"]["reason"] == "left"
            snap = await viewer.ok("room.snapshot")
            assert [m["user_id"] for m in snap["room"]["members"]] == ["bo"]
        finally:
            await viewer.close()
