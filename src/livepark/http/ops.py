"""The operators' listener: /healthz, /metrics and the admin API (bind it privately).

Admin API (``Authorization: Bearer <auth.admin_key>``; disabled when no key is set)::

    GET    /admin/rooms                      rooms on this node
    POST   /admin/rooms       {"room", "kind"}   create a room before its host joins
    GET    /admin/rooms/{room}               the room as staff see it
    POST   /admin/rooms/{room}/end  {"reason"}
    POST   /admin/rooms/{room}/kick {"user_id", "ban_seconds"}
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from livepark.errors import LiveparkError
from livepark.node import Node
from livepark.rooms import commands as c
from livepark.rooms.config import RoomKind

NODE_KEY = web.AppKey("node", Node)


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


async def healthz(request: web.Request) -> web.Response:
    node = request.app[NODE_KEY]
    return web.json_response({"status": "ok", "rooms": len(list(node.registry.rooms()))})


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


@web.middleware
async def admin_auth(request: web.Request, handler: Any) -> web.StreamResponse:
    if not request.path.startswith("/admin"):
        return await handler(request)  # type: ignore[no-any-return]
    key = request.app[NODE_KEY].config.auth.admin_key
    if not key:
        return _error(404, "admin_disabled", "the admin API is disabled (set auth.admin_key)")
    header = request.headers.get("Authorization", "")
    presented = header[7:] if header.startswith("Bearer ") else ""
    if not presented or not hmac.compare_digest(presented.encode(), key.encode()):
        return _error(401, "admin_unauthorized", "a valid admin bearer credential is required")
    try:
        return await handler(request)  # type: ignore[no-any-return]
    except LiveparkError as exc:
        status = 404 if exc.code == "room_not_found" else 409
        return _error(status, exc.code, exc.message)


async def _json(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise web.HTTPBadRequest(
            text='{"error":{"code":"bad_request","message":"body must be JSON"}}',
            content_type="application/json",
        ) from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(
            text='{"error":{"code":"bad_request","message":"body must be an object"}}',
            content_type="application/json",
        )
    return body


async def list_rooms(request: web.Request) -> web.Response:
    node = request.app[NODE_KEY]
    rooms = [
        {"room_id": r.room_id, "kind": r.kind.value, "members": r.member_count()}
        for r in node.registry.rooms()
    ]
    return web.json_response({"rooms": rooms})


async def create_room(request: web.Request) -> web.Response:
    node = request.app[NODE_KEY]
    body = await _json(request)
    room_id, kind = body.get("room"), body.get("kind", "voice")
    if not isinstance(room_id, str) or not 0 < len(room_id) <= 128:
        return _error(400, "bad_request", "room must be a non-empty string")
    if kind not in ("live", "voice"):
        return _error(400, "bad_request", "kind must be live or voice")
    room = node.registry.create(room_id, RoomKind(kind), node.clock())
    return web.json_response({"room": room.snapshot(None).to_wire()}, status=201)


async def get_room(request: web.Request) -> web.Response:
    node = request.app[NODE_KEY]
    room = node.registry.get(request.match_info["room"])
    if room is None:
        return _error(404, "room_not_found", "no such room")
    return web.json_response({"room": room.staff_snapshot().to_wire()})


async def end_room(request: web.Request) -> web.Response:
    node = request.app[NODE_KEY]
    body = await _json(request)
    reason = body.get("reason", "ended_by_admin")
    node.end_room(request.match_info["room"], str(reason)[:64])
    return web.json_response({"ended": True})


async def kick(request: web.Request) -> web.Response:
    node = request.app[NODE_KEY]
    body = await _json(request)
    user, ban = body.get("user_id"), body.get("ban_seconds", 0)
    if not isinstance(user, str) or not isinstance(ban, int | float) or isinstance(ban, bool) or ban < 0:
        return _error(400, "bad_request", "user_id (string) and ban_seconds (>= 0) are required")
    node.command(request.match_info["room"], c.Kick(None, user, float(ban)))
    return web.json_response({"kicked": user})


def ops_app(node: Node) -> web.Application:
    app = web.Application(middlewares=[admin_auth], client_max_size=64 * 1024)
    app[NODE_KEY] = node
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/admin/rooms", list_rooms)
    app.router.add_post("/admin/rooms", create_room)
    app.router.add_get("/admin/rooms/{room}", get_room)
    app.router.add_post("/admin/rooms/{room}/end", end_room)
    app.router.add_post("/admin/rooms/{room}/kick", kick)
    return app
