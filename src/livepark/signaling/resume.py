"""Resume tokens: a dropped member comes back to the same seat and role within a grace period.

Pure: callers pass ``now``; randomness is injected (``token_factory``) so tests can pin it.
A token is single-use: resuming consumes it and the reply carries a fresh one.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

from livepark.auth.tokens import Claims

MAX_PENDING = 100_000
"""Bound on outstanding resume tokens; past it the oldest are forgotten (those members rejoin)."""


@dataclass(frozen=True, slots=True)
class ResumeTicket:
    room_id: str
    user_id: str
    claims: Claims
    session_id: str
    expires_at: float


class ResumeTable:
    def __init__(
        self,
        grace: float,
        *,
        token_factory: Callable[[], str] = lambda: secrets.token_urlsafe(24),
        max_pending: int = MAX_PENDING,
    ) -> None:
        self.grace = grace
        self._new_token = token_factory
        self._max = max_pending
        self._by_token: dict[str, ResumeTicket] = {}
        self._by_member: dict[tuple[str, str], str] = {}

    def issue(self, claims: Claims, session_id: str) -> str:
        """A fresh token for this member (replacing her previous one)."""
        self.revoke(claims.room, claims.user_id)
        while len(self._by_token) >= self._max:
            oldest = next(iter(self._by_token))
            ticket = self._by_token.pop(oldest)
            self._by_member.pop((ticket.room_id, ticket.user_id), None)
        token = self._new_token()
        # While connected the token does not expire; the grace starts when the connection drops.
        ticket = ResumeTicket(claims.room, claims.user_id, claims, session_id, float("inf"))
        self._by_token[token] = ticket
        self._by_member[(claims.room, claims.user_id)] = token
        return token

    def start_grace(self, room_id: str, user_id: str, now: float) -> None:
        """The member's connection dropped: her token is valid for ``grace`` seconds from now."""
        token = self._by_member.get((room_id, user_id))
        if token is None:
            return
        t = self._by_token[token]
        self._by_token[token] = ResumeTicket(t.room_id, t.user_id, t.claims, t.session_id, now + self.grace)

    def redeem(self, token: str, now: float) -> ResumeTicket | None:
        """Consume a token; ``None`` when unknown, already used or expired."""
        ticket = self._by_token.pop(token, None)
        if ticket is None:
            return None
        self._by_member.pop((ticket.room_id, ticket.user_id), None)
        if now > ticket.expires_at:
            return None
        return ticket

    def revoke(self, room_id: str, user_id: str) -> None:
        token = self._by_member.pop((room_id, user_id), None)
        if token is not None:
            self._by_token.pop(token, None)

    def revoke_room(self, room_id: str) -> None:
        for key in [k for k in self._by_member if k[0] == room_id]:
            self.revoke(*key)

    def __len__(self) -> int:
        return len(self._by_token)
