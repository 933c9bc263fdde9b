"""Every refusal reason of the token verifier has its own code."""

from __future__ import annotations

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from livepark.auth import errors as e
from livepark.auth.grants import Grants
from livepark.auth.tokens import TokenVerifier, mint_token

SECRET = "s3cret-for-tests-only-0123456789abcdef"
NOW = 1_800_000_000.0


def verifier(**kw: object) -> TokenVerifier:
    return TokenVerifier(secret=SECRET, clock=lambda: NOW, **kw)  # type: ignore[arg-type]


def token(**kw: object) -> str:
    args: dict[str, object] = {"room": "r1", "identity": "alice", "now": NOW}
    args.update(kw)
    return mint_token(SECRET, **args)  # type: ignore[arg-type]


def test_valid_token_round_trips_claims() -> None:
    g = Grants(room_admin=True, can_publish=True, hidden=True)
    claims = verifier().verify(token(name="Alice", grants=g, minor=True), room="r1")
    assert (claims.user_id, claims.name, claims.room) == ("alice", "Alice", "r1")
    assert claims.grants == g and claims.verified and claims.minor


@pytest.mark.parametrize(
    ("tok", "error"),
    [
        (None, e.TokenMissing),
        ("", e.TokenMissing),
        ("not-a-jwt", e.TokenMalformed),
        ("x" * 9000, e.TokenMalformed),
    ],
)
def test_missing_and_malformed(tok: str | None, error: type[e.AuthError]) -> None:
    with pytest.raises(error):
        verifier().verify(tok)


def test_expired() -> None:
    with pytest.raises(e.TokenExpired) as info:
        verifier().verify(token(now=NOW - 7200, ttl=3600))
    assert info.value.code == "token_expired"


def test_leeway_tolerates_small_skew() -> None:
    verifier().verify(token(now=NOW - 3602, ttl=3600))


def test_not_yet_valid() -> None:
    with pytest.raises(e.TokenNotYetValid) as info:
        verifier().verify(token(now=NOW + 600))
    assert info.value.code == "token_not_yet_valid"


def test_bad_signature() -> None:
    forged = mint_token("another-secret-another-secret-xx", room="r1", identity="alice", now=NOW)
    with pytest.raises(e.TokenBadSignature) as info:
        verifier().verify(forged)
    assert info.value.code == "token_bad_signature"


def test_alg_none_is_refused() -> None:
    unsigned = jwt.encode({"sub": "a", "room": "r1", "exp": NOW + 60}, None, algorithm="none")
    with pytest.raises(e.TokenBadSignature):
        verifier().verify(unsigned)


def test_wrong_room() -> None:
    with pytest.raises(e.TokenWrongRoom) as info:
        verifier().verify(token(room="r2"), room="r1")
    assert info.value.code == "token_wrong_room"


def test_insufficient_grant() -> None:
    claims = verifier().verify(token(grants=Grants(can_publish=False)))
    with pytest.raises(e.InsufficientGrant) as info:
        claims.require("can_publish")
    assert info.value.code == "insufficient_grant"


@pytest.mark.parametrize(
    "payload",
    [
        {"room": "r1", "exp": NOW + 60},  # no sub
        {"sub": "a", "exp": NOW + 60},  # no room
        {"sub": "a", "room": "r1"},  # no exp
        {"sub": "a", "room": "r1", "exp": NOW + 60, "grants": {"fly": True}},
        {"sub": "a", "room": "r1", "exp": NOW + 60, "grants": {"can_publish": "yes"}},
        {"sub": "a", "room": "r1", "exp": NOW + 60, "verified": "true"},
        {"sub": "a", "room": "r1", "exp": "soon"},
    ],
)
def test_bad_claims_are_malformed(payload: dict[str, object]) -> None:
    with pytest.raises(e.TokenMalformed):
        verifier().verify(jwt.encode(payload, SECRET, algorithm="HS256"))


def test_public_keys_rs256_and_eddsa() -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ed_key = ed25519.Ed25519PrivateKey.generate()
    pems = [
        k.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
        for k in (rsa_key, ed_key)
    ]
    v = TokenVerifier(public_keys=pems, clock=lambda: NOW)
    payload = {"sub": "bob", "room": "r9", "exp": NOW + 60, "verified": True}
    assert v.verify(jwt.encode(payload, rsa_key, algorithm="RS256")).user_id == "bob"
    assert v.verify(jwt.encode(payload, ed_key, algorithm="EdDSA")).user_id == "bob"
    other = ed25519.Ed25519PrivateKey.generate()
    with pytest.raises(e.TokenBadSignature):
        v.verify(jwt.encode(payload, other, algorithm="EdDSA"))
    # an HS256 token cannot be verified with a public key used as an HMAC secret
    with pytest.raises(e.TokenBadSignature):
        v.verify(jwt.encode(payload, "whatever-secret-whatever-secret!", algorithm="HS256"))


def test_verifier_needs_a_key() -> None:
    with pytest.raises(ValueError):
        TokenVerifier()


def test_public_key_es256() -> None:
    """ES256 (P-256) is accepted like RS256 and EdDSA; a token of another P-256 key is not."""
    key = ec.generate_private_key(ec.SECP256R1())
    pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    v = TokenVerifier(public_keys=[pem], clock=lambda: NOW)
    payload = {"sub": "cy", "room": "r9", "exp": NOW + 60, "verified": True, "grants": {"can_publish": True}}
    claims = v.verify(jwt.encode(payload, key, algorithm="ES256"), room="r9")
    assert claims.user_id == "cy" and claims.grants.can_publish
    other = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(e.TokenBadSignature):
        v.verify(jwt.encode(payload, other, algorithm="ES256"))
    with pytest.raises(e.TokenBadSignature):  # HS256 is off: no secret was given
        v.verify(jwt.encode(payload, SECRET, algorithm="HS256"))
