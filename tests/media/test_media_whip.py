"""WHIP / WHEP routes over real HTTP, with real aiortc clients."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Literal

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from media_kit import Env, PatternTrack, ToneTrack, config, until

from livepark.errors import LiveparkError
from livepark.media.config import IceServer
from livepark.media.events import PublisherStopped
from livepark.media.sfu import Sfu
from livepark.media.whip import add_whip_routes


class AuthError(LiveparkError):
    def __init__(self, message: str, code: str, http_status: int) -> None:
        super().__init__(message, code=code)
        self.http_status = http_status


async def authorize(token: str, room: str, action: Literal["publish", "subscribe"]) -> str:
    if room == "missing":
        raise AuthError("no such room", "room_not_found", 404)
    users = {"alice-token": ("alice", {"publish", "subscribe"}), "viewer-token": ("viewer", {"subscribe"})}
    if token not in users:
        raise AuthError("invalid token", "invalid_token", 401)
    user, rights = users[token]
    if action not in rights:
        raise AuthError(f"{user} may not {action}", "forbidden", 403)
    return user


@pytest.fixture
def media_config():  # type: ignore[no-untyped-def]
    return config(
        ice_servers=(
            IceServer(urls=("stun:stun.example.net:3478",)),
            IceServer(urls=("turn:turn.example.net:3478",), username="u", credential="c"),
        )
    )


@pytest.fixture
async def client(env: Env) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    app = web.Application()
    add_whip_routes(app, env.sfu, authorize)
    async with TestClient(TestServer(app, host="127.0.0.1")) as c:
        yield c


async def offer(*, audio: bool = True, video: bool = True, recv: bool = False) -> RTCPeerConnection:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    if recv:
        pc.addTransceiver("audio", direction="recvonly")
        pc.addTransceiver("video", direction="recvonly")
    else:
        if audio:
            pc.addTransceiver(ToneTrack(), direction="sendonly")
        if video:
            pc.addTransceiver(PatternTrack(), direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    return pc


SDP = {"Content-Type": "application/sdp"}


async def test_whip_publish_whep_view_and_delete(
    client: TestClient[web.Request, web.Application], env: Env
) -> None:
    pub = await offer()
    viewer = await offer(recv=True)
    frames: list[object] = []

    @viewer.on("track")
    def _on_track(track) -> None:  # type: ignore[no-untyped-def]
        import asyncio

        async def consume() -> None:
            while True:
                frames.append(await track.recv())

        asyncio.get_running_loop().create_task(consume())

    try:
        r = await client.post(
            "/whip/live1",
            data=pub.localDescription.sdp,
            headers={**SDP, "Authorization": "Bearer alice-token"},
        )
        assert r.status == 201, await r.text()
        assert r.content_type == "application/sdp"
        location = r.headers["Location"]
        assert location.startswith("/whip/live1/") and r.headers["ETag"]
        links = r.headers.getall("Link")
        assert '<stun:stun.example.net:3478>; rel="ice-server"' in links
        assert any('username="u"' in link and 'credential="c"' in link for link in links)
        await pub.setRemoteDescription(RTCSessionDescription(sdp=await r.text(), type="answer"))

        r = await client.post(
            "/whep/live1",
            data=viewer.localDescription.sdp,
            headers={**SDP, "Authorization": "Bearer viewer-token"},
        )
        assert r.status == 201, await r.text()
        whep_location = r.headers["Location"]
        await viewer.setRemoteDescription(RTCSessionDescription(sdp=await r.text(), type="answer"))
        assert await until(lambda: len(frames) >= 20, 15)

        r = await client.patch(
            location, data="a=candidate:...", headers={"Content-Type": "application/trickle-ice-sdpfrag"}
        )
        assert r.status == 405
        r = await client.delete(location)
        assert r.status == 200
        assert await until(lambda: env.of(PublisherStopped), 5)
        assert env.of(PublisherStopped)[0].reason == "unpublished"
        r = await client.delete(location)
        assert r.status == 404
        r = await client.delete(whep_location)
        assert r.status == 200
        assert env.sfu.stats()["subscribers"] == 0
    finally:
        await pub.close()
        await viewer.close()


async def test_whip_errors(client: TestClient[web.Request, web.Application], env: Env) -> None:
    pc = await offer(video=False)
    sdp = pc.localDescription.sdp
    await pc.close()

    r = await client.post("/whip/live1", data=sdp, headers=SDP)
    assert r.status == 401 and r.headers["WWW-Authenticate"] == "Bearer"
    assert (await r.json())["error"] == "unauthorized"

    r = await client.post("/whip/live1", data=sdp, headers={**SDP, "Authorization": "Bearer nope"})
    assert r.status == 401 and (await r.json())["error"] == "invalid_token"

    r = await client.post("/whip/live1", data=sdp, headers={**SDP, "Authorization": "Bearer viewer-token"})
    assert r.status == 403 and (await r.json())["error"] == "forbidden"

    r = await client.post("/whip/missing", data=sdp, headers={**SDP, "Authorization": "Bearer alice-token"})
    assert r.status == 404

    r = await client.post(
        "/whip/live1", data=sdp, headers={"Content-Type": "text/plain", "Authorization": "Bearer alice-token"}
    )
    assert r.status == 415 and (await r.json())["error"] == "unsupported_media_type"

    r = await client.post(
        "/whip/live1", data="garbage", headers={**SDP, "Authorization": "Bearer alice-token"}
    )
    assert r.status == 400
    body = await r.json()
    assert body["error"] == "bad_sdp" and body["message"]

    r = await client.options("/whip/live1")
    assert r.status == 204 and "POST" in r.headers["Allow"] and r.headers["Accept-Post"] == "application/sdp"
    assert r.headers["Access-Control-Allow-Origin"] == "*"

    r = await client.delete("/whip/live1/unknown-session")
    assert r.status == 404
    assert env.sfu.stats()["publishers"] == 0


async def test_authorize_without_http_status_is_forbidden(env: Env) -> None:
    async def broken(token: str, room: str, action: Literal["publish", "subscribe"]) -> str:
        raise RuntimeError("boom")

    app = web.Application()
    add_whip_routes(app, env.sfu, broken)
    async with TestClient(TestServer(app, host="127.0.0.1")) as c:
        r = await c.post("/whep/x", data="v=0", headers={**SDP, "Authorization": "Bearer t"})
        assert r.status == 403


def test_sfu_type_is_what_routes_need() -> None:
    assert callable(Sfu.publish) and callable(Sfu.subscribe_with_offer)
