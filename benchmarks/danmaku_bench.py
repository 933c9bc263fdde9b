"""Danmaku fan-out benchmark (not a test): one room, N WebSocket viewers, K comments/s.

    .venv/bin/python benchmarks/danmaku_bench.py                 # 10,000 clients, K=20,200,1000
    .venv/bin/python benchmarks/danmaku_bench.py --clients 2000 --rates 200 --duration 8
    .venv/bin/python benchmarks/danmaku_bench.py --smoke         # < 30 s

Two processes.  The *server* (this file with ``--role server``) runs a websockets server
(``compression=None``) whose handler attaches every connection to a ``DanmakuHub`` through
``WebSocketSubscriber``; it generates the K comments/s itself with ``hub.send_comment`` and
measures its own CPU with ``getrusage(RUSAGE_SELF)``.  The *driver* opens N raw asyncio
sockets, does the WebSocket handshake, and counts bytes; 1 client in ``--sample`` parses
every frame to measure publish-to-receipt latency (publish time is in the comment text).

For each K the server then runs the *floor* on the same sockets: a minimal loop writing the
same frame bytes (a real batch frame of that run, per encoding) to the same transports at
the same frame rate — ``for t, f in pairs: t.write(f)`` — and reports CPU per write.

Targets, each printed as a PASS/FAIL line at the end:

- frame-write cost: the ``ratio`` column (hub fan-out CPU per write / floor CPU per write,
  same batch, same sockets) <= 1.3 at every K;
- throughput: the ``deliv/CPU-s`` column >= 2,000,000 comment deliveries per server
  CPU-second at K=200, with >= 10,000 clients connected;
- memory: <= 20 KB (20,000 bytes) of server RSS per idle connection, RSS growth divided by
  the connections actually attached.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import resource
import statistics
import sys
import time
import zlib
from typing import Any

try:
    import uvloop
except ImportError:  # pragma: no cover
    uvloop = None  # type: ignore[assignment]

import msgpack

ROOM = "bench"
PAD = "弹幕测试 nice stream! " * 2  # ~40 code points of typical comment text


def raise_nofile(want: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < want:
        try:  # root may raise the hard limit too
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            return want
        except (ValueError, OSError):
            want = hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(want, hard)), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def cpu_seconds() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


# ---------------------------------------------------------------- server


async def server_main(args: argparse.Namespace) -> None:
    from prometheus_client import REGISTRY
    from websockets.asyncio.server import ServerConnection, serve

    from livepark.danmaku import DanmakuHub, HubConfig, Sender, WebSocketSubscriber
    from livepark.danmaku.batcher import Batch
    from livepark.danmaku.frames import BatchFrames, FrameKind
    from livepark.danmaku.room import LossyItem, Room

    class BenchHub(DanmakuHub):
        """Adds a timer around the fan-out and keeps the batches' payloads for the floor."""

        fanout_cpu = 0.0
        batches: list[list[Any]] = []

        def _fanout(self, room: Room, batch: Batch[LossyItem]) -> None:
            t0 = time.thread_time()
            super()._fanout(room, batch)
            self.fanout_cpu += time.thread_time() - t0
            self.batches.append([it.payload for it in batch.items])

    cfg = HubConfig(rate=1e6, burst=1e6, dup_window=0.0, batch_window=args.window, history_comments=20)
    hub = BenchHub(cfg)
    subs: list[WebSocketSubscriber] = []

    async def handler(ws: ServerConnection) -> None:
        assert ws.request is not None
        query = dict(kv.split("=", 1) for kv in ws.request.path.split("?", 1)[1].split("&"))
        sub = WebSocketSubscriber(ws, query["user"])
        subs.append(sub)
        await hub.attach(ROOM, sub, compress=query.get("c") == "1")
        try:
            await ws.wait_closed()
        finally:
            hub.detach(ROOM, sub)

    def metric(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    def attached() -> int:
        """Connections attached to the room right now (handshakes that failed or closed
        are not counted)."""
        room = hub._rooms.get(ROOM)
        return len(room.members) if room is not None else 0

    base_rss = rss_bytes()
    server = await serve(
        handler, "127.0.0.1", 0, subprotocols=["livepark.v1.json", "livepark.v1.msgpack"],  # type: ignore[list-item]
        compression=None, ping_interval=None, backlog=4096,
    )  # fmt: skip
    port = server.sockets[0].getsockname()[1]
    print(json.dumps({"port": port, "base_rss": base_rss}), flush=True)

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    async def generate(rate: int, duration: float) -> int:
        sent, start = 0, time.monotonic()
        tick = 0.01
        while (elapsed := time.monotonic() - start) < duration:
            due = int(elapsed * rate) + 1
            while sent < due:
                text = f"{time.time():.6f} #{sent} {PAD}"
                await hub.send_comment(ROOM, Sender(f"s{sent % 997}", "viewer"), text)
                sent += 1
            await asyncio.sleep(tick)
        return sent

    while line := await reader.readline():
        cmd = json.loads(line)
        out: dict[str, Any] = {}
        if cmd["cmd"] == "rss":
            out = {"rss": rss_bytes(), "connections": attached()}
        elif cmd["cmd"] == "run":
            hub.batches = []
            hub.fanout_cpu = 0.0
            w0 = metric("livepark_danmaku_frame_writes_total", cls="lossy")
            d0 = metric("livepark_danmaku_deliveries_total", cls="lossy")
            s0 = metric("livepark_danmaku_skipped_batches_total")
            c0, t0 = cpu_seconds(), time.monotonic()
            sent = await generate(cmd["rate"], cmd["duration"])
            await asyncio.sleep(args.window * 2)  # last batch out
            cpu, wall = cpu_seconds() - c0, time.monotonic() - t0
            out = {
                "rate": cmd["rate"], "sent": sent, "cpu": cpu, "wall": wall,
                "fanout_cpu": hub.fanout_cpu,
                "writes": metric("livepark_danmaku_frame_writes_total", cls="lossy") - w0,
                "deliveries": metric("livepark_danmaku_deliveries_total", cls="lossy") - d0,
                "skipped": metric("livepark_danmaku_skipped_batches_total") - s0,
                "batches": len(hub.batches),
                "rss": rss_bytes(), "connections": attached(),
            }  # fmt: skip
        elif cmd["cmd"] == "floor":
            # The median-sized batch of the last run, encoded as the hub encodes it.  Frames
            # alternate between the floor (minimal loop) and the hub's own fan-out of the
            # same batch (encode once per kind + slow-consumer checks + writes), same rate.
            batches = sorted(hub.batches, key=len) or [[]]
            payloads = batches[len(batches) // 2]
            frames = BatchFrames(ROOM, payloads)
            per_kind = {k: frames.get(k) for k in FrameKind}
            room = hub._rooms[ROOM]
            pairs = [(s._transport, per_kind[room.members[s].kind]) for s in subs if s in room.members]
            replay = Batch(tuple(LossyItem(p) for p in payloads), 0.0, 0, "window")
            interval = cmd["duration"] / max(1, cmd["frames"])
            floor_cpu = hub_cpu = 0.0
            floor_writes = 0
            w0 = metric("livepark_danmaku_frame_writes_total", cls="lossy")
            t0 = time.monotonic()
            for i in range(cmd["frames"]):
                tt = time.thread_time()
                if i % 2 == 0:
                    for transport, frame in pairs:
                        transport.write(frame)
                    floor_cpu += time.thread_time() - tt
                    floor_writes += len(pairs)
                else:
                    DanmakuHub._fanout(hub, room, replay)
                    hub_cpu += time.thread_time() - tt
                delay = t0 + (i + 1) * interval - time.monotonic()
                await asyncio.sleep(max(0.0, delay))
            hub_writes = metric("livepark_danmaku_frame_writes_total", cls="lossy") - w0
            await asyncio.sleep(args.window * 2)
            out = {
                "floor_cpu": floor_cpu, "floor_writes": floor_writes,
                "hub_cpu": hub_cpu, "hub_writes": hub_writes,
                "frame_bytes": {k.name: len(v) for k, v in per_kind.items()},
                "items": len(payloads),
            }  # fmt: skip
        print(json.dumps(out), flush=True)
        if cmd["cmd"] == "quit":
            break
    server.close()
    await hub.aclose()


# ---------------------------------------------------------------- clients


class Viewer(asyncio.Protocol):
    """A raw WebSocket client: handshake, then count bytes (sampled ones parse frames)."""

    __slots__ = ("buf", "handshake", "nbytes", "parse", "proto", "ready", "stats", "transport")

    def __init__(self, path: str, proto: str, parse: bool, stats: dict[str, Any]) -> None:
        self.handshake = (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: "
            f"{base64.b64encode(os.urandom(16)).decode()}\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Protocol: {proto}\r\n\r\n"
        ).encode()
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.buf = b""
        self.nbytes = 0
        self.parse = parse
        self.stats = stats

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        transport.write(self.handshake)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        self.nbytes += len(data)
        if not self.ready.done():
            self.buf += data
            if b"\r\n\r\n" in self.buf:
                head, self.buf = self.buf.split(b"\r\n\r\n", 1)
                if b" 101 " not in head.split(b"\r\n", 1)[0]:
                    self.ready.set_exception(RuntimeError(head[:100].decode()))
                    return
                self.ready.set_result(None)
                if not self.parse:
                    self.buf = b""
            return
        if self.parse:
            self.buf += data
            self._frames(time.time())

    def _frames(self, now: float) -> None:
        buf = self.buf
        while len(buf) >= 2:
            n, off = buf[1] & 0x7F, 2
            if n == 126:
                n, off = int.from_bytes(buf[2:4], "big"), 4
            elif n == 127:
                n, off = int.from_bytes(buf[2:10], "big"), 10
            if len(buf) < off + n:
                break
            payload, opcode = buf[off : off + n], buf[0] & 0x0F
            buf = buf[off + n :]
            if opcode not in (1, 2):
                continue
            obj = json.loads(payload) if opcode == 1 else msgpack.unpackb(payload)
            if obj.get("z") == "zlib":
                obj["items"] = msgpack.unpackb(zlib.decompress(obj["items"]))
            if obj.get("type") == "danmaku.batch" and self.stats["on"]:
                self.stats["frames"] += 1
                self.stats["skipped"] += obj["skipped"]
                for item in obj["items"]:
                    self.stats["latency"].append(now - float(item["text"].split(" ", 1)[0]))
        self.buf = buf

    def connection_lost(self, exc: Exception | None) -> None:
        self.stats["lost"] += 1


async def driver(args: argparse.Namespace) -> None:
    nofile = raise_nofile(args.clients + 1024)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--role", "server", "--clients", str(args.clients),
        "--window", str(args.window),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdin and proc.stdout

    async def ask(**cmd: Any) -> dict[str, Any]:
        assert proc.stdin and proc.stdout
        proc.stdin.write((json.dumps(cmd) + "\n").encode())
        await proc.stdin.drain()
        return json.loads(await proc.stdout.readline())  # type: ignore[no-any-return]

    hello = json.loads(await proc.stdout.readline())
    port = hello["port"]
    loop = asyncio.get_running_loop()
    stats: dict[str, Any] = {"on": False, "frames": 0, "skipped": 0, "latency": [], "lost": 0}
    viewers: list[Viewer] = []
    t0 = time.monotonic()
    before = await ask(cmd="rss")

    async def connect(i: int) -> None:
        msgpack_client = (i % 100) < args.msgpack_pct
        proto = "livepark.v1.msgpack" if msgpack_client else "livepark.v1.json"
        compress = int(msgpack_client and (i // 100) % 100 < args.compress_pct)
        v = Viewer(f"/?user=v{i}&c={compress}", proto, i % args.sample == 0, stats)
        await loop.create_connection(lambda: v, "127.0.0.1", port)
        await v.ready
        viewers.append(v)

    for start in range(0, args.clients, 250):
        await asyncio.gather(*(connect(i) for i in range(start, min(args.clients, start + 250))))
    for _ in range(600):  # the server attaches asynchronously after each handshake
        if (await ask(cmd="rss"))["connections"] >= args.clients:
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.5)  # idle, a stats push or so
    idle = await ask(cmd="rss")
    connected = idle["connections"]
    per_conn = (idle["rss"] - before["rss"]) / max(1, connected)
    print(f"# danmaku fan-out bench: {args.clients} clients ({args.msgpack_pct}% msgpack, "
          f"{args.compress_pct}% of those zlib), "
          f"window {args.window * 1000:.0f} ms, loop={'uvloop' if uvloop else 'asyncio'}, "
          f"RLIMIT_NOFILE={nofile}, connect {time.monotonic() - t0:.1f}s")  # fmt: skip
    print(f"server RSS: {before['rss'] / 2**20:.1f} MiB before clients, "
          f"{idle['rss'] / 2**20:.1f} MiB with {connected} idle connections attached "
          f"({args.clients} opened) -> {per_conn / 1024:.1f} KiB = {per_conn / 1000:.1f} KB "
          f"per idle connection (target <= 20 KB)")  # fmt: skip
    header = (f"{'K/s':>5} {'deliv/s':>9} {'deliv/CPU-s':>12} {'writes/CPU-s':>13} "
              f"{'us/write':>8} {'vs floor':>8} {'hub us/w':>8} {'floor':>8} {'ratio':>6} "
              f"{'p50 ms':>7} {'p99 ms':>7} {'skipped':>7} {'srv CPU%':>8}")  # fmt: skip
    rows: list[Row] = []
    for rate in args.rates:
        stats.update(on=True, frames=0, skipped=0, latency=[])
        run = await ask(cmd="run", rate=rate, duration=args.duration)
        await asyncio.sleep(0.3)
        stats["on"] = False
        lat = sorted(stats["latency"])
        floor = await ask(cmd="floor", frames=2 * run["batches"], duration=2 * run["wall"])
        us_write = run["cpu"] / max(1, run["writes"]) * 1e6
        floor_us = floor["floor_cpu"] / max(1, floor["floor_writes"]) * 1e6
        hub_us = floor["hub_cpu"] / max(1, floor["hub_writes"]) * 1e6
        row = (
            f"{rate:>5} {run['deliveries'] / run['wall']:>9.0f} "
            f"{run['deliveries'] / run['cpu']:>12,.0f} {run['writes'] / run['cpu']:>13,.0f} "
            f"{us_write:>8.2f} {us_write / floor_us:>8.2f} "
            f"{hub_us:>8.2f} {floor_us:>8.2f} {hub_us / floor_us:>6.2f} "
            f"{statistics.median(lat) * 1000 if lat else float('nan'):>7.1f} "
            f"{lat[int(len(lat) * 0.99)] * 1000 if lat else float('nan'):>7.1f} "
            f"{run['skipped']:>7.0f} {run['cpu'] / run['wall'] * 100:>7.0f}%"
        )
        rows.append((row, run, floor))
        if len(rows) == 1:
            print(header)
        print(row, flush=True)
        load_per_conn = (run["rss"] - before["rss"]) / max(1, run["connections"])
        print(f"      RSS under load {run['rss'] / 2**20:.1f} MiB with {run['connections']} "
              f"connections -> {load_per_conn / 1024:.1f} KiB = {load_per_conn / 1000:.1f} KB "
              f"per connection", flush=True)  # fmt: skip
        print(f"      sent {run['sent']} comments in {run['batches']} batches; "
              f"{run['writes']:.0f} frame writes; median batch {floor['items']} items, "
              f"frame bytes {floor['frame_bytes']}; sampled clients saw {stats['frames']} "
              f"frames, skipped {stats['skipped']}; lost connections {stats['lost']}",
              flush=True)  # fmt: skip
    print("columns: deliv = comment deliveries (comments x connections written); CPU-s = "
          "server process getrusage user+sys over the whole live run; us/write = that CPU per "
          "frame write (intake, moderation hook, batching, encoding, timers, writes); "
          "'vs floor' = us/write / floor.  Then, on the same sockets, alternating at the same "
          "frame rate: 'hub us/w' = the hub's fan-out of the run's median batch (encode once "
          "per kind, slow-consumer checks, writes) and 'floor' = a bare loop writing the same "
          "frame bytes to the same transports (thread CPU per write); ratio = hub/floor.  "
          "Latency = publish to receipt in sampled clients (includes the batch window).")  # fmt: skip
    if connected < 10_000:
        print(f"(a run with {connected} clients: verdicts below are meant for the full 10,000-client run)")
    for line in verdicts(rows, connected, per_conn):
        print(line)
    await ask(cmd="quit")
    for v in viewers:
        v.transport.close()
    await proc.wait()


RATIO_TARGET = 1.3
DELIVERIES_TARGET = 2_000_000
DELIVERIES_AT_K = 200
DELIVERIES_MIN_CLIENTS = 10_000
IDLE_BYTES_TARGET = 20_000  # 20 KB


Row = tuple[str, dict[str, Any], dict[str, Any]]


def verdicts(rows: list[Row], connected: int, per_conn: float) -> list[str]:
    """One PASS/FAIL line per target (see the module docstring)."""
    out = []
    for _, run, floor in rows:
        hub_us = floor["hub_cpu"] / max(1, floor["hub_writes"])
        floor_us = floor["floor_cpu"] / max(1, floor["floor_writes"])
        ratio = hub_us / floor_us if floor_us else float("inf")
        ok = ratio <= RATIO_TARGET
        out.append(f"{'PASS' if ok else 'FAIL'} frame-write cost at K={run['rate']}: 'ratio' column "
                   f"(hub us/w / floor us/w) {ratio:.2f} (target <= {RATIO_TARGET})")  # fmt: skip
    at_k = [run for _, run, _ in rows if run["rate"] == DELIVERIES_AT_K]
    if not at_k:
        out.append(f"FAIL deliveries per CPU-second: K={DELIVERIES_AT_K} was not run")
    else:
        per_cpu = at_k[0]["deliveries"] / at_k[0]["cpu"]
        clients = at_k[0]["connections"]
        enough = clients >= DELIVERIES_MIN_CLIENTS
        ok = per_cpu >= DELIVERIES_TARGET and enough
        why = "" if enough else f" (too few clients: needs >= {DELIVERIES_MIN_CLIENTS:,})"
        out.append(f"{'PASS' if ok else 'FAIL'} deliveries per CPU-second at K={DELIVERIES_AT_K}: "
                   f"'deliv/CPU-s' column {per_cpu:,.0f} (target >= {DELIVERIES_TARGET:,}) with "
                   f"{clients} clients{why}")  # fmt: skip
    ok = per_conn <= IDLE_BYTES_TARGET
    out.append(f"{'PASS' if ok else 'FAIL'} memory per idle connection: {per_conn / 1000:.1f} KB "
               f"({per_conn / 1024:.1f} KiB) (target <= 20 KB), over {connected} connections")  # fmt: skip
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--role", default="driver", choices=["driver", "server"])
    p.add_argument("--clients", type=int, default=10_000)
    p.add_argument("--rates", type=lambda s: [int(x) for x in s.split(",")], default=[20, 200, 1000])
    p.add_argument("--duration", type=float, default=10.0, help="seconds per rate")
    p.add_argument("--window", type=float, default=0.1, help="batch window (s)")
    p.add_argument("--msgpack-pct", type=int, default=50, help="%% of clients on msgpack")
    p.add_argument("--compress-pct", type=int, default=0,
                   help="%% of msgpack clients asking for zlib batches")  # fmt: skip
    p.add_argument("--sample", type=int, default=100, help="1 in SAMPLE clients parse frames")
    p.add_argument("--smoke", action="store_true", help="500 clients, 3 s per rate (< 30 s)")
    args = p.parse_args()
    if args.smoke and args.role == "driver":
        args.clients, args.duration, args.rates, args.sample = 500, 3.0, [20, 200, 1000], 10
    if args.role == "server":
        raise_nofile(args.clients + 1024)
    runner = uvloop.run if uvloop is not None else asyncio.run
    if args.role == "server" and os.environ.get("DANMAKU_BENCH_PROFILE"):
        import cProfile

        cProfile.runctx("runner(server_main(args))", globals(), locals(),
                        os.environ["DANMAKU_BENCH_PROFILE"])  # fmt: skip
        return
    runner(server_main(args) if args.role == "server" else driver(args))


if __name__ == "__main__":
    main()
