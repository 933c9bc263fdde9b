"""Token refusals.  Each code is stable, sent to clients, and listed in docs/protocol.md."""

from __future__ import annotations

from livepark.errors import LiveparkError


class AuthError(LiveparkError):
    """The access token was refused."""

    code = "auth_failed"
    http_status = 401


class TokenMissing(AuthError):
    """No access token was presented."""

    code = "token_missing"


class TokenMalformed(AuthError):
    """The token is not a well-formed JWT, or a claim has the wrong shape."""

    code = "token_malformed"


class TokenBadSignature(AuthError):
    """The token's signature does not verify with any configured key."""

    code = "token_bad_signature"


class TokenExpired(AuthError):
    """The token's ``exp`` has passed."""

    code = "token_expired"


class TokenNotYetValid(AuthError):
    """The token's ``nbf`` (or ``iat``) lies in the future."""

    code = "token_not_yet_valid"


class TokenWrongRoom(AuthError):
    """The token was issued for another room."""

    code = "token_wrong_room"
    http_status = 403


class InsufficientGrant(AuthError):
    """The token lacks the grant this action needs."""

    code = "insufficient_grant"
    http_status = 403


class NotVerified(AuthError):
    """The member has not passed the community's identity check (``verified`` claim)."""

    code = "not_verified"
    http_status = 403
