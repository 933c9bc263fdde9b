"""RTCP feedback toward publishers, end to end: keyframe requests (at most one PLI per second
per track, whoever asks) and NACKs for packets lost on the way to the SFU."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import pytest
from media_kit import Env, Publisher, Subscriber, closing, publish, subscribe, until

from livepark.media import aiortc_adapter as adapter
from livepark.media import aiortc_testkit as testkit

MIN_GAP = 1.0
"""The SFU's rule: one PLI per second per publisher track — checked on the SFU's own clock at
each PLI it sends (a client's receive stamps also carry the shared loop's jitter)."""
MAX_GAP = 1.2
"""While requests keep coming, the next PLI is due 1 s after the last (plus the 20 ms tick)."""


@pytest.fixture
def sfu_plis(env: Env, monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The SFU's clock at every PLI it sends to a publisher (the ``now`` it decided with)."""
    sent: list[float] = []
    real = adapter.send_pli

    def send_pli(receiver: Any, media_ssrc: int) -> Any:
        sent.append(env.clock.last)
        return real(receiver, media_ssrc)

    monkeypatch.setattr(adapter, "send_pli", send_pli)
    return sent


async def all_delivered(pub: Publisher, sfu_plis: list[float]) -> None:
    """Every PLI the SFU sent reached the publisher, and the publisher got no other (a PLI
    bypassing the SFU's throttle, e.g. aiortc's own receiver, would show up here)."""
    n = len(sfu_plis)
    assert await until(lambda: len(pub.plis()) >= n, 3), (len(pub.plis()), n)
    assert len(pub.plis()) <= len(sfu_plis), (len(pub.plis()), len(sfu_plis))


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
    return [b - a for a, b in itertools.pairwise(times)]


def video_receiver(sub: Subscriber) -> tuple[object, int]:
    """(the client's video receiver, the slot SSRC it receives on)."""
    v = sub.mids("video")[0]
    receiver = next(t.receiver for t in sub.pc.getTransceivers() if t.mid == v)
    return receiver, next(s for s in sub.media_ssrcs if sub.ssrc_mid[s] == v)


async def test_unrecoverable_upstream_loss_gets_at_most_one_pli_per_second(
    env: Env, sfu_plis: list[float]
) -> None:
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
        plis = [t for t in sfu_plis if t >= t0]
        assert loss.jumps >= 15, "the loss was not induced"
        assert len(plis) >= 3, f"the SFU stopped asking for keyframes: {plis}"
        assert min(gaps(sfu_plis), default=MIN_GAP) >= MIN_GAP, f"PLIs {gaps(sfu_plis)} s apart"
        await all_delivered(alice, sfu_plis)


async def _request_keyframes(sub: Subscriber, *, fir: bool, until_t: float) -> int:
    receiver, ssrc = video_receiver(sub)
    sent = 0
    while time.monotonic() < until_t:
        await testkit.send_keyframe_request(receiver, ssrc, fir=fir, seq=sent)
        sent += 1
        await asyncio.sleep(0.05)
    return sent


async def test_a_storm_of_subscriber_plis_and_firs_reaches_the_publisher_throttled(
    env: Env, sfu_plis: list[float]
) -> None:
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
        plis = [t for t in sfu_plis if t0 <= t <= t1]
        assert plis, "no subscriber PLI/FIR made the SFU ask the publisher"
        # the storm really was one: many requests for each PLI let through
        assert sum(sent) >= 10 * len(plis), (sum(sent), len(plis))
        assert min(gaps(sfu_plis), default=MIN_GAP) >= MIN_GAP, f"PLIs {gaps(sfu_plis)} s apart"
        # answered promptly: no longer wait than MAX_GAP, less only what loop stalls explain
        waits = [(t0, plis[0]), *itertools.pairwise(plis), (plis[-1], t1)]
        slow = [(round(b - a, 3), round(env.lag.stalled(a, b), 3)) for a, b in waits]
        assert all(gap - stall <= MAX_GAP for gap, stall in slow), (
            f"(gap, loop stall) {slow}: requests went unanswered"
        )
        await all_delivered(alice, sfu_plis)


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
