"""The C send loop (livepark.media._fastsend) against pylibsrtp and real UDP sockets."""

from __future__ import annotations

import socket
import struct
from typing import Any

import pylibsrtp
import pytest
from media_kit import Env, closing, config, publish, subscribe, until
from pylibsrtp import _binding as srtp_binding

from livepark.media import _fastsend  # must be built: a missing build fails the suite here
from livepark.media import aiortc_adapter as adapter
from livepark.media.forwarder import SlotOutput, TrackForwarder

KEY = bytes(range(30))
PROFILE = pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80


def session(direction: int) -> pylibsrtp.Session:
    return pylibsrtp.Session(pylibsrtp.Policy(key=KEY, ssrc_type=direction, srtp_profile=PROFILE))


def rtp(seq: int, payload: bytes = b"x" * 100, ssrc: int = 0x1234) -> bytes:
    return struct.pack("!BBHII", 0x80, 111, seq, seq * 960, ssrc) + payload


def fn_ptr() -> int:
    ffi, lib = srtp_binding.ffi, srtp_binding.lib
    return int(ffi.cast("uintptr_t", ffi.addressof(lib, "srtp_protect")))


def ctx_ptr(s: pylibsrtp.Session) -> int:
    return int(srtp_binding.ffi.cast("uintptr_t", s._srtp[0]))


class FakeTransport:
    """Only what the C loop asks of an asyncio transport."""

    def __init__(self) -> None:
        self.closing = False

    def is_closing(self) -> bool:
        return self.closing


@pytest.fixture
def udp() -> Any:
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(2)
    tx.setblocking(False)
    yield tx, rx
    tx.close()
    rx.close()


def test_c_loop_sends_exactly_what_pylibsrtp_would(udp: Any) -> None:
    tx, rx = udp
    port = rx.getsockname()[1]
    out = session(pylibsrtp.Policy.SSRC_ANY_OUTBOUND)
    reference = session(pylibsrtp.Policy.SSRC_ANY_OUTBOUND)
    inbound = session(pylibsrtp.Policy.SSRC_ANY_INBOUND)
    t = FakeTransport()
    sink = _fastsend.Sink(ctx_ptr(out), fn_ptr(), tx.fileno(), "127.0.0.1", port, t, out)
    for seq in range(1, 6):
        data = rtp(seq)
        sent, dropped, failed = _fastsend.fanout(data, [sink])
        assert (sent, dropped, failed) == (1, 0, None)
        wire = rx.recv(2048)
        assert wire == reference.protect(data)  # same keystream and tag as the reference
        assert inbound.unprotect(wire) == data  # and a receiver decrypts it
    assert sink.counters() == (5, 0)


def test_one_packet_to_many_sinks_each_with_its_own_session(udp: Any) -> None:
    tx, rx = udp
    port = rx.getsockname()[1]
    sessions = [session(pylibsrtp.Policy.SSRC_ANY_OUTBOUND) for _ in range(3)]
    sinks = [
        _fastsend.Sink(ctx_ptr(s), fn_ptr(), tx.fileno(), "127.0.0.1", port, FakeTransport(), s)
        for s in sessions
    ]
    sent, _, failed = _fastsend.fanout(rtp(7), sinks)
    assert sent == 3 and failed is None
    got = [rx.recv(2048) for _ in range(3)]
    assert all(session(pylibsrtp.Policy.SSRC_ANY_INBOUND).unprotect(w) == rtp(7) for w in got)


def test_closed_transport_and_send_errors_are_reported_not_raised(udp: Any) -> None:
    tx, rx = udp
    port = rx.getsockname()[1]
    s1, s2 = session(pylibsrtp.Policy.SSRC_ANY_OUTBOUND), session(pylibsrtp.Policy.SSRC_ANY_OUTBOUND)
    closed = FakeTransport()
    closed.closing = True
    dead = _fastsend.Sink(ctx_ptr(s1), fn_ptr(), tx.fileno(), "127.0.0.1", port, closed, s1)
    # A destination the kernel refuses at once: port 0 is not a valid destination.
    other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        bad = _fastsend.Sink(ctx_ptr(s2), fn_ptr(), other.fileno(), "127.0.0.1", port, FakeTransport(), s2)
        other.close()  # the fd is now invalid: sendto fails with EBADF
        sent, _, failed = _fastsend.fanout(rtp(1), [dead, bad])
    finally:
        other.close()
    assert sent == 0
    assert failed is not None and [f[0] for f in failed] == [dead, bad]
    assert failed[0][1] == "transport closed" and failed[1][1].startswith("sendto:")


