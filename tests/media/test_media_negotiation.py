"""Codec negotiation between what publishers send and what subscribers accept (real peers)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from media_kit import Env, closing, publish, subscribe, subscribe_whep_style, until

from livepark.media.errors import MediaError
from livepark.media.events import LegFailed, PublisherStarted

MAIN = "4d001f"


def h264_profile_only(profile_level_id: str) -> Callable[[str], str]:
    """An offer munger: the video section offers one H.264 codec, with ``profile_level_id``
    (what Chromium sends when only Main profile is enabled: ``4d001f``)."""

    def munge(sdp: str) -> str:
        sdp = keep_codecs(
            sdp, "video", lambda name, fmtp: name == "h264" and "profile-level-id=42e01f" in fmtp
        )
        return sdp.replace("profile-level-id=42e01f", f"profile-level-id={profile_level_id}")

    return munge


def keep_codecs(sdp: str, kind: str, keep: Callable[[str, str], bool]) -> str:
    """``sdp`` with the ``kind`` sections reduced to the codecs ``keep(name, fmtp)`` accepts
    (and their RTX)."""
    out: list[str] = []
    sections: list[list[str]] = [[]]
    for line in sdp.split("\r\n"):
        if line.startswith("m="):
            sections.append([])
        sections[-1].append(line)
    for section in sections:
        if not section or not section[0].startswith(f"m={kind} "):
            out += section
            continue
        text = "\n".join(section)
        names = {int(pt): name.lower() for pt, name in re.findall(r"^a=rtpmap:(\d+) ([^/]+)", text, re.M)}
        fmtp = {int(pt): params for pt, params in re.findall(r"^a=fmtp:(\d+) (.*)$", text, re.M)}
        kept = {pt for pt, name in names.items() if name != "rtx" and keep(name, fmtp.get(pt, ""))}
        kept |= {pt for pt, name in names.items() if name == "rtx" and int(fmtp[pt].split("apt=")[1]) in kept}
        for line in section:
            match = re.match(r"^a=(?:rtpmap|fmtp|rtcp-fb):(\d+)", line)
            if match and int(match.group(1)) not in kept:
                continue
            if line.startswith("m="):
                head = line.split(" ")[:3]
                line = " ".join(head + [p for p in line.split(" ")[3:] if int(p) in kept])
            out.append(line)
    return "\r\n".join(out)


async def test_h264_main_profile_offer_is_forwarded_on_the_subscribers_main_payload_type(env: Env) -> None:
    answers: list[str] = []
    alice = await publish(
        env.sfu,
        "n1",
        "alice",
        audio=False,
        video_codec="video/H264",
        munge_offer=h264_profile_only(MAIN),
        # the aiortc client itself encodes baseline: let it read the answer as such
        munge_answer=lambda sdp: answers.append(sdp) or sdp.replace(MAIN, "42e01f"),
    )
    bob = await subscribe(env.sfu, "n1", "bob")
    async with closing(alice, bob):
        assert f"profile-level-id={MAIN}" in answers[0]
        v = bob.mids("video")[0]
        main_pts = {pt for pt, codec in bob.mid_pts[v].items() if codec == f"h264;{MAIN}"}
        assert main_pts, f"the subscriber was not offered Main profile: {bob.mid_pts[v]}"
        assert await until(lambda: bob.decoded(v) >= 10, 15)
        media = [p for p in bob.packets if p.ssrc in bob.media_ssrcs and bob.ssrc_mid[p.ssrc] == v]
        assert {p.pt for p in media} == main_pts


async def test_subscriber_without_the_publishers_video_codec_is_refused(env: Env) -> None:
    alice = await publish(env.sfu, "n2", "alice", video_codec="video/H264")
    async with closing(alice):
        assert await until(lambda: env.of(PublisherStarted), 10)
        # WHEP style: the client offers VP8 only
        with pytest.raises(MediaError) as info:
            await subscribe_whep_style(env.sfu, "n2", "vp8-player", video_codec="video/VP8")
        assert info.value.code == "no_supported_codec"
        assert "h264" in str(info.value).lower()
        assert env.sfu.stats()["subscribers"] == 0
        # the SFU offers, the client answers VP8 only
        bob = await subscribe(env.sfu, "n2", "bob", answer=False)
        async with closing(bob):
            vp8_only = keep_codecs(bob.pc.localDescription.sdp, "video", lambda name, fmtp: name == "vp8")
            with pytest.raises(MediaError) as info:
                await env.sfu.subscriber_answer("n2", "bob", vp8_only)
            assert info.value.code == "no_supported_codec"
            assert [(e.user_id, e.reason) for e in env.of(LegFailed)] == [("bob", "bad_answer")]
        # a client that takes H.264 gets the video
        carol = await subscribe_whep_style(env.sfu, "n2", "carol", video_codec="video/H264")
        async with closing(carol):
            assert await until(lambda: carol.decoded(carol.mids("video")[0]) >= 10, 15)


async def test_vp8_only_subscriber_is_accepted_while_no_video_is_published(env: Env) -> None:
    alice = await publish(env.sfu, "n3", "alice", video=False)
    async with closing(alice):
        assert await until(lambda: env.of(PublisherStarted), 10)
        bob = await subscribe_whep_style(env.sfu, "n3", "bob", video_codec="video/VP8")
        async with closing(bob):
            assert await until(lambda: bob.decoded(bob.mids("audio")[0]) >= 10, 15)
