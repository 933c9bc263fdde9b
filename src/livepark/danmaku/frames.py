"""Wire frames: envelopes encoded once per encoding, wrapped in complete WebSocket frames.

Server-to-client WebSocket frames are unmasked (RFC 6455 §5.1), so the bytes of one frame
are identical for every connection that negotiated the same encoding: the hub builds a
frame once and writes the same ``bytes`` object to every transport.

Encodings (negotiated by subprotocol): ``json`` -> text frames, ``msgpack`` -> binary
frames.  Connections that asked for compression get msgpack batches whose ``items`` are a
zlib-compressed msgpack array (``"z": "zlib"``), compressed once per batch.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Mapping, Sequence
from enum import IntEnum
from typing import Any, Literal

import msgpack

from livepark.danmaku.errors import InvalidEvent

Encoding = Literal["json", "msgpack"]
SUBPROTOCOLS: dict[str, Encoding] = {
    "livepark.v1.json": "json",
    "livepark.v1.msgpack": "msgpack",
}
PROTOCOL_VERSION = 1
CLOSE_SLOW_CONSUMER = 4010
CLOSE_SLOW_CONSUMER_REASON = "slow_consumer"


class FrameKind(IntEnum):
    """Which bytes a connection needs: one frame is built per kind present in a room."""

    JSON = 0
    MSGPACK = 1
    MSGPACK_Z = 2

    @classmethod
    def of(cls, encoding: Encoding, compress: bool) -> FrameKind:
        if encoding == "json":
            return cls.JSON
        return cls.MSGPACK_Z if compress else cls.MSGPACK


_pack = msgpack.Packer(use_bin_type=True).pack


def ws_frame(payload: bytes, *, text: bool) -> bytes:
    """A complete, unmasked, unfragmented WebSocket frame carrying ``payload``."""
    first = 0x81 if text else 0x82
    n = len(payload)
    if n < 126:
        header = bytes((first, n))
    elif n < 65536:
        header = struct.pack("!BBH", first, 126, n)
    else:
        header = struct.pack("!BBQ", first, 127, n)
    return header + payload


def dumps_json(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def encode_payload(kind: FrameKind, obj: Mapping[str, Any]) -> bytes:
    return dumps_json(obj) if kind is FrameKind.JSON else _pack(obj)


def encode_frame(kind: FrameKind, obj: Mapping[str, Any]) -> bytes:
    """Encode an envelope for ``kind`` and wrap it in a WebSocket frame."""
    return ws_frame(encode_payload(kind, obj), text=kind is FrameKind.JSON)


def check_serialisable(obj: Any) -> None:
    """Raise :class:`InvalidEvent` unless ``obj`` encodes in both JSON and msgpack."""
    try:
        dumps_json(obj)
        _pack(obj)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidEvent(f"payload is not serialisable: {exc}") from exc


class Frames:
    """Lazily encoded frames of one envelope, at most one encode per kind."""

    __slots__ = ("_cache", "envelope")

    def __init__(self, envelope: Mapping[str, Any]) -> None:
        self.envelope = envelope
        self._cache: dict[FrameKind, bytes] = {}

    def get(self, kind: FrameKind) -> bytes:
        frame = self._cache.get(kind)
        if frame is None:
            if kind is FrameKind.MSGPACK_Z:
                frame = self.get(FrameKind.MSGPACK)  # only batches are compressed
            else:
                frame = encode_frame(kind, self.envelope)
            self._cache[kind] = frame
        return frame


def _map_header(n: int) -> bytes:
    if n < 16:
        return bytes((0x80 | n,))
    return struct.pack("!BH", 0xDE, n)


class BatchFrames:
    """The frames of one lossy batch, ``{"type": "danmaku.batch", ..., "skipped": N}``.

    Everything but ``skipped`` is encoded once per kind (and compressed once); a lagging
    connection's ``skipped`` count is spliced onto that prefix without re-encoding.
    """

    __slots__ = ("_cache", "_compress_min", "_items", "_prefix", "room", "type")

    def __init__(
        self,
        room: str,
        items: Sequence[Mapping[str, Any]],
        *,
        compress_min: int = 512,
        type: str = "danmaku.batch",
    ) -> None:
        self.room = room
        self.type = type
        self._items = items
        self._compress_min = compress_min
        self._prefix: dict[FrameKind, bytes] = {}
        self._cache: dict[tuple[FrameKind, int], bytes] = {}

    def get(self, kind: FrameKind, skipped: int = 0) -> bytes:
        frame = self._cache.get((kind, skipped))
        if frame is None:
            frame = self._build(kind, skipped)
            if skipped == 0 or len(self._cache) < 64:
                self._cache[kind, skipped] = frame
        return frame

    def _build(self, kind: FrameKind, skipped: int) -> bytes:
        prefix = self._prefix.get(kind)
        if prefix is None:
            prefix = self._prefix[kind] = self._encode_prefix(kind)
        if kind is FrameKind.JSON:
            payload = prefix + b',"skipped":%d}' % skipped
        else:
            payload = prefix + _pack("skipped") + _pack(skipped)
        return ws_frame(payload, text=kind is FrameKind.JSON)

    def _encode_prefix(self, kind: FrameKind) -> bytes:
        head: list[tuple[str, Any]] = [
            ("v", PROTOCOL_VERSION),
            ("type", self.type),
            ("room", self.room),
        ]
        if kind is FrameKind.JSON:
            body = dumps_json({**dict(head), "items": self._items})
            return body[:-1]  # drop the closing brace; "skipped" follows
        items: Any = list(self._items)
        if kind is FrameKind.MSGPACK_Z:
            packed = _pack(items)
            if len(packed) >= self._compress_min:
                head.append(("z", "zlib"))
                items = zlib.compress(packed)
        head.append(("items", items))
        return _map_header(len(head) + 1) + b"".join(_pack(k) + _pack(v) for k, v in head)


def decode_frame_payload(payload: bytes, *, text: bool) -> dict[str, Any]:
    """Decode a frame payload as a client would (used by tests and tools)."""
    obj: dict[str, Any] = json.loads(payload) if text else msgpack.unpackb(payload, raw=False)
    if obj.get("z") == "zlib":
        obj["items"] = msgpack.unpackb(zlib.decompress(obj["items"]), raw=False)
        del obj["z"]
    return obj
