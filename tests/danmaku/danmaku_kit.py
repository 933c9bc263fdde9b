"""Test kit for the danmaku hub: a real websockets server wired to a hub, and clients.

The server handler stands in for the lead's signaling layer: it reads ``user``, ``room``,
``resume``, ``compress`` from the query string, attaches a ``WebSocketSubscriber``, answers
``danmaku.send`` / ``danmaku.like`` requests and detaches on close.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlparse

import msgpack
from prometheus_client import REGISTRY
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import Server, ServerConnection, serve

from livepark.danmaku import (
    CommentRefused,
    DanmakuHub,
    Sender,
    WebSocketSubscriber,
    decode_frame_payload,
)

SUBPROTOCOLS = ["livepark.v1.json", "livepark.v1.msgpack"]


class MetricDeltas:
    """How much each danmaku metric moved since construction (the registry is per process).

    ``m("livepark_danmaku_batches_total", reason="window")`` -> the increase (counters) or
    the change (gauges) since ``m`` was made.
    """

    def __init__(self) -> None:
        self._start: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
        for family in REGISTRY.collect():
            if family.name.startswith("livepark_danmaku_"):
                for s in family.samples:
                    self._start[s.name, frozenset(s.labels.items())] = s.value

    def __call__(self, name: str, **labels: str) -> float:
        now = REGISTRY.get_sample_value(name, labels) or 0.0
        return now - self._start.get((name, frozenset(labels.items())), 0.0)


def gauge(name: str) -> float | None:
    return REGISTRY.get_sample_value(name)


async def wait_until(pred: Callable[[], object], within: float, every: float = 0.01) -> bool:
    """Poll ``pred`` until it is true (True) or ``within`` seconds have passed (False)."""
    deadline = time.monotonic() + within
    while True:
        if pred():
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(every)


async def eventually(pred: Callable[[], object], within: float = 5.0) -> None:
    """Poll ``pred`` until it is true; fail after ``within`` seconds (a bound, not a pace)."""
    assert await wait_until(pred, within), f"condition not met within {within} s"


@dataclass
class HubServer:
    hub: DanmakuHub
    server: Server
    port: int
    subscribers: dict[str, list[WebSocketSubscriber]] = field(default_factory=dict)
    attach_results: list[Any] = field(default_factory=list)
    sndbuf: int | None = None

    def url(self, room: str, user: str, **params: Any) -> str:
        query = "&".join(f"{k}={v}" for k, v in {"room": room, "user": user, **params}.items())
        return f"ws://127.0.0.1:{self.port}/?{query}"

    def buffered_total(self) -> int:
        return sum(s.buffered() for subs in self.subscribers.values() for s in subs)


async def _handler(hs: HubServer, ws: ServerConnection) -> None:
    assert ws.request is not None
    q = {k: v[0] for k, v in parse_qs(urlparse(ws.request.path).query).items()}
    room, user = q["room"], q["user"]
    if hs.sndbuf is not None:
        sock = ws.transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, hs.sndbuf)
    sub = WebSocketSubscriber(ws, user, close_grace=float(q.get("grace", "5")))
    hs.subscribers.setdefault(user, []).append(sub)
    resume = int(q["resume"]) if "resume" in q else None
    result = await hs.hub.attach(room, sub, resume_from=resume, compress=q.get("compress") == "1")
    hs.attach_results.append((user, result))
    binary = sub.encoding == "msgpack"

    async def reply(obj: dict[str, Any]) -> None:
        await ws.send(msgpack.packb(obj) if binary else json.dumps(obj))

    await reply({"v": 1, "type": "attached", "latest_seq": result.latest_seq,
                 "outcome": result.outcome})  # fmt: skip
    try:
        async for raw in ws:
            msg = msgpack.unpackb(raw) if isinstance(raw, bytes) else json.loads(raw)
            if msg["type"] == "danmaku.send":
                data = msg["data"]
                try:
                    res = await hs.hub.send_comment(
                        room, Sender(user, f"name-{user}"), data["text"],
                        mode=data.get("mode", "scroll"),
                    )  # fmt: skip
                except CommentRefused as exc:
                    await reply({"v": 1, "type": "error", "id": msg["id"], "error": exc.to_wire()})
                else:
                    await reply({"v": 1, "type": "danmaku.send.ok", "id": msg["id"],
                                 "data": res.to_wire()})  # fmt: skip
            elif msg["type"] == "danmaku.like":
                hs.hub.like(room, user, msg["data"]["count"])
    except Exception:
        pass
    finally:
        hs.hub.detach(room, sub)


@asynccontextmanager
async def hub_server(hub: DanmakuHub, *, sndbuf: int | None = None) -> AsyncIterator[HubServer]:
    holder: list[HubServer] = []

    async def handler(ws: ServerConnection) -> None:
        await _handler(holder[0], ws)

    async with serve(
        handler,
        "127.0.0.1",
        0,
        subprotocols=SUBPROTOCOLS,
        compression=None,  # type: ignore[arg-type]
    ) as server:
        port = server.sockets[0].getsockname()[1]
        hs = HubServer(hub, server, port, sndbuf=sndbuf)
        holder.append(hs)
        try:
            yield hs
        finally:
            await hub.aclose()


class Client:
    """A websockets client that decodes every frame and files it by type."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.binary = ws.subprotocol == "livepark.v1.msgpack"
        self.frames: list[dict[str, Any]] = []
        self.arrivals: list[float] = []
        self._new = asyncio.Condition()
        self._task = asyncio.get_running_loop().create_task(self._read())
        self._req = 0
        self.close_code: int | None = None

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                text = isinstance(raw, str)
                payload = raw.encode() if isinstance(raw, str) else raw
                self.frames.append(decode_frame_payload(payload, text=text))
                self.arrivals.append(time.time())
                async with self._new:
                    self._new.notify_all()
        except Exception:
            pass
        finally:
            self.close_code = self.ws.close_code
            async with self._new:
                self._new.notify_all()

    def of(self, type_: str) -> list[dict[str, Any]]:
        return [f for f in self.frames if f["type"] == type_]

    def comments(self) -> list[dict[str, Any]]:
        return [i for f in self.of("danmaku.batch") for i in f["items"] if i["kind"] == "comment"]

    def events(self) -> list[dict[str, Any]]:
        return self.of("event")

    async def wait_for(self, pred: Any, within: float = 5.0) -> None:
        async with asyncio.timeout(within):
            async with self._new:
                await self._new.wait_for(lambda: pred(self) or self._task.done())
        assert pred(self), f"condition not met; frames={self.frames[-5:]}"

    async def send(self, type_: str, data: dict[str, Any]) -> str:
        self._req += 1
        rid = f"r{self._req}"
        obj = {"v": 1, "type": type_, "id": rid, "data": data}
        await self.ws.send(msgpack.packb(obj) if self.binary else json.dumps(obj))
        return rid

    async def request(self, type_: str, data: dict[str, Any]) -> dict[str, Any]:
        rid = await self.send(type_, data)
        await self.wait_for(lambda c: any(f.get("id") == rid for f in c.frames))
        return next(f for f in self.frames if f.get("id") == rid)

    async def close(self) -> None:
        await self.ws.close()
        await self._task


