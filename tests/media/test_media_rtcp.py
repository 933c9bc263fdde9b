"""The sender reports a subscriber receives: on the slot SSRCs, with an NTP/RTP mapping that
predicts the forwarded timestamps (lip sync), 1 s apart on legs with video, 5 s audio-only."""

from __future__ import annotations

import asyncio
import struct
import time

from media_kit import Env, Packet, Subscriber, closing, publish, subscribe, until

from livepark.media import aiortc_testkit as testkit
from livepark.media.rtcp import carries_feedback

NTP_EPOCH_OFFSET = 2208988800
CLOCK = {"audio": 48000, "video": 90000}


def watch_reports(sub: Subscriber) -> list[tuple[float, int, int, int]]:
    """[(arrival monotonic time, ssrc, ntp, rtp timestamp)] of every SR ``sub`` receives."""
    got: list[tuple[float, int, int, int]] = []
    testkit.observe_sender_reports(
        sub.pc, lambda ssrc, ntp, rtp, _n: got.append((time.monotonic(), ssrc, ntp, rtp))
    )
    return got


def ntp_seconds(ntp: int) -> float:
    return ntp / (1 << 32) - NTP_EPOCH_OFFSET


async def test_sender_reports_map_ntp_to_the_forwarded_timestamps(env: Env) -> None:
    alice = await publish(env.sfu, "r1", "alice")
    bob = await subscribe(env.sfu, "r1", "bob")
    reports = watch_reports(bob)
    async with closing(alice, bob):
        a, v = bob.mids("audio")[0], bob.mids("video")[0]
        assert await until(lambda: bob.decoded(v) >= 5 and bob.decoded(a) >= 5, 15)
        t0 = time.monotonic()
        await asyncio.sleep(6.0)
        t_end = time.monotonic()
        ssrcs = {mid: next(s for s in bob.media_ssrcs if bob.ssrc_mid[s] == mid) for mid in (a, v)}

        def following(mid: str, arrived: float) -> list[Packet]:
            return [p for p in bob.rtp(mid, since=arrived) if p.ssrc == ssrcs[mid]][:20]

        def window(mid: str) -> list[tuple[float, int, int, int]]:
            return [r for r in reports if r[1] == ssrcs[mid] and t0 <= r[0] <= t_end]

        # an SR read just before t_end needs its 20 packets too
        await until(lambda: all(len(following(m, r[0])) >= 20 for m in (a, v) for r in window(m)), 5.0)
        wall_minus_mono = time.time() - time.monotonic()
        by_kind = {}
        for mid in (a, v):
            ssrc, kind = ssrcs[mid], bob.mid_kind[mid]
            mine = window(mid)
            by_kind[kind] = mine
            assert mine, f"no sender report for the {kind} slot (SSRC {ssrc})"
            # Every SR predicts the RTP timestamp of the packets that follow it to within
            # 100 ms: a wrong offset (or the SFU's clock instead of the publisher's) fails.
            # Receive stamps come from a loop shared with the SFU: a packet read late makes
            # its error negative only.  So no packet may be early by 100 ms, and of the 20
            # after each SR the best one must be within 100 ms — minus only stalls the lag
            # monitor measured (a mapping whose packet left late, or reads held up).
            for arrived, _ssrc, ntp, rtp in mine:
                later = following(mid, arrived)
                assert later, "no media after the sender report"
                errors = []
                for p in later:
                    predicted = rtp + (p.t + wall_minus_mono - ntp_seconds(ntp)) * CLOCK[kind]
                    error = ((p.ts - int(predicted) + 0x80000000) & 0xFFFFFFFF) - 0x80000000
                    errors.append(error / CLOCK[kind])
                mapped = ntp_seconds(ntp) - wall_minus_mono  # when the mapping's packet left
                early = 0.1 + env.lag.stalled(mapped - 2.0, mapped)
                late = 0.1 + env.lag.stalled(arrived - 2.0, later[-1].t)
                assert max(errors) < early, (kind, "packets earlier than predicted", errors)
                assert max(errors) > -late, (kind, "every packet later than predicted", errors)
        # A leg that carries video reports every ~1 s (both slots in one compound).
        assert 4 <= len(by_kind["video"]) <= 12, len(by_kind["video"])
        assert len(by_kind["audio"]) == len(by_kind["video"])


async def test_audio_only_legs_report_every_five_seconds(env: Env) -> None:
    speaker = await publish(env.sfu, "v1", "speaker", kind="voice", video=False)
    listener = await subscribe(env.sfu, "v1", "listener", kind="voice")
    reports = watch_reports(listener)
    async with closing(speaker, listener):
        a = listener.mids("audio")[0]
        assert await until(lambda: listener.decoded(a) >= 5, 15)
        assert await until(lambda: len(reports) >= 1, 3.0), "no first sender report within 3 s"
        t0 = time.monotonic()
        await asyncio.sleep(8.0)
        later = [r for r in reports if r[0] >= t0]
        # 5 s mean, randomised over [2.5, 7.5] s: one to three in 8 s, never one per second.
        assert 1 <= len(later) <= 3, len(later)


def _rtcp(pt: int, words: int = 1) -> bytes:
    return struct.pack("!BBH", 0x80, pt, words) + bytes(4 * words)


def test_only_compounds_with_feedback_reach_aiortcs_parser() -> None:
    rr, sdes, bye = _rtcp(201), _rtcp(202, 3), _rtcp(203)
    nack, psfb = _rtcp(205, 3), _rtcp(206, 2)
    assert not carries_feedback(rr)
    assert not carries_feedback(rr + sdes + bye)
    assert carries_feedback(rr + nack)  # NACK after a receiver report
    assert carries_feedback(rr + sdes + psfb)  # PLI / FIR / REMB
    assert carries_feedback(rr[:-1])  # malformed: let aiortc's parser reject it
    assert carries_feedback(rr + b"\x80")  # trailing garbage
