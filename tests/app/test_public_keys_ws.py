"""A node that trusts only an identity service's public key (no HS256 secret configured)."""

from __future__ import annotations

import time
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from helpers.livenode import Client, node_config, running_node
from livepark.auth.grants import Grants


def _claims(user: str, room: str, grants: Grants) -> dict[str, object]:
    now = int(time.time())
    return {
        "sub": user,
        "room": room,
        "exp": now + 600,
        "nbf": now - 1,
        "verified": True,
        "grants": grants.to_claim(),
    }


async def test_public_keys_only_node_refuses_hs256_even_with_a_dev_secret_on_disk(tmp_path: Path) -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    pems = []
    for name, key in (("rsa.pem", rsa_key), ("ec.pem", ec_key)):
        path = tmp_path / name
        path.write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        pems.append(str(path))
    # a development secret left over from `livepark token` on the same machine
    dev = tmp_path / "dev-secret"
    dev.write_text("left-over-development-secret-0123456789\n")
    cfg = node_config(auth={"secret": "", "secret_file": str(dev), "public_keys": pems})
    host_grants = Grants(room_admin=True, can_publish=True)
    async with running_node(cfg) as app:
        c = await Client.connect(app)
        forged = jwt.encode(_claims("eve", "k1", host_grants), dev.read_text().strip(), algorithm="HS256")
        assert await c.error("join", token=forged) == "token_bad_signature"
        host = await Client.connect(app)
        joined = await host.join(jwt.encode(_claims("hana", "k1", host_grants), rsa_key, algorithm="RS256"))
        assert joined["you"]["role"] == "host"
        viewer = await Client.connect(app)
        await viewer.join(jwt.encode(_claims("bo", "k1", Grants()), ec_key, algorithm="ES256"))
        for client in (c, host, viewer):
            await client.close()
