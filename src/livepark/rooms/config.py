"""Room kinds and per-room settings."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class RoomKind(StrEnum):
    LIVE = "live"
    """One host on camera, up to ``max_cohosts`` invited co-hosts, viewers."""
    VOICE = "voice"
    """A host plus numbered mic seats ``1..seats``, listeners."""


class RoomState(StrEnum):
    OPEN = "open"
    ENDED = "ended"


@dataclass(frozen=True, slots=True)
class RoomConfig:
    """Settings of one room (times in seconds).

    - ``seats``: numbered mic seats of a voice room.
    - ``max_cohosts``: co-hosts of a live room.
    - ``invite_ttl``: how long a seat or co-host invitation stays acceptable.
    - ``require_verified``: refuse members whose ``MemberInfo.verified`` is false.
    - ``max_participants``: members (hidden and away ones included); hosts/admins bypass it.
    - ``max_publishers``: host + seat holders + co-hosts; ``None`` = ``seats + 1`` (voice) or
      ``max_cohosts + 1`` (live). The host's slot is always reserved.
    - ``idle_timeout``: the room ends after this long without a connected visible member.
    - ``resume_grace``: an away (disconnected) member is removed after this long.
    """

    seats: int = 8
    max_cohosts: int = 3
    invite_ttl: float = 30.0
    require_verified: bool = True
    max_participants: int = 10_000
    max_publishers: int | None = None
    idle_timeout: float = 300.0
    resume_grace: float = 20.0

    def __post_init__(self) -> None:
        if self.seats < 0 or self.max_cohosts < 0:
            raise ValueError(f"seats and max_cohosts must be >= 0, got {self.seats} and {self.max_cohosts}")
        if self.max_participants < 1:
            raise ValueError(f"max_participants must be >= 1, got {self.max_participants}")
        if self.max_publishers is not None and self.max_publishers < 1:
            raise ValueError(f"max_publishers must be >= 1 (the host's slot), got {self.max_publishers}")
        if self.invite_ttl <= 0 or self.idle_timeout <= 0 or self.resume_grace < 0:
            raise ValueError("invite_ttl and idle_timeout must be > 0, resume_grace >= 0")

    def publisher_limit(self, kind: RoomKind) -> int:
        if self.max_publishers is not None:
            return self.max_publishers
        return (self.seats if kind is RoomKind.VOICE else self.max_cohosts) + 1
