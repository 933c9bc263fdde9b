"""The wire envelope: typed messages and their JSON / msgpack encodings.

Client → server requests::

    {"v": 1, "id": 7, "type": "seat.take", "data": {"seat": 3}}

Server → client replies and events::

    {"v": 1, "type": "reply", "id": 7, "ok": true, "data": {...}}
    {"v": 1, "type": "reply", "id": 7, "ok": false, "error": {"code": "seat_locked", "message": "..."}}
    {"v": 1, "type": "event", "event": "seat.invited", "data": {...}}            # one member only
    {"v": 1, "type": "event", "seq": 12, "event": "seat.changed", "data": {...}}  # room stream

The encoding is chosen per connection by WebSocket subprotocol; text frames are always
parsed as JSON and binary frames as msgpack, whichever was negotiated.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

import msgpack

VERSION = 1
SUBPROTOCOL_JSON = "livepark.v1.json"
SUBPROTOCOL_MSGPACK = "livepark.v1.msgpack"
SUBPROTOCOLS = (SUBPROTOCOL_JSON, SUBPROTOCOL_MSGPACK)
Encoding = Literal["json", "msgpack"]

_TYPE_RE = re.compile(r"^[a-z][a-z0-9_.]{0,47}$")
RequestId = int | str


class EnvelopeError(ValueError):
    """A frame that is not a valid request. ``request_id`` is set when it could be read."""

    def __init__(self, message: str, request_id: RequestId | None = None) -> None:
        super().__init__(message)
        self.request_id = request_id


@dataclass(frozen=True, slots=True)
class Request:
    id: RequestId
    type: str
    data: dict[str, Any] = field(default_factory=dict)


def encoding_for(subprotocol: str | None) -> Encoding:
    return "msgpack" if subprotocol == SUBPROTOCOL_MSGPACK else "json"


def decode_request(frame: str | bytes) -> Request:
    """Parse one client frame; raise :class:`EnvelopeError` saying what is wrong."""
    try:
        if isinstance(frame, str):
            obj = json.loads(frame)
        else:
            obj = msgpack.unpackb(frame, raw=False, strict_map_key=True)
    except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as exc:
        raise EnvelopeError(f"frame is not valid {'JSON' if isinstance(frame, str) else 'msgpack'}") from exc
    if not isinstance(obj, dict):
        raise EnvelopeError("frame must be an object")
    rid = obj.get("id")
    if (
        isinstance(rid, bool)
        or not isinstance(rid, int | str)
        or (isinstance(rid, str) and not 0 < len(rid) <= 64)
    ):
        raise EnvelopeError("id must be an integer or a string of 1-64 characters")
    if obj.get("v", VERSION) != VERSION:
        raise EnvelopeError(f"unsupported protocol version {obj.get('v')!r}", rid)
    mtype = obj.get("type")
    if not isinstance(mtype, str) or not _TYPE_RE.match(mtype):
        raise EnvelopeError("type must be a lower-case message name", rid)
    data = obj.get("data", {})
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise EnvelopeError("data must be an object", rid)
    return Request(rid, mtype, data)


def reply_ok(request_id: RequestId, data: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"v": VERSION, "type": "reply", "id": request_id, "ok": True, "data": data or {}}


def reply_error(request_id: RequestId | None, code: str, message: str, **extra: Any) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "message": message}
    err.update({k: v for k, v in extra.items() if v is not None})
    return {"v": VERSION, "type": "reply", "id": request_id, "ok": False, "error": err}


def event(name: str, data: dict[str, Any], seq: int | None = None) -> dict[str, Any]:
    msg: dict[str, Any] = {"v": VERSION, "type": "event", "event": name, "data": data}
    if seq is not None:
        msg["seq"] = seq
    return msg


def encode(message: dict[str, Any], encoding: Encoding) -> str | bytes:
    """Encode a server message: ``str`` (a text frame) for JSON, ``bytes`` for msgpack."""
    if encoding == "msgpack":
        out: bytes = msgpack.packb(message, use_bin_type=True)
        return out
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False)
