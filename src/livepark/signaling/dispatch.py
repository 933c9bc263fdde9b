"""Carry out one client request and send its reply (the node does the work)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from livepark import metrics
from livepark.auth.errors import AuthError
from livepark.errors import LiveparkError
from livepark.node import Node
from livepark.rooms.config import RoomKind
from livepark.signaling import codes
from livepark.signaling.codes import CloseCode
from livepark.signaling.connection import Connection
from livepark.signaling.envelope import Request, reply_error, reply_ok
from livepark.signaling.room_requests import BadArguments, build_command
from livepark.signaling.session import OPENING_TYPES

log = logging.getLogger(__name__)

Handler = Callable[[Node, Connection, dict[str, Any]], Awaitable[dict[str, Any] | None]]
HANDLERS: dict[str, Handler] = {}
AUTH_FAILURES_BEFORE_CLOSE = 3
"""Refused ``join`` / ``session.resume`` attempts (auth errors) before closing with 4001."""


def handler(name: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[name] = fn
        return fn

    return register


class Dispatcher:
    def __init__(self, node: Node) -> None:
        self.node = node

    async def __call__(self, conn: Connection, request: Request) -> None:
        try:
            data = await self._run(conn, request)
        except AuthError as exc:
            self._refuse(conn, request, exc.code, exc.message)
            # Only failed attempts to get in count; a member's refused grant (danmaku,
            # media) is an ordinary refusal and never closes her connection.
            if conn.claims is None and request.type in OPENING_TYPES:
                conn.auth_failures += 1
                if conn.auth_failures >= AUTH_FAILURES_BEFORE_CLOSE:
                    conn.close(CloseCode.AUTH_FAILED, exc.code)
            return
        except LiveparkError as exc:
            wire = exc.to_wire() if hasattr(exc, "to_wire") else {}
            extra = {k: v for k, v in wire.items() if k not in ("code", "message")}
            extra.setdefault("retry_after", getattr(exc, "retry_after", None))
            self._refuse(conn, request, exc.code, exc.message, **extra)
            return
        except BadArguments as exc:
            self._refuse(conn, request, codes.BAD_REQUEST, str(exc))
            return
        except Exception:
            log.exception("request %s failed", request.type)
            self._refuse(conn, request, codes.INTERNAL_ERROR, "internal error")
            return
        conn.send(reply_ok(request.id, data))
        if request.type == "leave":
            conn.close(CloseCode.NORMAL, "left")
        elif request.type in ("join", "session.resume") and data is not None:
            # After the reply: replay what the reply's snapshot does not show, then live events.
            last_seq = request.data.get("last_seq") if request.type == "session.resume" else None
            await self.node.attach_stream(
                conn,
                resume_from=last_seq if isinstance(last_seq, int) else data["last_seq"],
                history=request.type == "join",
                compress=request.data.get("compress") is True,
            )

    async def _run(self, conn: Connection, request: Request) -> dict[str, Any] | None:
        fn = HANDLERS.get(request.type)
        if fn is not None:
            return await fn(self.node, conn, request.data)
        assert conn.room_id is not None and conn.user_id is not None
        command = build_command(request.type, conn.user_id, request.data)
        if command is None:
            raise LiveparkError(f"unknown message type {request.type}", code=codes.UNKNOWN_TYPE)
        self.node.command(conn.room_id, command)
        return {}

    @staticmethod
    def _refuse(conn: Connection, request: Request, code: str, message: str, **extra: Any) -> None:
        metrics.ERRORS.labels(code).inc()
        conn.send(reply_error(request.id, code, message, **extra))


@handler("join")
async def _join(node: Node, conn: Connection, data: dict[str, Any]) -> dict[str, Any]:
    claims = node.authenticate(data.get("token"), data.get("room"))
    kind_name = data.get("kind", "voice")
    try:
        kind = RoomKind(kind_name)
    except ValueError as exc:
        raise BadArguments("kind must be 'live' or 'voice'") from exc
    return await node.join(conn, claims, kind)


@handler("session.resume")
async def _resume(node: Node, conn: Connection, data: dict[str, Any]) -> dict[str, Any]:
    token, last_seq = data.get("resume_token"), data.get("last_seq")
    if not isinstance(token, str) or not token:
        raise BadArguments("resume_token is required")
    if last_seq is not None and (isinstance(last_seq, bool) or not isinstance(last_seq, int)):
        raise BadArguments("last_seq must be an integer")
    return await node.resume_session(conn, token)


@handler("ping")
async def _ping(node: Node, conn: Connection, data: dict[str, Any]) -> dict[str, Any]:
    online = node.online(conn.room_id) if conn.room_id else None
    if node.registry.get(conn.room_id or "") is None and conn.room_id:
        online = 0
    return {"t": data.get("t"), "online": online}


@handler("leave")
async def _leave(node: Node, conn: Connection, data: dict[str, Any]) -> dict[str, Any]:
    node.leave(conn)
    return {}


@handler("room.snapshot")
async def _snapshot(node: Node, conn: Connection, data: dict[str, Any]) -> dict[str, Any]:
    assert conn.room_id is not None
    room = node.registry.get(conn.room_id)
    if room is None:
        raise LiveparkError("the room has ended", code="room_ended")
    return {"room": room.snapshot(conn.user_id).to_wire(), "last_seq": node.last_seq(conn.room_id)}


@handler("danmaku.send")
async def _comment(node: Node, conn: Connection, data: dict[str, Any]) -> dict[str, Any]:
    return await node.send_comment(conn, data.get("text"), data.get("mode"), data.get("color"))


@handler("danmaku.like")
async def _like(node: Node, conn: Connection, data: dict[str, Any]) -> dict[str, Any]:
    assert conn.claims is not None
    conn.claims.require("can_publish_data")
    count = data.get("count", 1)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise BadArguments("count must be a positive integer")
    return {"counted": node.hub.like(conn.claims.room, conn.claims.user_id, count)}


@handler("media.publish")
async def _publish(node: Node, conn: Connection, data: dict[str, Any]) -> dict[str, Any]:
    return await node.publish_media(conn, data.get("sdp"))


@handler("media.unpublish")
async def _unpublish(node: Node, conn: Connection, data: dict[str, Any]) -> dict[str, Any]:
    return await node.unpublish_media(conn)


@handler("media.subscribe")
async def _subscribe(node: Node, conn: Connection, data: dict[str, Any]) -> dict[str, Any]:
    return await node.subscribe_media(conn)


@handler("media.answer")
async def _answer(node: Node, conn: Connection, data: dict[str, Any]) -> dict[str, Any]:
    return await node.answer_media(conn, data.get("sdp"))
