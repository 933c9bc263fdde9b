"""Bad input and failures: garbage SDP, no codec, no answer, bad answer, ports, closing."""

from __future__ import annotations

import asyncio
import random
import socket
import time
from pathlib import Path

import pytest
from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from media_kit import Env, config, publish, subscribe, until

from livepark.media.errors import MediaError
from livepark.media.events import LegFailed, PublisherStopped
from livepark.media.sfu import Sfu

GARBAGE = [
    "",
    "hello world",
    "v=0\r\nthis is not sdp\r\n",
    "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n",  # no media
    "v=0\r\nm=audio nope UDP/TLS/RTP/SAVPF 111\r\n",
    "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:xx opus\r\n",
]


@pytest.mark.parametrize("sdp", GARBAGE)
async def test_garbage_offer_is_bad_sdp(env: Env, sdp: str) -> None:
    with pytest.raises(MediaError) as info:
        await env.sfu.publish("e", "alice", sdp, kind="live")
    assert info.value.code == "bad_sdp"
    with pytest.raises(MediaError) as info:
        await env.sfu.subscribe_with_offer("e", "bob", sdp, kind="live")
    assert info.value.code == "bad_sdp"


async def test_offer_without_supported_codec(env: Env) -> None:
    pc = RTCPeerConnection()
    t = pc.addTransceiver("audio", direction="sendonly")
    t.setCodecPreferences(
        [c for c in RTCRtpSender.getCapabilities("audio").codecs if c.mimeType == "audio/PCMU"]
    )
    offer = await pc.createOffer()
    await pc.close()
    with pytest.raises(MediaError) as info:
        await env.sfu.publish("e", "alice", offer.sdp, kind="live")
    assert info.value.code == "no_supported_codec"
    assert "PCMU".lower() in str(info.value).lower()
    assert env.sfu.stats()["publishers"] == 0


async def test_offer_that_sends_nothing(env: Env) -> None:
    pc = RTCPeerConnection()
    pc.addTransceiver("audio", direction="recvonly")
    offer = await pc.createOffer()
    await pc.close()
    with pytest.raises(MediaError) as info:
        await env.sfu.publish("e", "alice", offer.sdp, kind="live")
    assert info.value.code == "bad_sdp"


@pytest.mark.parametrize("media_config", [config(answer_timeout=0.5)])
async def test_subscriber_that_never_answers_is_closed(env: Env) -> None:
    t0 = time.monotonic()
    await env.sfu.subscribe("e", "bob", kind="live")
    assert env.sfu.stats()["subscribers"] == 1
    assert await until(lambda: env.of(LegFailed), 5.0)
    failed_at, failed = env.timed(LegFailed)[0]  # on the SFU's clock
    assert (failed.user_id, failed.role, failed.reason) == ("bob", "subscriber", "answer_timeout")
    assert failed_at - t0 >= 0.5, f"closed {failed_at - t0:.3f} s after the offer: before the answer timeout"
    assert env.sfu.stats()["subscribers"] == 0
    with pytest.raises(MediaError) as info:
        await env.sfu.subscriber_answer("e", "bob", "v=0\r\n")
    assert info.value.code == "answer_timeout"


async def test_bad_answer_closes_the_leg(env: Env) -> None:
    await env.sfu.subscribe("e", "bob", kind="live")
    with pytest.raises(MediaError) as info:
        await env.sfu.subscriber_answer("e", "bob", "garbage")
    assert info.value.code == "bad_sdp"
    assert [e.reason for e in env.of(LegFailed)] == ["bad_answer"]
    with pytest.raises(MediaError) as info:
        await env.sfu.subscriber_answer("e", "bob", "garbage")
    assert info.value.code == "not_subscribed"


async def test_unknown_legs(env: Env) -> None:
    with pytest.raises(MediaError) as info:
        await env.sfu.unpublish("nowhere", "alice")
    assert info.value.code == "not_publishing"
    with pytest.raises(MediaError) as info:
        await env.sfu.subscriber_answer("nowhere", "alice", "v=0")
    assert info.value.code == "not_subscribed"
    env.sfu.set_forwarding("nowhere", "alice", audio=False, video=False)  # remembered
    await env.sfu.remove_participant("nowhere", "alice")  # forgets it


async def test_close_room_stops_everyone_and_closed_sfu_refuses(env: Env) -> None:
    alice = await publish(env.sfu, "c", "alice", video=False)
    bob = await subscribe(env.sfu, "c", "bob")
    try:
        await env.sfu.close_room("c")
        assert [(e.user_id, e.reason) for e in env.of(PublisherStopped)] == [("alice", "room_closed")]
        assert env.sfu.stats()["publishers"] == 0 and "c" not in env.sfu.rooms
        await env.sfu.close()
        with pytest.raises(MediaError) as info:
            await env.sfu.subscribe("c", "bob", kind="live")
        assert info.value.code == "room_closed"
    finally:
        await alice.close()
        await bob.close()


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def _free_udp_port() -> int:
    """A UDP port free on 127.0.0.1 right now, outside the ephemeral range if possible: the
    test's own clients (and anything else on the machine) bind ephemeral ports meanwhile."""
    low, high = _ephemeral_range()
    pool = [p for p in range(20000, 65000) if not low <= p <= high] or list(range(20000, 65000))
    for port in random.sample(pool, min(len(pool), 200)):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free UDP port found")


