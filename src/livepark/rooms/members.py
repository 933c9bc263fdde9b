"""Who is in a room: identity input, roles, and the server-side view of a member."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from livepark.auth.grants import Grants


class Role(StrEnum):
    """A member's role as shown to everyone; precedence top to bottom.

    ``admin`` wins over ``cohost``/``speaker`` (a seated admin stays ``admin``; her seat shows
    in the seat list, her co-hosting in the co-host list).
    """

    HOST = "host"
    ADMIN = "admin"
    COHOST = "cohost"
    SPEAKER = "speaker"
    VIEWER = "viewer"
    LISTENER = "listener"

    @property
    def is_staff(self) -> bool:
        return self in (Role.HOST, Role.ADMIN)


@dataclass(frozen=True, slots=True)
class MemberInfo:
    """Identity of a joining member, from her verified access token.

    ``verified`` and ``minor`` are private: they are never shown to other members.
    """

    user_id: str
    name: str
    grants: Grants
    verified: bool
    minor: bool = False

    def __post_init__(self) -> None:
        if not self.user_id:
            raise ValueError("user_id must not be empty")


@dataclass(frozen=True, slots=True)
class MemberView:
    """Server-side view of one member (may include private data; never send it to others)."""

    user_id: str
    name: str
    role: Role
    hidden: bool
    away: bool
    seat: int | None
    cohost: bool
    may_publish: bool
    joined_at: float
    info: MemberInfo
