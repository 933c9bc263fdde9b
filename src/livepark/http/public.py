"""The public HTTP listener: browser demo pages, their development tokens, WHIP/WHEP."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Literal

from aiohttp import web

from livepark.auth.grants import Grants
from livepark.auth.tokens import mint_token
from livepark.media.whip import add_whip_routes
from livepark.node import Node
from livepark.rooms.config import RoomKind

NODE_KEY = web.AppKey("public_node", Node)
SECRET_KEY = web.AppKey("secret", str)
_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
DEMO_ROLES: dict[str, Grants] = {
    "host": Grants(room_admin=True, can_publish=True),
    "speaker": Grants(can_publish=True),
    "viewer": Grants(),
}


def web_root() -> Path:
    return Path(str(resources.files("livepark") / "web"))


WS_PORT = web.AppKey("ws_port", int)


def ws_url(request: web.Request) -> str:
    """``server.public_url``, else the listener's real port on the host the browser used."""
    node = request.app[NODE_KEY]
    if node.config.server.public_url:
        return node.config.server.public_url
    host = request.url.host or node.config.server.host
    if ":" in host:
        host = f"[{host}]"
    return f"ws://{host}:{request.app[WS_PORT]}/"


async def index(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(web_root() / "index.html")


async def demo_config(request: web.Request) -> web.Response:
    node = request.app[NODE_KEY]
    return web.json_response(
        {"ws_url": ws_url(request), "room": node.config.demo.room, "demo": node.config.demo.enabled}
    )


async def demo_token(request: web.Request) -> web.Response:
    """Mint a development token (only with ``demo.enabled``: anyone reaching this gets one)."""
    node = request.app[NODE_KEY]
    if not node.config.demo.enabled or not request.app[SECRET_KEY]:
        return web.json_response(
            {"error": {"code": "demo_disabled", "message": "start the server with --demo"}}, status=404
        )
    q = request.query
    room = q.get("room", node.config.demo.room)
    identity = q.get("identity", "")
    role = q.get("role", "viewer")
    if not _NAME_RE.match(room) or not _NAME_RE.match(identity) or role not in DEMO_ROLES:
        return web.json_response(
            {
                "error": {
                    "code": "bad_request",
                    "message": "room and identity: 1-64 of [A-Za-z0-9_.-]; role: host|speaker|viewer",
                }
            },
            status=400,
        )
    token = mint_token(
        request.app[SECRET_KEY],
        room=room,
        identity=identity,
        name=q.get("name", identity)[:64],
        grants=DEMO_ROLES[role],
        ttl=6 * 3600,
    )
    return web.json_response({"token": token, "ws_url": ws_url(request), "room": room})


def public_app(node: Node, secret: str, ws_port: int) -> web.Application:
    app = web.Application(client_max_size=256 * 1024)
    app[NODE_KEY] = node
    app[WS_PORT] = ws_port
    app[SECRET_KEY] = secret
    app.router.add_get("/", index)
    app.router.add_get("/demo/config", demo_config)
    app.router.add_get("/demo/token", demo_token)
    app.router.add_static("/static/", web_root(), show_index=False)

    def room_kind(room_id: str) -> Literal["live", "voice"]:
        room = node.registry.get(room_id)
        return "voice" if room is not None and room.kind is RoomKind.VOICE else "live"

    add_whip_routes(app, node.sfu, node.authorize_http, room_kind=room_kind)
    return app