async def test_udp_port_range_is_honoured_and_exhaustion_reported() -> None:
    events: list[object] = []
    for _attempt in range(5):  # someone else may bind the port between the probe and the SFU
        port = _free_udp_port()
        sfu = Sfu(config(udp_port_min=port, udp_port_max=port), events.append)
        try:
            alice = await publish(sfu, "p", "alice", video=False)
            break
        except MediaError as exc:
            await sfu.close()
            if exc.code != "ports_exhausted":
                raise
    else:
        pytest.fail("the SFU never got a free port for its one-port range")
    try:
        answer = alice.pc.remoteDescription.sdp
        assert f"127.0.0.1 {port} typ host" in answer
        assert answer.count("typ host") == 1
        with pytest.raises(MediaError) as info:
            await sfu.subscribe("p", "bob", kind="live")
        assert info.value.code == "ports_exhausted"
        await sfu.unpublish("p", "alice")
        await alice.close()
        for _ in range(50):  # the leg's socket closes in the background
            try:
                offer = await sfu.subscribe("p", "bob", kind="live")
                break
            except MediaError:
                await asyncio.sleep(0.05)
        assert f"127.0.0.1 {port} typ host" in offer
    finally:
        await sfu.close()


async def test_sfu_offer_uses_only_configured_host_address(env: Env) -> None:
    offer = await env.sfu.subscribe("h", "bob", kind="voice")
    candidates = [line for line in offer.splitlines() if line.startswith("a=candidate")]
    assert candidates and all(" 127.0.0.1 " in c for c in candidates)
    assert offer.count("m=audio") == 3 and "m=video" not in offer


async def test_ice_servers_for_browsers() -> None:
    from livepark.media.config import IceServer

    sfu = Sfu(
        config(
            ice_servers=(
                IceServer(urls=("stun:stun.example.net:3478",)),
                IceServer(urls=("turn:turn.example.net:3478?transport=udp",), username="u", credential="p"),
            )
        ),
        lambda e: None,
    )
    assert sfu.ice_servers() == [
        {"urls": ["stun:stun.example.net:3478"]},
        {"urls": ["turn:turn.example.net:3478?transport=udp"], "username": "u", "credential": "p"},
    ]
    await sfu.close()


async def test_client_offer_answer_roundtrip_rejects_answer_for_wrong_state(env: Env) -> None:
    bob = await subscribe(env.sfu, "w", "bob")
    try:
        with pytest.raises(MediaError) as info:
            await env.sfu.subscriber_answer("w", "bob", bob.pc.localDescription.sdp)
        assert info.value.code == "wrong_state"
    finally:
        await bob.close()


async def test_publish_twice_replaces_the_first_leg(env: Env) -> None:
    first = await publish(env.sfu, "t", "alice", video=False)
    second = await publish(env.sfu, "t", "alice", video=False)
    try:
        assert [(e.user_id, e.reason) for e in env.of(PublisherStopped)] == [("alice", "replaced")]
        assert env.sfu.stats()["publishers"] == 1
    finally:
        await first.close()
        await second.close()


async def test_remote_close_is_noticed(env: Env) -> None:
    alice = await publish(env.sfu, "rc", "alice", video=False)
    assert await until(lambda: env.sfu.stats()["packets_received"] > 5, 10)
    await alice.close()  # BYE + DTLS close_notify
    assert await until(lambda: env.of(PublisherStopped), 5)
    assert env.of(PublisherStopped)[0].reason in ("bye", "connection_closed")
    _ = RTCSessionDescription  # (imported for type completeness)


async def test_forwarding_rules_set_before_the_room_has_media_apply(env: Env) -> None:
    env.sfu.set_forwarding("early", "alice", audio=False, video=True)
    alice = await publish(env.sfu, "early", "alice", video=False)
    bob = await subscribe(env.sfu, "early", "bob")
    try:
        # bob's leg must be up, and alice's audio flowing past it, for "nothing arrived" to mean
        # anything
        assert await until(lambda: bob.pc.connectionState == "connected", 10)
        received = env.sfu.stats()["packets_received"]
        assert await until(lambda: env.sfu.stats()["packets_received"] > received + 20, 10)
        a = bob.mids("audio")[0]
        assert bob.rtp(a) == [] and env.slots_of("bob")[a] is None
        env.sfu.set_forwarding("early", "alice", audio=True, video=True)
        assert await until(lambda: len(bob.rtp(a)) > 5, 5)
    finally:
        await alice.close()
        await bob.close()


@pytest.mark.parametrize("media_config", [config(tick_interval=0.001)])
async def test_room_is_not_forgotten_while_a_leg_is_negotiating(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The housekeeping timer forgets empty rooms; a publish() still awaiting aiortc must
    # keep its room, or the publisher and later subscribers end up in different rooms.
    original = RTCPeerConnection.setRemoteDescription

    async def slow(self: RTCPeerConnection, description: RTCSessionDescription) -> None:
        await asyncio.sleep(0.05)  # a busy machine
        await original(self, description)

    monkeypatch.setattr(RTCPeerConnection, "setRemoteDescription", slow)
    alice = await publish(env.sfu, "race", "alice", video=False)
    bob = await subscribe(env.sfu, "race", "bob")
    try:
        a = bob.mids("audio")[0]
        assert await until(lambda: len(bob.rtp(a)) > 5, 10)
        assert env.sfu.stats()["rooms"] == 1
    finally:
        await alice.close()
        await bob.close()
