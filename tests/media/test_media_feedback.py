"""RTCP feedback toward publishers, end to end: keyframe requests (at most one PLI per second
per track, whoever asks) and NACKs for packets lost on the way to the SFU."""

from __future__ import annotations

import asyncio
import itertools
import time

from media_kit import Env, Subscriber, closing, publish, subscribe, until

from livepark.media import aiortc_adapter as adapter
from livepark.media import aiortc_testkit as testkit

MIN_GAP = 0.95
"""The SFU's rule is one PLI per second per publisher track; a little network jitter allowed."""


def is_rtp(data: bytes) -> bool:
    return len(data) >= 12 and 128 <= data[0] < 192 and not 192 <= data[1] <= 208


def ssrc_of(data: bytes) -> int:
    return int.from_bytes(data[8:12], "big")


class SkipAhead:
    """Upstream loss the publisher cannot repair: every ``every``-th video packet it sends
    jumps ``skip`` sequence numbers ahead, as if ``skip - 1`` packets had been lost on the way
    to the SFU — packets that were never sent, so the SFU's NACKs go unanswered.  (A jump
    past 512 is what makes aiortc's jitter buffer in the SFU give up and want a PLI.)"""

    def __init__(self, ssrc: int, *, every: int, skip: int) -> None:
        self.ssrc, self.every, self.skip = ssrc, every, skip
        self.active = True
        self.count = self.jumps = self.offset = 0

    def __call__(self, data: bytes) -> bytes:
        if not is_rtp(data) or ssrc_of(data) != self.ssrc:
            return data
        self.count += 1
        if self.active and self.count % self.every == 0:
            self.offset += self.skip
            self.jumps += 1
        seq = (int.from_bytes(data[2:4], "big") + self.offset) & 0xFFFF
        return data[:2] + seq.to_bytes(2, "big") + data[4:]


def gaps(times: list[float]) -> list[float]:
    return [round(b - a, 3) for a, b in itertools.pairwise(times)]


def video_receiver(sub: Subscriber) -> tuple[object, int]:
    """(the client's video receiver, the slot SSRC it receives on)."""
    v = sub.mids("video")[0]
    receiver = next(t.receiver for t in sub.pc.getTransceivers() if t.mid == v)
    return receiver, next(s for s in sub.media_ssrcs if sub.ssrc_mid[s] == v)


async def test_unrecoverable_upstream_loss_gets_at_most_one_pli_per_second(env: Env) -> None:
    alice = await publish(env.sfu, "k1", "alice", audio=False)
    bob = await subscribe(env.sfu, "k1", "bob")
    async with closing(alice, bob):
        v = bob.mids("video")[0]
        assert await until(lambda: bob.decoded(v) >= 10, 15)
        assert alice.video_ssrc is not None
        loss = SkipAhead(alice.video_ssrc, every=8, skip=600)
        testkit.tamper_outgoing(alice.pc, loss)
        t0 = time.monotonic()
        await asyncio.sleep(6.0)
        loss.active = False
        plis = alice.plis(since=t0)
        assert loss.jumps >= 15, "the loss was not induced"
        assert len(plis) >= 3, f"the SFU stopped asking for keyframes: {plis}"
        assert min(gaps(plis)) >= MIN_GAP, f"PLIs {gaps(plis)} s apart"


async def _request_keyframes(sub: Subscriber, *, fir: bool, until_t: float) -> int:
    receiver, ssrc = video_receiver(sub)
    sent = 0
    while time.monotonic() < until_t:
        await testkit.send_keyframe_request(receiver, ssrc, fir=fir, seq=sent)
        sent += 1
        await asyncio.sleep(0.05)
    return sent


async def test_a_storm_of_subscriber_plis_and_firs_reaches_the_publisher_throttled(env: Env) -> None:
    alice = await publish(env.sfu, "k2", "alice", audio=False)
    subs = [await subscribe(env.sfu, "k2", f"s{i}") for i in range(3)]
    async with closing(alice, *subs):
        for s in subs:
            assert await until(lambda s=s: s.decoded(s.mids("video")[0]) >= 5, 15)
        await asyncio.sleep(1.2)  # the joiners' keyframe requests are over
        t0 = time.monotonic()
        t1 = t0 + 5.0
        sent = await asyncio.gather(
            *(_request_keyframes(s, fir=i % 2 == 1, until_t=t1) for i, s in enumerate(subs))
        )
        assert sum(sent) >= 200
        plis = [t for t in alice.plis(since=t0) if t <= t1 + 0.1]
        assert plis, "no subscriber PLI/FIR reached the publisher"
        assert plis[0] - t0 <= 1.2, f"first PLI {plis[0] - t0:.3f} s after the storm began"
        assert min(gaps(plis)) >= MIN_GAP, f"PLIs {gaps(plis)} s apart"
        assert max([*gaps(plis), t1 - plis[-1]]) <= 1.2, (
            f"PLIs {gaps(plis)} s apart: requests went unanswered"
        )


async def test_upstream_loss_is_nacked_to_the_publisher_and_repaired_for_subscribers(env: Env) -> None:
    alice = await publish(env.sfu, "k3", "alice", audio=False)
    bob = await subscribe(env.sfu, "k3", "bob")
    async with closing(alice, bob):
        v = bob.mids("video")[0]
        assert await until(lambda: bob.decoded(v) >= 10, 15)
        dropped: list[int] = []

        def lose(data: bytes) -> bool:  # on the SFU's side of the publisher leg
            if not is_rtp(data) or ssrc_of(data) != alice.video_ssrc or len(dropped) >= 5:
                return False
            seq = int.from_bytes(data[2:4], "big")
            if seq % 7 or seq in dropped:
                return False
            dropped.append(seq)
            return True

        adapter.drop_incoming(env.sfu.rooms["k3"].publishers["alice"].pc, lose)
        assert await until(lambda: len(dropped) == 5, 10)
        assert await until(lambda: set(dropped) <= alice.nacked(), 3), (dropped, sorted(alice.nacked()))
        t = time.monotonic()
        assert await until(lambda: len(bob.rtp(v, since=t)) >= 30, 5)
        slot_ssrc = next(s for s in bob.media_ssrcs if bob.ssrc_mid[s] == v)
        seqs = [p.seq for p in bob.packets if p.ssrc == slot_ssrc]
        offsets = {(s - seqs[0]) & 0xFFFF for s in seqs}
        missing = sorted(set(range(max(offsets) + 1)) - offsets)
        assert not missing, f"the subscriber never got {[(seqs[0] + m) & 0xFFFF for m in missing]}"
        assert not bob.errors
