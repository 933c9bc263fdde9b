"""WHIP (RFC 9725) and WHEP HTTP routes on aiohttp.

- ``POST /whip/{room}`` — body: the publisher's SDP offer (``application/sdp``), header
  ``Authorization: Bearer <token>``.  ``201 Created`` with the SDP answer, ``Location`` (the
  session resource), ``ETag`` and one ``Link: <...>; rel="ice-server"`` per STUN/TURN URL.
- ``POST /whep/{room}`` — the same for a viewer: the client offers, the SFU answers.
- ``DELETE /whip/{room}/{session}`` / ``DELETE /whep/{room}/{session}`` — end the session.
  The session URL (128 random bits) is the capability; no token is needed.
- ``PATCH`` on a session — trickle ICE / ICE restart are not supported: ``405``.
- ``OPTIONS`` on any of them — ``204`` with ``Allow``, ``Accept-Post`` and CORS headers.

Errors are JSON ``{"error": code, "message": text}``: 400 (bad SDP / no supported codec),
401 (no or malformed bearer token), 403/404/... as raised by ``authorize`` (its exception's
``http_status``), 404 (unknown session), 413 (body too large), 415 (not ``application/sdp``),
503 (node full).
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from aiohttp import web

from livepark.media.config import RoomKind
from livepark.media.errors import MediaError
from livepark.media.sdp import MAX_SDP_BYTES
from livepark.media.sfu import Sfu

log = logging.getLogger(__name__)

Action = Literal["publish", "subscribe"]
Authorize = Callable[[str, str, Action], Awaitable[str]]

MAX_SESSIONS = 100_000
_CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "OPTIONS, POST, DELETE, PATCH",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, If-Match",
    "Access-Control-Expose-Headers": "Location, Link, ETag, Accept-Post",
}
_MEDIA_STATUS = {
    "bad_sdp": 400,
    "no_supported_codec": 400,
    "room_full": 503,
    "too_many_rooms": 503,
    "ports_exhausted": 503,
    "room_closed": 409,
    "aiortc_incompatible": 500,
}


@dataclass
class Session:
    room: str
    user: str
    role: Literal["publisher", "subscriber"]
    leg_id: int | None
    etag: str


WHIP_SESSIONS = web.AppKey("livepark.whip_sessions", dict)
"""The app's live WHIP/WHEP sessions (session id -> :class:`Session`)."""


def _error(status: int, code: str, message: str, **headers: str) -> web.Response:
    return web.Response(
        status=status,
        text=json.dumps({"error": code, "message": message}),
        content_type="application/json",
        headers={**_CORS, **headers},
    )


def _link_headers(sfu: Sfu) -> list[str]:
    links = []
    for server in sfu.config.ice_servers:
        for url in server.urls:
            link = f'<{url}>; rel="ice-server"'
            if server.username:
                link += f'; username="{server.username}"; credential="{server.credential}"'
                link += '; credential-type="password"'
            links.append(link)
    return links


