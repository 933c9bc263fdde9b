"""Access tokens (JWT via pyjwt).

HS256 with a shared secret by default; RS256 / ES256 / EdDSA public keys are accepted for
production, where an identity service signs tokens and livepark only verifies them.

Claims::

    sub       user id (required)
    name      display name (optional, defaults to sub)
    room      the room the token admits to (required)
    exp, nbf  validity window (exp required)
    grants    {"room_join", "room_admin", "can_publish", "can_subscribe",
               "can_publish_data", "hidden"} booleans
    verified  the community's identity check passed
    minor     the member is a minor (gifts and some rooms refuse minors)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import jwt

from livepark.auth.errors import (
    AuthError,
    InsufficientGrant,
    TokenBadSignature,
    TokenExpired,
    TokenMalformed,
    TokenMissing,
    TokenNotYetValid,
    TokenWrongRoom,
)
from livepark.auth.grants import Grants

ASYMMETRIC_ALGORITHMS = ("RS256", "ES256", "EdDSA")
MAX_TOKEN_BYTES = 8192


@dataclass(frozen=True, slots=True)
class Claims:
    """A verified token's content."""

    user_id: str
    name: str
    room: str
    grants: Grants
    verified: bool
    minor: bool
    expires_at: float
    extra: dict[str, Any] = field(default_factory=dict)

    def require(self, grant: str) -> None:
        """Raise :class:`InsufficientGrant` unless ``grant`` is set."""
        if grant not in Grants.names():
            raise ValueError(f"unknown grant {grant}")
        if not getattr(self.grants, grant):
            raise InsufficientGrant(f"token lacks the {grant} grant")


def mint_token(
    secret: str,
    *,
    room: str,
    identity: str,
    name: str | None = None,
    grants: Grants | None = None,
    ttl: float = 3600.0,
    verified: bool = True,
    minor: bool = False,
    now: float | None = None,
    algorithm: str = "HS256",
) -> str:
    """Mint a token (development tool and tests; production tokens come from the app backend)."""
    if not identity or not room:
        raise ValueError("identity and room are required")
    issued = time.time() if now is None else now
    payload: dict[str, Any] = {
        "sub": identity,
        "name": name or identity,
        "room": room,
        "iat": int(issued),
        "nbf": int(issued) - 1,
        "exp": int(issued + ttl),
        "grants": (grants or Grants()).to_claim(),
        "verified": verified,
    }
    if minor:
        payload["minor"] = True
    return jwt.encode(payload, secret, algorithm=algorithm)


class TokenVerifier:
    """Verifies access tokens against an HS256 secret and/or public keys.

    ``leeway`` tolerates small clock differences between the token issuer and this node.
    """

    def __init__(
        self,
        *,
        secret: str | None = None,
        public_keys: Sequence[str] = (),
        leeway: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not secret and not public_keys:
            raise ValueError("a secret or at least one public key is required")
        self._keys: list[tuple[Any, list[str]]] = []
        if secret:
            self._keys.append((secret, ["HS256"]))
        for pem in public_keys:
            self._keys.append((pem, list(ASYMMETRIC_ALGORITHMS)))
        self._leeway = leeway
        self._clock = clock

    def verify(self, token: str | None, *, room: str | None = None) -> Claims:
        """Return the token's claims, or raise an :class:`AuthError` subclass saying why not."""
        if not token:
            raise TokenMissing("no access token")
        if len(token) > MAX_TOKEN_BYTES:
            raise TokenMalformed("token too long")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError as exc:
            raise TokenMalformed("token is not a JWT") from exc
        alg = header.get("alg")
        payload: dict[str, Any] | None = None
        for key, algs in self._keys:
            if alg not in algs:
                continue
            try:
                payload = jwt.decode(
                    token,
                    key,
                    algorithms=algs,
                    options={"verify_exp": False, "verify_nbf": False, "verify_iat": False},
                )
                break
            except jwt.InvalidSignatureError:
                continue
            except jwt.InvalidKeyError:
                continue
            except jwt.DecodeError as exc:
                raise TokenMalformed("token could not be decoded") from exc
            except jwt.InvalidTokenError as exc:
                raise TokenMalformed(str(exc)) from exc
        if payload is None:
            raise TokenBadSignature("token signature does not verify")
        claims = self._claims(payload)
        if room is not None and claims.room != room:
            raise TokenWrongRoom("token is for another room")
        return claims

    def _claims(self, p: dict[str, Any]) -> Claims:
        now = self._clock()
        exp = p.get("exp")
        if not isinstance(exp, int | float) or isinstance(exp, bool):
            raise TokenMalformed("exp claim is required and must be a number")
        if now > exp + self._leeway:
            raise TokenExpired("token has expired")
        for claim in ("nbf", "iat"):
            value = p.get(claim)
            if value is None:
                continue
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise TokenMalformed(f"{claim} claim must be a number")
            if value > now + self._leeway:
                raise TokenNotYetValid(f"token is not valid before {claim}")
        sub, room = p.get("sub"), p.get("room")
        if not isinstance(sub, str) or not sub or len(sub) > 128:
            raise TokenMalformed("sub claim must be a non-empty string (<=128)")
        if not isinstance(room, str) or not room or len(room) > 128:
            raise TokenMalformed("room claim must be a non-empty string (<=128)")
        name = p.get("name", sub)
        if not isinstance(name, str) or len(name) > 64:
            raise TokenMalformed("name claim must be a string (<=64)")
        try:
            grants = Grants.from_claim(p.get("grants"))
        except ValueError as exc:
            raise TokenMalformed(str(exc)) from exc
        verified, minor = p.get("verified", False), p.get("minor", False)
        if not isinstance(verified, bool) or not isinstance(minor, bool):
            raise TokenMalformed("verified and minor must be booleans")
        known = {"sub", "name", "room", "exp", "nbf", "iat", "grants", "verified", "minor"}
        extra = {k: v for k, v in p.items() if k not in known}
        return Claims(sub, name or sub, room, grants, verified, minor, float(exp), extra)


__all__ = ["AuthError", "Claims", "TokenVerifier", "mint_token"]
