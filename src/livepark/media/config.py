"""Media configuration (``[media]`` in the node's TOML file)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

RoomKind = Literal["live", "voice"]
"""``live``: hosts/co-hosts on camera, viewers watch.  ``voice``: numbered mic seats."""

Role = Literal["publisher", "subscriber"]


@dataclass(frozen=True)
class IceServer:
    """A STUN/TURN server as a browser's ``RTCIceServer``."""

    urls: tuple[str, ...] = ()
    username: str = ""
    credential: str = ""

    def __post_init__(self) -> None:
        if not self.urls:
            raise ValueError("an ice_servers entry needs at least one URL in 'urls'")
        for url in self.urls:
            check_ice_url(url)
            if url.startswith("turn") and not (self.username and self.credential):
                # Browsers refuse such an RTCIceServer (InvalidAccessError) and aiortc skips it.
                raise ValueError(f"{url!r}: a TURN server needs 'username' and 'credential'")

    def to_browser(self) -> dict[str, object]:
        out: dict[str, object] = {"urls": list(self.urls)}
        if self.username:
            out["username"] = self.username
        if self.credential:
            out["credential"] = self.credential
        return out


_ICE_URL = re.compile(
    r"(?P<scheme>stuns?|turns?):(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(?P<port>\d{1,5}))?"
    r"(?:\?transport=(?P<transport>udp|tcp))?"
)


def check_ice_url(url: str) -> None:
    """Raise ``ValueError`` unless ``url`` is a STUN (RFC 7064) or TURN (RFC 7065) URI:
    ``stun:host[:port]``, ``stuns:…``, ``turn:host[:port][?transport=udp|tcp]``, ``turns:…``."""
    m = _ICE_URL.fullmatch(url)
    if m is None:
        raise ValueError(
            f"{url!r} is not a STUN/TURN URL (stun:host[:port], stuns:…, "
            "turn:host[:port][?transport=udp|tcp], turns:…)"
        )
    if m["port"] is not None and not 1 <= int(m["port"]) <= 65535:
        raise ValueError(f"{url!r}: port out of range")
    if m["transport"] is not None and m["scheme"].startswith("stun"):
        raise ValueError(f"{url!r}: ?transport= is for TURN URLs only")


@dataclass(frozen=True)
class MediaConfig:
    host_addresses: tuple[str, ...] = ()
    """Local addresses for the SFU's host ICE candidates.  Empty: every non-loopback address
    (aioice's default).  Tests use ``("127.0.0.1",)``."""
    udp_port_min: int = 0
    udp_port_max: int = 0
    """Inclusive UDP port range for host candidates (0/0: ephemeral ports).  One port per
    address per leg (everything is bundled and rtcp-muxed)."""
    ice_servers: tuple[IceServer, ...] = ()
    """STUN/TURN servers handed to clients (``Sfu.ice_servers()``)."""
    server_ice_servers: tuple[IceServer, ...] = ()
    """STUN/TURN servers the SFU itself uses while gathering (e.g. STUN behind 1:1 NAT).
    Empty: none (never aiortc's default Google STUN server)."""

    last_n: int = 3
    """Voice rooms: audio slots per listener (the N most recent loudest speakers)."""
    last_n_hold: float = 2.0
    """Voice rooms: a speaker stays forwarded at least this long before a new one may take
    her slot (only while she is silent)."""
    video_slots: int = 4
    """Live rooms: host + co-hosts forwarded to each viewer (one audio and one video slot
    each)."""
    fast_send: bool = True
    """Use the C send loop (``livepark.media._fastsend``) when it is built; False (or a
    missing build) uses the same loop in Python, ~3x the CPU per forwarded packet."""
    nack_cache: int = 1024
    """Packets kept per video track to answer subscribers' NACKs (a ring: oldest dropped)."""
    keyframe_interval: float = 1.0
    """Minimum interval between two PLIs sent to the same publisher track."""
    keyframe_retry: float = 0.5
    """While a subscriber waits for a keyframe, ask again this often (still subject to
    ``keyframe_interval``)."""
    speaker_interval: float = 0.3
    """Minimum interval between two SpeakersChanged events of a room."""
    speaker_threshold: float = 0.25
    """Smoothed level (0..1, 0 = -70 dBov or quieter, 1 = 0 dBov) above which one speaks."""

    answer_timeout: float = 15.0
    """A subscriber leg whose answer does not arrive in this time is closed."""
    connect_timeout: float = 20.0
    """A leg that is not connected (ICE + DTLS) this long after negotiation is closed."""
    publisher_timeout: float = 10.0
    """A connected publisher that sends no RTP for this long is considered gone."""
    tick_interval: float = 0.05
    """Period of the SFU's housekeeping timer (keyframe retries, speakers, timeouts)."""

    max_rooms: int = 10000
    max_publishers_per_room: int = 32
    max_subscribers_per_room: int = 2000

    def __post_init__(self) -> None:
        ports = (self.udp_port_min, self.udp_port_max)
        if ports != (0, 0) and not 1 <= self.udp_port_min <= self.udp_port_max <= 65535:
            raise ValueError(
                "udp_port_min/udp_port_max: both 0 (ephemeral), or 1 <= min <= max <= 65535; "
                f"got {self.udp_port_min}..{self.udp_port_max}"
            )
        at_least_one = {
            "last_n": self.last_n,
            "video_slots": self.video_slots,
            "nack_cache": self.nack_cache,
            "max_rooms": self.max_rooms,
            "max_publishers_per_room": self.max_publishers_per_room,
            "max_subscribers_per_room": self.max_subscribers_per_room,
        }
        for name, count in at_least_one.items():
            if count < 1:
                raise ValueError(f"{name} must be >= 1, got {count}")
        positive = {
            "keyframe_interval": self.keyframe_interval,
            "keyframe_retry": self.keyframe_retry,
            "speaker_interval": self.speaker_interval,
            "answer_timeout": self.answer_timeout,
            "connect_timeout": self.connect_timeout,
            "publisher_timeout": self.publisher_timeout,
            "tick_interval": self.tick_interval,
        }
        for name, value in positive.items():
            if not value > 0:
                raise ValueError(f"{name} must be > 0, got {value}")
        if self.last_n_hold < 0:
            raise ValueError(f"last_n_hold must be >= 0, got {self.last_n_hold}")
        if not 0 <= self.speaker_threshold <= 1:
            raise ValueError(f"speaker_threshold must be within 0..1, got {self.speaker_threshold}")
