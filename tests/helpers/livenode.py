"""A real livepark node on ephemeral ports, and a small protocol client for tests."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import msgpack
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from livepark.app import App
from livepark.auth.grants import Grants
from livepark.auth.tokens import mint_token
from livepark.config import Config, load_config

SECRET = "test-secret-test-secret-test-secret!"
ADMIN_KEY = "test-admin-key"
HOST = Grants(room_admin=True, can_publish=True)
SPEAKER = Grants(can_publish=True)
VIEWER = Grants()


def node_config(tmp: Path | None = None, **sections: Mapping[str, Any]) -> Config:
    overrides: dict[str, Any] = {
        "server": {"port": 0, "http_port": 0, "ops_port": 0},
        "auth": {"secret": SECRET, "admin_key": ADMIN_KEY},
        "media": {"host_addresses": ["127.0.0.1"]},
    }
    for name, values in sections.items():
        overrides.setdefault(name, {}).update(values)
    return load_config(None, environ={}, overrides=overrides)


@asynccontextmanager
async def running_node(config: Config | None = None) -> AsyncIterator[App]:
    app = App(config or node_config())
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


def token(room: str, user: str, grants: Grants = VIEWER, **kw: Any) -> str:
    return mint_token(
        SECRET, room=room, identity=user, name=kw.pop("name", user.title()), grants=grants, **kw
    )


class Client:
    """A member's WebSocket: requests with ids, replies matched, events queued."""

    def __init__(self, ws: ClientConnection, encoding: str) -> None:
        self.ws = ws
        self.encoding = encoding
        self._ids = itertools.count(1)
        self.replies: dict[Any, asyncio.Future[dict[str, Any]]] = {}
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.frames: list[dict[str, Any]] = []
        self.close_code: int | None = None
        self._reader = asyncio.get_running_loop().create_task(self._read())
        self.joined: dict[str, Any] | None = None

    @classmethod
    async def connect(cls, app: App, encoding: str = "json") -> Client:
        assert app.ports is not None
        ws = await connect(f"ws://127.0.0.1:{app.ports.ws}/", subprotocols=[f"livepark.v1.{encoding}"])  # type: ignore[list-item]
        return cls(ws, encoding)

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                msg = json.loads(raw) if isinstance(raw, str) else msgpack.unpackb(raw)
                self.frames.append(msg)
                if msg.get("type") == "reply" and msg.get("id") in self.replies:
                    self.replies.pop(msg["id"]).set_result(msg)
                else:
                    await self.events.put(msg)
        except ConnectionClosed:
            pass
        finally:
            self.close_code = self.ws.close_code
            for fut in self.replies.values():
                if not fut.done():
                    fut.set_exception(ConnectionError(f"closed {self.close_code}"))

    async def send_raw(self, frame: str | bytes) -> None:
        await self.ws.send(frame)

    async def request(self, type_: str, timeout: float = 10.0, **data: Any) -> dict[str, Any]:
        rid = next(self._ids)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.replies[rid] = fut
        msg = {"v": 1, "id": rid, "type": type_, "data": data}
        await self.ws.send(json.dumps(msg) if self.encoding == "json" else msgpack.packb(msg))
        return await asyncio.wait_for(fut, timeout)

    async def ok(self, type_: str, **data: Any) -> dict[str, Any]:
        reply = await self.request(type_, **data)
        assert reply["ok"], reply
        return dict(reply["data"])

    async def error(self, type_: str, **data: Any) -> str:
        reply = await self.request(type_, **data)
        assert not reply["ok"], reply
        return str(reply["error"]["code"])

    async def join(self, tok: str, **data: Any) -> dict[str, Any]:
        self.joined = await self.ok("join", token=tok, **data)
        return self.joined

    async def next_event(self, name: str, timeout: float = 5.0, **match: Any) -> dict[str, Any]:
        """The next ``event`` frame named ``name`` whose data contains ``match`` (others skipped)."""
        async with asyncio.timeout(timeout):
            while True:
                msg = await self.events.get()
                if (
                    msg.get("type") == "event"
                    and msg.get("event") == name
                    and all(msg["data"].get(k) == v for k, v in match.items())
                ):
                    return msg

    async def next_frame(self, type_: str, timeout: float = 5.0) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while True:
                msg = await self.events.get()
                if msg.get("type") == type_:
                    return msg

    async def wait_closed(self, timeout: float = 5.0) -> int | None:
        async with asyncio.timeout(timeout):
            await asyncio.shield(self._reader)
        return self.close_code

    async def close(self) -> None:
        await self.ws.close()
        try:
            await asyncio.wait_for(asyncio.shield(self._reader), 2)
        except (TimeoutError, ConnectionError):
            pass

    def drop(self) -> None:
        """Vanish without a closing handshake (a phone losing its network)."""
        assert self.ws.transport is not None
        self.ws.transport.abort()
