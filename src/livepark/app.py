"""Start and stop a whole node: listeners, room core, hub, SFU."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import urllib.parse
from dataclasses import dataclass

from aiohttp import web

from livepark.auth.tokens import TokenVerifier
from livepark.clock import monotonic
from livepark.config import Config, hs256_secret, load_public_keys
from livepark.configload import masked
from livepark.danmaku.hub import DanmakuHub
from livepark.http.ops import ops_app
from livepark.http.public import public_app
from livepark.media.events import MediaEvent
from livepark.media.sfu import Sfu
from livepark.node import Node
from livepark.signaling.codes import CloseCode
from livepark.signaling.dispatch import Dispatcher
from livepark.signaling.server import SignalingServer

log = logging.getLogger("livepark")


@dataclass
class Ports:
    ws: int
    http: int
    ops: int


class App:
    """A running node.  ``await App(config).start()``; ``await app.stop()``."""

    def __init__(self, config: Config) -> None:
        self.config = config
        # HS256 only with a configured secret, or a development secret when no public keys are
        # configured: a node with public keys never accepts tokens signed with a dev secret.
        self.secret = hs256_secret(config.auth)
        keys = load_public_keys(config.auth)
        self.verifier = TokenVerifier(secret=self.secret, public_keys=keys, leeway=config.auth.leeway)
        self.hub = DanmakuHub(config.danmaku)
        self.sfu = Sfu(config.media, on_event=self._on_media_event)
        self.node = Node(config, self.verifier, self.hub, self.sfu, clock=monotonic)
        self.signaling = SignalingServer(
            config.signaling, Dispatcher(self.node), self.node.connection_closed, monotonic
        )
        self._runners: list[web.AppRunner] = []
        self.ports: Ports | None = None

    def _on_media_event(self, event: MediaEvent) -> None:
        self.node.on_media_event(event)

    async def start(self) -> Ports:
        s = self.config.server
        self.node.start()
        await self.signaling.start(s.host, s.port)
        public = public_app(self.node, self.secret or "", self.signaling.port)
        http_port = await self._serve_http(public, s.http_host, s.http_port)
        ops_port = await self._serve_http(ops_app(self.node), s.ops_host, s.ops_port)
        self.ports = Ports(self.signaling.port, http_port, ops_port)
        return self.ports

    async def _serve_http(self, app: web.Application, host: str, port: int) -> int:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._runners.append(runner)
        server = site._server
        assert server is not None
        bound: int = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return bound

    async def stop(self) -> None:
        """Tell clients the server is going away, close peers, flush what is durable."""
        await self.signaling.close_all(CloseCode.GOING_AWAY, "server shutting down")
        await self.sfu.close()
        await self.node.stop()
        await self.hub.aclose()
        for runner in self._runners:
            await runner.cleanup()


def demo_urls(base: str, room: str) -> list[str]:
    """What ``serve --demo`` prints: the index and each demo page (the same links as the
    index page: the live room is ``room``, the voice room ``room-voice``)."""
    q = urllib.parse.quote
    live, voice = q(room), q(f"{room}-voice")
    pages = (
        ("live room, host (go live)", f"/static/host.html?room={live}"),
        ("live room, viewer", f"/static/viewer.html?room={live}"),
        ("voice room, host", f"/static/voice.html?role=host&room={voice}"),
        ("voice room, speaker", f"/static/voice.html?room={voice}"),
        ("voice room, listener", f"/static/voice.html?role=viewer&room={voice}"),
    )
    width = max(len(label) for label, _ in pages) + 1
    return [f"demo: open {base}/", *(f"  {label + ':':<{width}} {base}{path}" for label, path in pages)]


async def serve(config: Config) -> None:
    app = App(config)
    print("livepark configuration:", json.dumps(masked(config), indent=2), flush=True)
    ports = await app.start()
    s = config.server
    print(
        f"livepark serving: ws://{s.host}:{ports.ws}/  http://{s.http_host}:{ports.http}/  "
        f"ops http://{s.ops_host}:{ports.ops}/metrics",
        flush=True,
    )
    if config.demo.enabled:
        host = "localhost" if s.http_host in ("127.0.0.1", "0.0.0.0") else s.http_host
        base = f"http://{host}:{ports.http}"
        for line in demo_urls(base, config.demo.room):
            print(line, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down")
    async with asyncio.timeout(config.server.shutdown_grace + 5):
        await app.stop()
    print("livepark stopped", flush=True)