@asynccontextmanager
async def client(url: str, encoding: str = "json") -> AsyncIterator[Client]:
    async with connect(
        url,
        subprotocols=[f"livepark.v1.{encoding}"],
        compression=None,  # type: ignore[list-item]
    ) as ws:
        c = Client(ws)
        await c.wait_for(lambda c: bool(c.of("attached")))
        try:
            yield c
        finally:
            c._task.cancel()


async def open_client(url: str, encoding: str = "json") -> Client:
    ws = await connect(url, subprotocols=[f"livepark.v1.{encoding}"], compression=None)  # type: ignore[list-item]
    c = Client(ws)
    await c.wait_for(lambda c: bool(c.of("attached")))
    return c


def split_frames(data: bytes) -> list[dict[str, Any]]:
    """Decode one or more concatenated unmasked server frames."""
    out = []
    while data:
        b0, b1 = data[0], data[1]
        n, off = b1 & 0x7F, 2
        if n == 126:
            n, off = int.from_bytes(data[2:4], "big"), 4
        elif n == 127:
            n, off = int.from_bytes(data[2:10], "big"), 10
        out.append(decode_frame_payload(data[off : off + n], text=(b0 & 0x0F) == 1))
        data = data[off + n :]
    return out


class FakeSub:
    """A Subscriber without a socket: records the bytes it is given."""

    def __init__(self, user_id: str, encoding: str = "json") -> None:
        self.user_id = user_id
        self.encoding = encoding
        self.raw: list[bytes] = []
        self.size = 0
        self.closed_with: tuple[int, str] | None = None

    def buffered(self) -> int:
        return self.size

    def write_frame(self, frame: bytes) -> bool:
        if self.closed_with is not None:
            return False
        self.raw.append(frame)
        return True

    def close(self, code: int, reason: str) -> None:
        self.closed_with = (code, reason)

    def frames(self) -> list[dict[str, Any]]:
        return [f for chunk in self.raw for f in split_frames(chunk)]

    def seqs(self) -> list[int]:
        return [f["seq"] for f in self.frames() if f["type"] == "event"]


async def raw_ws(
    port: int, path: str, *, rcvbuf: int = 4096, proto: str = "livepark.v1.json"
) -> tuple[socket.socket, bytes]:
    """A raw client socket with a small receive buffer, after the opening handshake."""
    import base64
    import os

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, ("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"Sec-WebSocket-Protocol: {proto}\r\n\r\n"
    )
    await loop.sock_sendall(sock, request.encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += await loop.sock_recv(sock, 4096)
    head, rest = buf.split(b"\r\n\r\n", 1)
    assert b" 101 " in head.split(b"\r\n")[0], head
    return sock, rest


async def drain_raw(sock: socket.socket, within: float) -> bytes:
    """Read until EOF/reset or for ``within`` seconds."""
    loop = asyncio.get_running_loop()
    chunks = []
    try:
        async with asyncio.timeout(within):
            while chunk := await loop.sock_recv(sock, 65536):
                chunks.append(chunk)
    except (TimeoutError, ConnectionError):
        pass
    return b"".join(chunks)


def parse_raw(data: bytes) -> tuple[list[dict[str, Any]], int | None]:
    """Decode server frames; return (data frames decoded, close code if a close frame came)."""
    frames, close = [], None
    while len(data) >= 2:
        b0, b1 = data[0], data[1]
        n, off = b1 & 0x7F, 2
        if n == 126:
            n, off = int.from_bytes(data[2:4], "big"), 4
        elif n == 127:
            n, off = int.from_bytes(data[2:10], "big"), 10
        if len(data) < off + n:
            break
        payload, opcode = data[off : off + n], b0 & 0x0F
        if opcode == 8:
            close = int.from_bytes(payload[:2], "big")
        elif opcode in (1, 2):
            frames.append(decode_frame_payload(payload, text=opcode == 1))
        data = data[off + n :]
    return frames, close
