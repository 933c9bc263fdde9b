"""A small SDP reader for validating offers before aiortc sees them (sans-I/O).

aiortc's parser is lenient (garbage parses as an empty description) and reports codec
mismatches as a generic ``OperationError``; this gives clients precise ``MediaError`` codes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from livepark.media.codecs import is_forwardable
from livepark.media.errors import MediaError

MAX_SDP_BYTES = 64 * 1024


@dataclass
class MediaSection:
    kind: str
    port: int
    direction: str = "sendrecv"
    mid: str | None = None
    codecs: list[tuple[int, str, int]] = field(default_factory=list)
    """(payload type, lower-case ``kind/name``, clock rate) from ``a=rtpmap``."""

    @property
    def rejected(self) -> bool:
        return self.port == 0

    def forwardable_codecs(self) -> list[str]:
        return [mime for _pt, mime, _rate in self.codecs if is_forwardable(self.kind, mime)]


_DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")


def parse_sections(sdp: object) -> list[MediaSection]:
    """Media sections of ``sdp``; raises ``MediaError(bad_sdp)`` if it is not SDP at all."""
    if not isinstance(sdp, str) or not sdp.strip():
        raise MediaError("empty SDP", code="bad_sdp")
    if len(sdp) > MAX_SDP_BYTES:
        raise MediaError(f"SDP larger than {MAX_SDP_BYTES} bytes", code="bad_sdp")
    lines = [line.strip() for line in sdp.replace("\r\n", "\n").split("\n") if line.strip()]
    if not lines or lines[0] != "v=0":
        raise MediaError("not an SDP description (must start with v=0)", code="bad_sdp")
    sections: list[MediaSection] = []
    for line in lines[1:]:
        if len(line) < 2 or line[1] != "=":
            raise MediaError(f"malformed SDP line: {line[:40]!r}", code="bad_sdp")
        if line.startswith("m="):
            parts = line[2:].split()
            if len(parts) < 4:
                raise MediaError(f"malformed m= line: {line[:60]!r}", code="bad_sdp")
            try:
                port = int(parts[1].split("/")[0])
            except ValueError as exc:
                raise MediaError(f"malformed m= line: {line[:60]!r}", code="bad_sdp") from exc
            sections.append(MediaSection(kind=parts[0], port=port))
            continue
        if not sections:
            continue
        sec = sections[-1]
        if line.startswith("a=rtpmap:"):
            try:
                pt_s, enc = line[len("a=rtpmap:") :].split(None, 1)
                name, rate = enc.split("/")[:2]
                sec.codecs.append((int(pt_s), f"{sec.kind}/{name}".lower(), int(rate)))
            except ValueError as exc:
                raise MediaError(f"malformed rtpmap: {line[:60]!r}", code="bad_sdp") from exc
        elif line.startswith("a=mid:"):
            sec.mid = line[len("a=mid:") :]
        elif line[2:] in _DIRECTIONS:
            sec.direction = line[2:]
    return sections


def av_sections(sdp: object, purpose: Literal["publish", "subscribe"]) -> list[MediaSection]:
    """The audio/video sections of a client's offer, validated for ``purpose``.

    publish: at least one section the client sends in, and every sending section has a
    forwardable codec.  subscribe: at least one section the client receives in.
    """
    sections = [s for s in parse_sections(sdp) if s.kind in ("audio", "video")]
    if not sections:
        raise MediaError("the offer has no audio or video section", code="bad_sdp")
    if purpose == "publish":
        sending = [s for s in sections if not s.rejected and s.direction in ("sendrecv", "sendonly")]
        if not sending:
            raise MediaError("the offer sends no audio or video", code="bad_sdp")
        for s in sending:
            if not s.forwardable_codecs():
                offered = ", ".join(sorted({m for _p, m, _r in s.codecs})) or "none"
                raise MediaError(
                    f"no supported {s.kind} codec (offered: {offered}; supported: "
                    f"{'opus' if s.kind == 'audio' else 'VP8, H264'})",
                    code="no_supported_codec",
                )
    else:
        receiving = [s for s in sections if not s.rejected and s.direction in ("sendrecv", "recvonly")]
        if not receiving:
            raise MediaError("the offer receives no audio or video", code="bad_sdp")
        for s in receiving:
            if not s.forwardable_codecs():
                raise MediaError(f"no supported {s.kind} codec in the offer", code="no_supported_codec")
    return sections


def require_video_codec(sections: list[MediaSection], sending: set[str]) -> None:
    """Refuse (``no_supported_codec``) a subscriber whose SDP receives video but none of the
    codecs the room's video publishers send (``sending``: lower-case mimes; empty = no video
    publisher yet, nothing to check) — it would get no video at all."""
    receiving = [
        s
        for s in sections
        if s.kind == "video" and not s.rejected and s.direction in ("sendrecv", "recvonly")
    ]
    if not sending or not receiving:
        return
    accepted = {m for s in receiving for m in s.forwardable_codecs()}
    if not accepted & sending:
        names = ", ".join(sorted(m.split("/")[1] for m in sending))
        raise MediaError(
            f"no common video codec: the room's video is {names}; "
            f"accepted: {', '.join(sorted(m.split('/')[1] for m in accepted)) or 'none'}",
            code="no_supported_codec",
        )
