"""SFU benchmark: one publisher → N subscribers, server CPU per forwarded packet.

Runs the *server* in this process and the publisher and the subscribers in other processes,
so ``getrusage`` of this process measures the server alone.  Two servers are measured in the
same run, on the same machine and load:

- ``sfu``    — livepark's packet-level pass-through (``livepark.media.Sfu``) with its C send
  loop (``livepark.media._fastsend``);
- ``sfu-py`` — the same SFU with ``fast_send=False``: the send loop in Python;
- ``relay``  — aiortc's ``MediaRelay`` baseline: decode once, encode per subscriber.

After each SFU phase, on the same subscriber legs and sockets, the benchmark measures a
*send floor*: a bare C loop that SRTP-protects and ``sendto``s one small packet to every
subscriber (thread CPU per send), and prints the phase's CPU per forwarded packet as a ratio
of it.  On a 2-core VM with the receivers on the same machine, loopback delivery (waking the
receiving process) is charged to the sender, so the floor is what no SFU can beat here.

Server CPU per forwarded packet uses the SFU's own count of datagrams it sent (for the relay:
packets delivered to subscribers, it has no counter).  At the end each SFU result is checked
against the issue's targets (≤ 10 µs server CPU per forwarded packet, forwarding delay p99 ≤
5 ms — the SFU's fan-out time from the packet's arrival in the hook to the last ``sendto``).

Reported per phase (audio only, then audio+video): packets delivered to subscribers per
second, server CPU µs per delivered packet (user+system, all threads), loss (from RTP
sequence numbers at the subscribers), end-to-end delay publisher→subscriber p50/p99 (SFU
only: the publisher stamps its payloads, which a relay would re-encode), the SFU's own fan-out
time per packet p50/p99 (arrival in the hook → ``sendto`` to the last subscriber) and event
loop lag p99.

Subscribers are aiortc peers whose receivers are hooked like the SFU's (no decoding), so
clients stay cheap; they still send receiver reports and NACKs.

Usage::

    .venv/bin/python benchmarks/sfu_bench.py --smoke          # < 30 s sanity run
    .venv/bin/python benchmarks/sfu_bench.py -n 50 -n 200     # audio at 50 and 200, + video
    .venv/bin/python benchmarks/sfu_bench.py -n 200 --phases audio --relay-max 50
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fractions
import json
import math
import multiprocessing as mp
import os
import resource
import struct
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

MAGIC = b"LPBS"
STAMP = struct.Struct("<d")
HOST = "127.0.0.1"


# ================================================================================ publisher
def _publisher_main(url: str, mode: str, kinds: list[str], stop: Any, ready: Any) -> None:
    asyncio.run(_publisher(url, mode, kinds, stop, ready))


async def _publisher(url: str, mode: str, kinds: list[str], stop: Any, ready: Any) -> None:
    import aiohttp
    from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
    from av import AudioFrame, Packet, VideoFrame

    from livepark.media import aiortc_adapter as adapter

    class Paced(MediaStreamTrack):
        """A track whose ``recv()`` returns frame ``n`` at ``t0 + n / fps``."""

        fps = 50.0

        def __init__(self) -> None:
            super().__init__()
            self.n = 0
            self.t0 = time.monotonic()

        async def next_frame(self) -> int:
            self.n += 1
            await asyncio.sleep(max(0.0, self.t0 + self.n / self.fps - time.monotonic()))
            return self.n

    class StampedAudio(Paced):
        """Opus-sized packets (80 B) every 20 ms, stamped with the send time."""

        kind = "audio"

        async def recv(self) -> Packet:
            n = await self.next_frame()
            p = Packet(b"\xfc" + MAGIC + STAMP.pack(time.monotonic()) + bytes(67))
            p.pts, p.time_base = n * 960, fractions.Fraction(1, 48000)
            return p

    class StampedVideo(Paced):
        """Fake VP8 frames of 2,400 B at 30 fps (2 RTP packets each), a keyframe every 30."""

        kind = "video"
        fps = 30.0

        async def recv(self) -> Packet:
            n = await self.next_frame()
            first = b"\x10" if n % 30 == 1 else b"\x11"  # VP8 P bit: 0 = keyframe
            p = Packet(first + MAGIC + STAMP.pack(time.monotonic()) + bytes(2400 - 13))
            p.pts, p.time_base = n * 3000, fractions.Fraction(1, 90000)
            return p

    class Tone(Paced):
        """A 1 kHz sine, 20 ms frames (raw audio: the MediaRelay baseline encodes it)."""

        kind = "audio"
        buf = b"".join(
            struct.pack("<h", int(8000 * math.sin(2 * math.pi * 1000 * i / 48000))) for i in range(960)
        )

        async def recv(self) -> AudioFrame:
            n = await self.next_frame()
            f = AudioFrame(format="s16", layout="mono", samples=960)
            f.planes[0].update(self.buf)
            f.pts, f.sample_rate, f.time_base = n * 960, 48000, fractions.Fraction(1, 48000)
            return f

    class Pattern(Paced):
        """A moving 320x240 luma ramp at 30 fps (raw video for the baseline)."""

        kind = "video"
        fps = 30.0

        async def recv(self) -> VideoFrame:
            n = await self.next_frame()
            f = VideoFrame(width=320, height=240, format="yuv420p")
            for i, plane in enumerate(f.planes):
                rows = plane.buffer_size // plane.line_size
                row = (
                    bytes(((x + n * 3) & 0xFF) for x in range(plane.line_size))
                    if i == 0
                    else bytes([128]) * plane.line_size
                )
                plane.update(row * rows)
            f.pts, f.time_base = n * 3000, fractions.Fraction(1, 90000)
            return f

    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    if "audio" in kinds:
        pc.addTransceiver(StampedAudio() if mode == "sfu" else Tone(), direction="sendonly")
    if "video" in kinds:
        t = pc.addTransceiver(StampedVideo() if mode == "sfu" else Pattern(), direction="sendonly")
        from aiortc import RTCRtpSender

        t.setCodecPreferences(
            [
                c
                for c in RTCRtpSender.getCapabilities("video").codecs
                if c.mimeType in ("video/VP8", "video/rtx")
            ]
        )
    adapter.configure_gathering(pc, [HOST], None)
    await pc.setLocalDescription(await pc.createOffer())
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{url}/publish", data=pc.localDescription.sdp) as r:
            answer = await r.text()
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    ready.set()
    await asyncio.get_running_loop().run_in_executor(None, stop.wait)
    await pc.close()


# ================================================================================ subscribers
@dataclass
class SsrcCount:
    first: int | None = None
    last: int = 0  # extended highest sequence number
    seen: set[int] = field(default_factory=set)

    def add(self, seq: int) -> None:
        if self.first is None:
            self.first = self.last = seq
        else:
            base = self.last & ~0xFFFF
            ext = base | seq
            if ext - self.last > 0x8000:
                ext -= 0x10000
            elif self.last - ext > 0x8000:
                ext += 0x10000
            self.last = max(self.last, ext)
            seq = ext
        self.seen.add(seq)


def _worker_main(url: str, ids: list[str], kinds: list[str], cmd: Any, out: Any) -> None:
    asyncio.run(_worker(url, ids, kinds, cmd, out))


async def _worker(url: str, ids: list[str], kinds: list[str], cmd: Any, out: Any) -> None:
    import aiohttp
    from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

    from livepark.media import aiortc_adapter as adapter

    measuring = False
    counts: dict[tuple[str, str], SsrcCount] = {}
    delays: dict[str, list[float]] = {"audio": [], "video": []}
    got: dict[str, set[str]] = {}
    pcs: list[Any] = []

    def hook(sid: str, kind: str, receiver: Any) -> None:
        key = (sid, kind)
        d = delays[kind]

        def on_rtp(packet: Any) -> None:
            got.setdefault(sid, set()).add(kind)
            if not measuring:
                return
            c = counts.get(key)
            if c is None:
                c = counts[key] = SsrcCount()
            if packet.payload_type in (97, 96, 111) or len(packet.payload) > 2:
                c.add(packet.sequence_number)
            p = packet.payload
            i = p.find(MAGIC, 0, 24)
            if i >= 0 and len(d) < 200_000:
                d.append(time.monotonic() - STAMP.unpack_from(p, i + 4)[0])

        adapter.hook_receiver(
            receiver,
            on_rtp=on_rtp,
            on_started=lambda info: None,
            on_sender_report=lambda *a: None,
            on_bye=lambda: None,
        )

    async def one(http: aiohttp.ClientSession, sid: str) -> None:
        async with http.post(f"{url}/subscribe/{sid}") as r:
            offer = await r.text()
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pcs.append(pc)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
        for t in pc.getTransceivers():
            hook(sid, t.kind, t.receiver)
        adapter.configure_gathering(pc, [HOST], None)
        await pc.setLocalDescription(await pc.createAnswer())
        async with http.post(f"{url}/answer/{sid}", data=pc.localDescription.sdp) as r:
            await r.read()

    async with aiohttp.ClientSession() as http:
        for i in range(0, len(ids), 10):
            await asyncio.gather(*(one(http, sid) for sid in ids[i : i + 10]))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if sum(1 for s in ids if got.get(s, set()) >= set(kinds)) == len(ids):
            break
        await asyncio.sleep(0.1)
    loop = asyncio.get_running_loop()
    out.put(("ready", sum(1 for s in ids if got.get(s, set()) >= set(kinds))))
    while True:
        c = await loop.run_in_executor(None, cmd.get)
        if c == "start":
            counts.clear()
            delays["audio"].clear()
            delays["video"].clear()
            measuring = True
        elif c == "stop":
            measuring = False
            res = {
                kind: {
                    "received": sum(len(v.seen) for (s, k), v in counts.items() if k == kind),
                    "expected": sum(v.last - (v.first or 0) + 1 for (s, k), v in counts.items() if k == kind),
                    "subscribers": sum(1 for (s, k) in counts if k == kind),
                }
                for kind in kinds
            }
            out.put(("result", res, delays))
        elif c == "quit":
            break
    for pc in pcs:
        with contextlib.suppress(Exception):
            await pc.close()


# ================================================================================ servers
class SfuServer:
    def __init__(self, fast_send: bool = True) -> None:
        from livepark.media.config import MediaConfig
        from livepark.media.room import MediaRoom
        from livepark.media.sfu import Sfu

        self.sfu = Sfu(
            MediaConfig(
                host_addresses=(HOST,),
                video_slots=1,
                max_subscribers_per_room=10_000,
                answer_timeout=60,
                fast_send=fast_send,
            ),
            lambda e: None,
        )
        self.fanout: list[float] = []
        original = MediaRoom.on_publisher_rtp
        fanout = self.fanout

        def timed(room: Any, leg: Any, kind: Any, packet: Any, now: float) -> None:
            t0 = time.perf_counter()
            original(room, leg, kind, packet, now)
            if len(fanout) < 500_000:
                fanout.append(time.perf_counter() - t0)

        MediaRoom.on_publisher_rtp = timed  # type: ignore[method-assign]
        self._restore = lambda: setattr(MediaRoom, "on_publisher_rtp", original)

    async def publish(self, sdp: str) -> str:
        return await self.sfu.publish("bench", "publisher", sdp, kind="live")

    async def subscribe(self, sid: str) -> str:
        return await self.sfu.subscribe("bench", sid, kind="live")

    async def answer(self, sid: str, sdp: str) -> None:
        await self.sfu.subscriber_answer("bench", sid, sdp)

    def forwarded(self) -> int:
        return self.sfu.stats()["packets_forwarded"]

    async def floor(self, seconds: float) -> float | None:
        """The send floor, on the same legs: a bare C loop (copy, SRTP protect, sendto) of one
        100-byte RTP packet to one slot of every subscriber, every 20 ms.  Returns thread CPU
        µs per send (None without the C extension).  The packets use an SSRC the subscribers
        never negotiated, so their clients drop them."""
        from livepark.media import aiortc_adapter as adapter

        fan = adapter.FAST_FANOUT
        room = self.sfu.rooms.get("bench")
        if fan is None or room is None:
            return None
        sinks = []
        for leg in room.subscribers.values():
            for out in leg.outputs:
                if out.group is not None:
                    sinks.append(adapter.fast_sink(leg.senders[out].transport))
                    break
        sinks = [k for k in sinks if k is not None]
        if not sinks:
            return None
        cpu, sends, seq = 0.0, 0, 0
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            seq += 1
            data = struct.pack("!BBHII", 0x80, 0, seq, seq * 960, 0x0BADF00D) + bytes(88)
            t0 = time.thread_time()
            sent, dropped, _ = fan(data, sinks)
            cpu += time.thread_time() - t0
            sends += sent + dropped
            await asyncio.sleep(0.02)
        return 1e6 * cpu / sends if sends else None

    async def close(self) -> None:
        await self.sfu.close()
        self._restore()


class RelayServer:
    def __init__(self) -> None:
        from aiortc.contrib.media import MediaRelay

        self.relay = MediaRelay()
        self.tracks: dict[str, Any] = {}
        self.pcs: dict[str, Any] = {}
        self.fanout: list[float] = []

    def _pc(self) -> Any:
        from aiortc import RTCConfiguration, RTCPeerConnection

        return RTCPeerConnection(RTCConfiguration(iceServers=[]))

    async def publish(self, sdp: str) -> str:
        from aiortc import RTCSessionDescription

        from livepark.media import aiortc_adapter as adapter

        pc = self._pc()
        self.pcs["publisher"] = pc

        @pc.on("track")
        def on_track(track: Any) -> None:
            self.tracks[track.kind] = track

        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        adapter.configure_gathering(pc, [HOST], None)
        await pc.setLocalDescription(await pc.createAnswer())
        return str(pc.localDescription.sdp)

    async def subscribe(self, sid: str) -> str:
        from livepark.media import aiortc_adapter as adapter

        pc = self._pc()
        self.pcs[sid] = pc
        for kind in ("audio", "video"):
            if kind in self.tracks:
                pc.addTrack(self.relay.subscribe(self.tracks[kind], buffered=False))
        adapter.configure_gathering(pc, [HOST], None)
        await pc.setLocalDescription(await pc.createOffer())
        return str(pc.localDescription.sdp)

    async def answer(self, sid: str, sdp: str) -> None:
        from aiortc import RTCSessionDescription

        await self.pcs[sid].setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))

    def forwarded(self) -> int:
        return 0

    async def close(self) -> None:
        for pc in self.pcs.values():
            with contextlib.suppress(Exception):
                await pc.close()


# ================================================================================ orchestration
def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


async def _loop_lag(samples: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        t = time.perf_counter()
        await asyncio.sleep(0.01)
        samples.append(time.perf_counter() - t - 0.01)


async def run_phase(
    mode: str,
    n: int,
    kinds: list[str],
    window: float,
    workers: int,
    profile: bool = False,
    warmup: float = 2.0,
    repeat: int = 1,
) -> dict[str, Any]:
    from aiohttp import web

    server: SfuServer | RelayServer = (
        SfuServer(fast_send=mode == "sfu") if mode.startswith("sfu") else RelayServer()
    )
    app = web.Application()

    async def h_publish(request: web.Request) -> web.Response:
        return web.Response(text=await server.publish(await request.text()))

    async def h_subscribe(request: web.Request) -> web.Response:
        return web.Response(text=await server.subscribe(request.match_info["sid"]))

    async def h_answer(request: web.Request) -> web.Response:
        await server.answer(request.match_info["sid"], await request.text())
        return web.Response(status=204)

    app.router.add_post("/publish", h_publish)
    app.router.add_post("/subscribe/{sid}", h_subscribe)
    app.router.add_post("/answer/{sid}", h_answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, HOST, 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    url = f"http://{HOST}:{port}"

    ctx = mp.get_context("spawn")
    stop_pub, pub_ready = ctx.Event(), ctx.Event()
    pub_mode = "sfu" if mode.startswith("sfu") else mode
    pub = ctx.Process(target=_publisher_main, args=(url, pub_mode, kinds, stop_pub, pub_ready), daemon=True)
    pub.start()
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, pub_ready.wait, 30)
    if mode == "relay":
        for _ in range(100):
            if all(k in server.tracks for k in kinds):  # type: ignore[union-attr]
                break
            await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)

    ids = [f"s{i}" for i in range(n)]
    w = max(1, min(workers, n))
    chunks = [ids[i::w] for i in range(w)]
    cmds = [ctx.Queue() for _ in chunks]
    out: Any = ctx.Queue()
    procs = [
        ctx.Process(target=_worker_main, args=(url, chunk, kinds, q, out), daemon=True)
        for chunk, q in zip(chunks, cmds, strict=True)
    ]
    t_setup = time.monotonic()
    for p in procs:
        p.start()
    ready = 0
    for _ in procs:
        msg = await loop.run_in_executor(None, out.get, True, 120)
        ready += msg[1]
    setup_s = time.monotonic() - t_setup
    await asyncio.sleep(warmup)

    lag: list[float] = []
    lag_stop = asyncio.Event()
    lag_task = loop.create_task(_loop_lag(lag, lag_stop))
    server.fanout.clear()
    for q in cmds:
        q.put("start")
    prof = None
    if profile:
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
    windows: list[tuple[float, float, int]] = []  # (cpu s, duration s, sfu forwarded)
    user_sys = [0.0, 0.0]
    for _ in range(repeat):
        r0 = resource.getrusage(resource.RUSAGE_SELF)
        f0 = server.forwarded()
        t0 = time.monotonic()
        await asyncio.sleep(window)
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        f1 = server.forwarded()
        t1 = time.monotonic()
        cpu_w = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
        user_sys[0] += r1.ru_utime - r0.ru_utime
        user_sys[1] += r1.ru_stime - r0.ru_stime
        windows.append((cpu_w, t1 - t0, f1 - f0))
    if prof is not None:
        import pstats

        prof.disable()
        pstats.Stats(prof).sort_stats(os.environ.get("BENCH_SORT", "tottime")).print_stats(
            int(os.environ.get("BENCH_TOP", "25"))
        )
    for q in cmds:
        q.put("stop")
    lag_stop.set()
    await lag_task
    fanout = list(server.fanout)
    results = [await loop.run_in_executor(None, out.get, True, 60) for _ in procs]
    floor = await server.floor(min(window, 3.0)) if isinstance(server, SfuServer) else None

    # Idle overhead: the same legs with no media (RTCP, ICE consent, timers).
    stop_pub.set()
    await loop.run_in_executor(None, pub.join, 15)
    await asyncio.sleep(1.5)
    idle_prof = None
    if os.environ.get("BENCH_PROFILE_IDLE"):
        import cProfile

        idle_prof = cProfile.Profile()
        idle_prof.enable()
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.monotonic()
    await asyncio.sleep(window)
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    if idle_prof is not None:
        import pstats

        idle_prof.disable()
        print("# profile of the idle window (legs up, no media)")
        pstats.Stats(idle_prof).sort_stats(os.environ.get("BENCH_SORT", "tottime")).print_stats(
            int(os.environ.get("BENCH_TOP", "25"))
        )
    idle_cpu = ((r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)) / (time.monotonic() - t0)

    for q in cmds:
        q.put("quit")
    for p in [*procs, pub]:
        await loop.run_in_executor(None, p.join, 15)
        if p.is_alive():
            p.kill()
    await server.close()
    await runner.cleanup()

    cpu = sum(w[0] for w in windows)
    dur = sum(w[1] for w in windows)
    per_kind: dict[str, Any] = {}
    delivered = 0
    all_delays: list[float] = []
    for kind in kinds:
        rec = sum(r[1][kind]["received"] for r in results)
        exp = sum(r[1][kind]["expected"] for r in results)
        subs = sum(r[1][kind]["subscribers"] for r in results)
        d = [x for r in results for x in r[2][kind]]
        all_delays += d
        delivered += rec
        per_kind[kind] = {
            "subscribers_receiving": subs,
            "received": rec,
            "loss": (1 - rec / exp) if exp else float("nan"),
            "e2e_p50_ms": pct(d, 0.5) * 1e3 if d else None,
            "e2e_p99_ms": pct(d, 0.99) * 1e3 if d else None,
        }
    forwarded = sum(w[2] for w in windows) if mode.startswith("sfu") else delivered
    return {
        "mode": mode,
        "n": n,
        "kinds": "+".join(kinds),
        "ready": ready,
        "setup_s": round(setup_s, 1),
        "window_s": round(dur, 2),
        "delivered_pps": delivered / dur,
        "forwarded_pps": forwarded / dur,
        "cpu_us_per_forwarded": 1e6 * cpu / forwarded if forwarded else float("nan"),
        "server_cpu_pct": 100 * cpu / dur,
        "cpu_us_per_packet": 1e6 * cpu / delivered if delivered else float("nan"),
        "idle_cpu_pct": 100 * idle_cpu,
        "marginal_us_per_packet": 1e6 * (cpu - idle_cpu * dur) / delivered if delivered else float("nan"),
        "user_us_per_packet": 1e6 * user_sys[0] / delivered if delivered else float("nan"),
        "sys_us_per_packet": 1e6 * user_sys[1] / delivered if delivered else float("nan"),
        "cpu_us_per_packet_windows": [
            round(1e6 * c / (delivered * d / dur), 2) if delivered else None for c, d, _ in windows
        ],
        "floor_us_per_send": floor,
        "fanout_p50_ms": pct(fanout, 0.5) * 1e3 if fanout else None,
        "fanout_p99_ms": pct(fanout, 0.99) * 1e3 if fanout else None,
        "loop_lag_p99_ms": pct(lag, 0.99) * 1e3 if lag else None,
        "per_kind": per_kind,
    }


def fmt(r: dict[str, Any]) -> str:
    def f(x: Any, spec: str = ".1f") -> str:
        return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)

    kinds = "; ".join(
        f"{k}: {v['subscribers_receiving']} subs, loss {f(100 * v['loss'], '.2f')}%"
        + (
            f", e2e p50/p99 {f(v['e2e_p50_ms'])}/{f(v['e2e_p99_ms'])} ms"
            if v["e2e_p50_ms"] is not None
            else ""
        )
        for k, v in r["per_kind"].items()
    )
    per_window = r["cpu_us_per_packet_windows"]
    spread = f" (windows: {', '.join(f(x, '.1f') for x in per_window)})" if len(per_window) > 1 else ""
    return (
        f"{r['mode']:6} N={r['n']:<4} {r['kinds']:11} ready={r['ready']:<4} "
        f"forwarded {f(r['forwarded_pps'], '.0f')} pkt/s, server CPU {f(r['server_cpu_pct'])}% "
        f"= {f(r['cpu_us_per_forwarded'], '.2f')} µs/forwarded pkt; delivered "
        f"{f(r['delivered_pps'], '.0f')} pkt/s = {f(r['cpu_us_per_packet'], '.2f')} µs/delivered pkt"
        f"{spread} [user {f(r['user_us_per_packet'])}"
        f" + sys {f(r['sys_us_per_packet'])}], idle legs {f(r['idle_cpu_pct'])}%, marginal "
        f"{f(r['marginal_us_per_packet'], '.2f')} µs/pkt; fan-out p50/p99 "
        f"{f(r['fanout_p50_ms'], '.3f')}/{f(r['fanout_p99_ms'], '.3f')} ms; "
        f"loop lag p99 {f(r['loop_lag_p99_ms'])} ms | {kinds}"
        + (
            f"\n       send floor on the same legs (C protect+sendto, thread CPU): "
            f"{f(r['floor_us_per_send'], '.2f')} µs/send -> this run / floor = "
            f"{f(r['cpu_us_per_forwarded'] / r['floor_us_per_send'], '.2f')}x"
            if r.get("floor_us_per_send")
            else ""
        )
    )


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, action="append", help="subscribers (repeatable); default 50")
    ap.add_argument("--phases", default="audio,audio+video", help="comma list of audio / audio+video")
    ap.add_argument("--window", type=float, default=5.0, help="measurement window, seconds")
    ap.add_argument("--repeat", type=int, default=3, help="consecutive windows per phase")
    ap.add_argument("--workers", type=int, default=4, help="subscriber processes")
    ap.add_argument("--relay-max", type=int, default=None, help="cap N for the MediaRelay baseline")
    ap.add_argument("--no-relay", action="store_true", help="skip the MediaRelay baseline")
    ap.add_argument("--no-python", action="store_true", help="skip the SFU with its Python send loop")
    ap.add_argument("--video-max", type=int, default=None, help="cap N for the audio+video phase")
    ap.add_argument("--smoke", action="store_true", help="N=4, audio+video, 2 s windows (< 30 s in all)")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument(
        "--profile",
        action="store_true",
        help="cProfile the server during each window (BENCH_PROFILE_IDLE=1: idle)",
    )
    args = ap.parse_args()
    ns = args.n or [50]
    window = args.window
    warmup = 2.0
    if args.smoke:
        ns, window, warmup = [4], 2.0, 1.0
        args.workers, args.repeat = 1, 1
    if args.smoke:
        args.phases = "audio+video"
    phases = [p.split("+") for p in args.phases.split(",")]
    print(f"# sfu_bench: cpus={os.cpu_count()} python={sys.version.split()[0]} pid={os.getpid()}", flush=True)
    results = []
    for n in ns:
        for kinds in phases:
            nk = min(n, args.video_max) if "video" in kinds and args.video_max else n
            sfu = await run_phase("sfu", nk, kinds, window, args.workers, args.profile, warmup, args.repeat)
            print(fmt(sfu), flush=True)
            results.append(sfu)
            if not args.no_python:
                py = await run_phase(
                    "sfu-py", nk, kinds, window, args.workers, args.profile, warmup, args.repeat
                )
                print(fmt(py), flush=True)
                results.append(py)
                ratio = py["cpu_us_per_forwarded"] / sfu["cpu_us_per_forwarded"]
                print(
                    f"  -> Python send loop / C send loop CPU per forwarded packet: {ratio:.2f}x", flush=True
                )
            if args.no_relay:
                continue
            nr = min(nk, args.relay_max) if args.relay_max else nk
            relay = await run_phase(
                "relay", nr, kinds, window, args.workers, args.profile, warmup, args.repeat
            )
            print(fmt(relay), flush=True)
            results.append(relay)
            ratio = relay["cpu_us_per_forwarded"] / sfu["cpu_us_per_forwarded"]
            note = "" if nr == nk else f" (relay at N={nr})"
            print(f"  -> MediaRelay / SFU CPU per packet: {ratio:.1f}x{note}", flush=True)
    print("# targets (issue 3): server CPU <= 10 us per forwarded packet, forwarding delay p99 <= 5 ms")
    if args.smoke:
        print("  (smoke run, N=4: per-packet figures are dominated by fixed costs; see docs/performance.md)")
    for r in results:
        if r["mode"] != "sfu":
            continue
        us, p99 = r["cpu_us_per_forwarded"], r["fanout_p99_ms"]
        loss = max((v["loss"] for v in r["per_kind"].values()), default=float("nan"))
        print(
            f"  sfu N={r['n']} {r['kinds']}: {us:.2f} us/pkt {'PASS' if us <= 10 else 'FAIL'}; "
            f"fan-out p99 {p99 if p99 is None else round(p99, 3)} ms "
            f"{'PASS' if p99 is not None and p99 <= 5 else 'FAIL'}; subscriber loss {100 * loss:.2f}%"
            + (" (clients could not keep up: figures unreliable)" if loss > 0.05 else "")
        )
    if args.json:
        with open(args.json, "w") as fh:  # noqa: ASYNC230 - once, at the end
            json.dump(results, fh, indent=2)


if __name__ == "__main__":
    asyncio.run(main())