def add_whip_routes(
    app: web.Application,
    sfu: Sfu,
    authorize: Authorize,
    *,
    room_kind: Callable[[str], RoomKind] | None = None,
) -> None:
    """Add the WHIP/WHEP routes.

    ``authorize(token, room, action)`` returns the user id or raises an exception carrying
    ``http_status`` (and ``code``).  ``room_kind(room)`` tells the kind of a room the SFU
    does not know yet (default: ``live``).
    """
    sessions: dict[str, Session] = {}

    def kind_of(room: str) -> RoomKind:
        existing = sfu.rooms.get(room)
        if existing is not None:
            return existing.kind
        return room_kind(room) if room_kind is not None else "live"

    async def _offer(request: web.Request, action: Action) -> web.StreamResponse:
        room = request.match_info["room"]
        auth = request.headers.get("Authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _error(401, "unauthorized", "a Bearer token is required", **{"WWW-Authenticate": "Bearer"})
        try:
            user = await authorize(token.strip(), room, action)
        except Exception as exc:
            status = getattr(exc, "http_status", None)
            code = getattr(exc, "code", "forbidden")
            if not isinstance(status, int):
                log.exception("authorize() failed without an http_status")
                status = 403
            return _error(status, str(code), str(exc) or "not allowed")
        ctype = request.content_type.lower()
        if ctype != "application/sdp":
            return _error(
                415, "unsupported_media_type", f"expected application/sdp, got {ctype or 'nothing'}"
            )
        if request.content_length is not None and request.content_length > MAX_SDP_BYTES:
            return _error(413, "too_large", f"SDP larger than {MAX_SDP_BYTES} bytes")
        try:
            raw = await request.content.read(MAX_SDP_BYTES + 1)
            offer = raw.decode("utf-8")
        except UnicodeDecodeError:
            return _error(400, "bad_sdp", "the SDP is not UTF-8")
        if len(raw) > MAX_SDP_BYTES:
            return _error(413, "too_large", f"SDP larger than {MAX_SDP_BYTES} bytes")
        if len(sessions) >= MAX_SESSIONS:
            _prune()
            if len(sessions) >= MAX_SESSIONS:
                return _error(503, "too_many_sessions", "too many WHIP/WHEP sessions on this node")
        kind = kind_of(room)
        try:
            if action == "publish":
                answer = await sfu.publish(room, user, offer, kind=kind)
            else:
                answer = await sfu.subscribe_with_offer(room, user, offer, kind=kind)
        except MediaError as exc:
            return _error(_MEDIA_STATUS.get(exc.code, 400), exc.code, exc.message)
        role: Literal["publisher", "subscriber"] = "publisher" if action == "publish" else "subscriber"
        sid = secrets.token_urlsafe(16)
        etag = f'"{secrets.token_hex(8)}"'
        sessions[sid] = Session(room, user, role, sfu.leg_id(room, user, role), etag)
        base = "whip" if action == "publish" else "whep"
        headers = {**_CORS, "Location": f"/{base}/{room}/{sid}", "ETag": etag}
        resp = web.Response(status=201, text=answer, content_type="application/sdp", headers=headers)
        for link in _link_headers(sfu):
            resp.headers.add("Link", link)
        return resp

    def _prune() -> None:
        for sid, s in list(sessions.items()):
            if sfu.leg_id(s.room, s.user, s.role) != s.leg_id:
                del sessions[sid]

    async def _delete(request: web.Request) -> web.StreamResponse:
        sid = request.match_info["session"]
        s = sessions.get(sid)
        if s is None or s.room != request.match_info["room"]:
            return _error(404, "not_found", "no such session")
        del sessions[sid]
        if s.leg_id is not None and sfu.leg_id(s.room, s.user, s.role) == s.leg_id:
            try:
                if s.role == "publisher":
                    await sfu.unpublish(s.room, s.user)
                else:
                    await sfu.unsubscribe(s.room, s.user)
            except MediaError:
                pass  # already gone
        return web.Response(status=200, headers=_CORS)

    async def _patch(request: web.Request) -> web.StreamResponse:
        if request.match_info["session"] not in sessions:
            return _error(404, "not_found", "no such session")
        return _error(
            405,
            "not_supported",
            "trickle ICE and ICE restarts are not supported: all candidates are in the answer",
            Allow="OPTIONS, DELETE",
        )

    async def _options(request: web.Request) -> web.StreamResponse:
        headers = dict(_CORS)
        if "session" in request.match_info:
            headers["Allow"] = "OPTIONS, DELETE"
        else:
            headers["Allow"] = "OPTIONS, POST"
            headers["Accept-Post"] = "application/sdp"
        resp = web.Response(status=204, headers=headers)
        for link in _link_headers(sfu):
            resp.headers.add("Link", link)
        return resp

    async def _publish(request: web.Request) -> web.StreamResponse:
        return await _offer(request, "publish")

    async def _subscribe(request: web.Request) -> web.StreamResponse:
        return await _offer(request, "subscribe")

    for base, handler in (("whip", _publish), ("whep", _subscribe)):
        app.router.add_post(f"/{base}/{{room}}", handler)
        app.router.add_route("OPTIONS", f"/{base}/{{room}}", _options)
        app.router.add_delete(f"/{base}/{{room}}/{{session}}", _delete)
        app.router.add_patch(f"/{base}/{{room}}/{{session}}", _patch)
        app.router.add_route("OPTIONS", f"/{base}/{{room}}/{{session}}", _options)
    app[WHIP_SESSIONS] = sessions


__all__ = ["WHIP_SESSIONS", "Authorize", "add_whip_routes"]
