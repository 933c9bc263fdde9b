"""What a member may do in a room, as granted by her access token (LiveKit video-grant style)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True, slots=True)
class Grants:
    """Capabilities carried in the ``grants`` claim of an access token.

    - ``room_join``: may join the token's room at all.
    - ``room_admin``: host/moderator powers in the room (lock/mute/clear seats, kick, end);
      a room_admin who joins a room that does not exist yet creates it and becomes its host.
    - ``can_publish``: may send media (take a mic seat, be a host or co-host).
    - ``can_subscribe``: may receive media.
    - ``can_publish_data``: may send danmaku (comments, likes).
    - ``hidden``: is not announced to other members (e.g. a moderator observing).
    """

    room_join: bool = True
    room_admin: bool = False
    can_publish: bool = False
    can_subscribe: bool = True
    can_publish_data: bool = True
    hidden: bool = False

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def from_claim(cls, claim: Any) -> Grants:
        """Build from a JWT claim (a mapping of grant name to bool); unknown names are errors."""
        if claim is None:
            return cls()
        if not isinstance(claim, dict):
            raise ValueError("grants claim must be an object")
        unknown = set(claim) - set(cls.names())
        if unknown:
            raise ValueError(f"unknown grants: {sorted(unknown)}")
        for k, v in claim.items():
            if not isinstance(v, bool):
                raise ValueError(f"grant {k} must be a boolean")
        return cls(**claim)

    def to_claim(self) -> dict[str, bool]:
        return {f.name: getattr(self, f.name) for f in fields(self)}