def test_bad_arguments_are_refused() -> None:
    s = session(pylibsrtp.Policy.SSRC_ANY_OUTBOUND)
    with pytest.raises(ValueError, match="not an IP address"):
        _fastsend.Sink(ctx_ptr(s), fn_ptr(), 0, "example.org", 9, FakeTransport(), s)
    with pytest.raises(ValueError):
        _fastsend.Sink(0, fn_ptr(), 0, "127.0.0.1", 9, FakeTransport(), s)
    with pytest.raises(ValueError, match="too long"):
        _fastsend.fanout(bytes(_fastsend.MAX_PACKET + 1), [])
    with pytest.raises(TypeError):
        _fastsend.fanout(b"x", [object()])  # type: ignore[list-item]


def test_forwarder_uses_the_c_loop_and_reports_its_failures(udp: Any) -> None:
    """Through TrackForwarder: a slot with a C sink gets the packets from C; one whose
    transport closed is handed to on_sink_error (and the other slot is unaffected)."""
    from livepark.media.codecs import CodecInfo
    from livepark.media.forwarder import OutputParams

    tx, rx = udp
    port = rx.getsockname()[1]
    failures: list[tuple[str, str]] = []
    fwd = TrackForwarder(
        "alice",
        "audio",
        {111: CodecInfo(111, "audio/opus", 48000, None)},
        on_sink_error=lambda out, exc: failures.append((out.owner, str(exc))),
        fanout=adapter.FAST_FANOUT,
    )
    assert adapter.FAST_FANOUT is _fastsend.fanout
    transports = {}
    for name in ("bob", "carol"):
        out = SlotOutput(name, "audio", 0)
        out.params = OutputParams(mid="0", ssrc=0x99, rtx_ssrc=0x98, payload_types={"audio/opus": 111})
        s = session(pylibsrtp.Policy.SSRC_ANY_OUTBOUND)
        out.sink = (s.protect, tx.sendto, ("127.0.0.1", port))
        transports[name] = FakeTransport()
        out.fast = _fastsend.Sink(ctx_ptr(s), fn_ptr(), tx.fileno(), "127.0.0.1", port, transports[name], s)
        fwd.attach(out, 0.0)
    fwd.on_rtp(0x1234, 111, 1, 960, 0, b"a" * 60, None, 0.0)
    assert fwd.stats.fast_forwarded == 2 and fwd.stats.packets_forwarded == 2
    inbound = session(pylibsrtp.Policy.SSRC_ANY_INBOUND)
    assert inbound.unprotect(rx.recv(2048))[12:] == b"a" * 60
    rx.recv(2048)  # the second slot's copy
    transports["carol"].closing = True
    fwd.on_rtp(0x1234, 111, 2, 1920, 0, b"a" * 60, None, 0.02)
    assert failures == [("carol", "transport closed")]
    assert fwd.stats.packets_forwarded == 3 and fwd.stats.send_errors == 1
    # Oversized payloads never reach a sink.
    fwd.on_rtp(0x1234, 111, 3, 2880, 0, bytes(1400), None, 0.04)
    assert fwd.stats.oversize_dropped == 1 and fwd.stats.packets_forwarded == 3


async def test_fast_sink_is_built_for_a_real_leg(env: Env) -> None:
    """Not a stub: the adapter makes a Sink from a connected aiortc DTLS transport and the
    SFU forwards through it."""
    alice = await publish(env.sfu, "r1", "alice")
    bob = await subscribe(env.sfu, "r1", "bob")
    async with closing(alice, bob):
        a, v = bob.mids("audio")[0], bob.mids("video")[0]
        # video is forwarded from its first keyframe on: wait for both kinds, not audio alone
        assert await until(lambda: bob.decoded(a) >= 20 and bob.decoded(v) >= 1, 15), bob.frames
        stats = env.sfu.stats()
        assert stats["fast_forwarded"] > 0 and stats["fast_forwarded"] == stats["packets_forwarded"]
        leg = env.sfu.rooms["r1"].subscribers["bob"]
        carrying = [o for o in leg.outputs if o.group is not None]  # alice's audio + video slots
        assert len(carrying) == 2 and all(o.fast is not None and o.fast.counters()[0] > 0 for o in carrying)


@pytest.mark.parametrize("media_config", [config(fast_send=False)])
async def test_python_loop_still_works_when_fast_send_is_off(env: Env) -> None:
    alice = await publish(env.sfu, "r1", "alice")
    bob = await subscribe(env.sfu, "r1", "bob")
    async with closing(alice, bob):
        v = bob.mids("video")[0]
        assert await until(lambda: bob.decoded(v) >= 10, 15), bob.frames
        stats = env.sfu.stats()
        assert stats["fast_forwarded"] == 0 and stats["packets_forwarded"] > 0
