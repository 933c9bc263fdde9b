"""The two commands a user types: `livepark token` and `livepark serve` (real processes)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from pathlib import Path

import jwt
import pytest
from aiohttp import ClientSession
from websockets.asyncio.client import connect

from livepark.auth.grants import Grants
from livepark.auth.tokens import TokenVerifier, mint_token

LIVEPARK = [sys.executable, "-m", "livepark.cli"]
EPHEMERAL_PORTS = ("--port", "0", "--http-port", "0", "--ops-port", "0")  # nothing to race for
SERVING = re.compile(r"livepark serving: ws://\S+:(\d+)/\s+http://\S+:(\d+)/\s+ops http://\S+:(\d+)/metrics")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_token_then_serve_then_join_then_signal(tmp_path: Path, sig: signal.Signals) -> None:
    env = dict(os.environ, LIVEPARK_AUTH_SECRET_FILE=str(tmp_path / "dev-secret"))
    tok = await asyncio.create_subprocess_exec(
        *LIVEPARK,
        "token",
        "--room",
        "demo",
        "--identity",
        "hana",
        "--role",
        "host",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await tok.communicate()
    assert tok.returncode == 0, err
    access_token = out.decode().strip()
    secret = (tmp_path / "dev-secret").read_text().strip()
    claims = TokenVerifier(secret=secret).verify(access_token)
    assert claims.grants.room_admin and claims.room == "demo"
    # the token goes in the URL fragment, which browsers never send to a server
    assert f"/static/host.html#token={access_token}".encode() in err and b"?token=" not in err

    proc, printed, (ws_port, http_port, _ops) = await _serve(
        "--demo",
        env={"LIVEPARK_AUTH_SECRET_FILE": env["LIVEPARK_AUTH_SECRET_FILE"]},
        until="voice room, listener",
    )
    assert proc.stdout is not None
    try:
        assert '"secret": ""' in printed  # none configured: the development secret is used
        assert secret not in printed
        # --demo prints the index and every demo page, and each one is served
        base = f"http://localhost:{http_port}"
        pages = re.findall(rf"{re.escape(base)}/\S*", printed[printed.index("demo: open") :])
        assert pages == [
            f"{base}/",
            f"{base}/static/host.html?room=demo",
            f"{base}/static/viewer.html?room=demo",
            f"{base}/static/voice.html?role=host&room=demo-voice",
            f"{base}/static/voice.html?room=demo-voice",
            f"{base}/static/voice.html?role=viewer&room=demo-voice",
        ], printed
        async with ClientSession() as http:
            for url in pages:
                async with http.get(url.replace("localhost", "127.0.0.1")) as r:
                    assert r.status == 200 and r.content_type == "text/html", url
        async with connect(f"ws://127.0.0.1:{ws_port}/") as ws:
            await ws.send(json.dumps({"v": 1, "id": 1, "type": "join", "data": {"token": access_token}}))
            reply = json.loads(await ws.recv())
            assert reply["ok"] and reply["data"]["you"]["role"] == "host"
            proc.send_signal(sig)
            async with asyncio.timeout(10):
                try:
                    while True:
                        await ws.recv()
                except Exception:
                    pass
            assert ws.close_code == 1001
        assert await asyncio.wait_for(proc.wait(), 15) == 0
        rest = (await proc.stdout.read()).decode()
        assert "livepark stopped" in rest
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def _refused(*args: str, env: dict[str, str] | None = None) -> str:
    """Run ``livepark serve`` (ephemeral ports) that must refuse to start: exit code 2 and no
    traceback; its stderr."""
    proc = await asyncio.create_subprocess_exec(
        *LIVEPARK,
        "serve",
        *EPHEMERAL_PORTS,
        *args,
        env=dict(os.environ, **(env or {})),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 2, err
    assert b"Traceback" not in err
    return err.decode()


async def test_bad_config_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "lp.toml"
    bad.write_text("[server]\nprot = 1\n")
    assert "prot" in await _refused("--config", str(bad))
    # A value that parses but is out of range: one line naming the section, no traceback.
    err = await _refused(env={"LIVEPARK_DANMAKU_BATCH_WINDOW": "-1"})
    assert err.strip() == "livepark: [danmaku]: batch_window must be positive"


async def _serve(
    *args: str, env: dict[str, str], until: str = "livepark serving"
) -> tuple[asyncio.subprocess.Process, str, tuple[int, int, int]]:
    """Start ``livepark serve`` on ephemeral ports; return it, its output up to ``until`` and
    the (WebSocket, HTTP, ops) ports it reports having bound (port 0: no port to race for)."""
    proc = await asyncio.create_subprocess_exec(
        *LIVEPARK,
        "serve",
        *EPHEMERAL_PORTS,
        *args,
        env=dict(os.environ, LIVEPARK_MEDIA_HOST_ADDRESSES="127.0.0.1", **env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(20):
            while until not in "".join(lines):
                line = (await proc.stdout.readline()).decode()
                assert line, "".join(lines)
                lines.append(line)
        printed = "".join(lines)
        serving = SERVING.search(printed)
        assert serving is not None, printed
        ports = tuple(int(p) for p in serving.groups())
        assert 0 not in ports and len(set(ports)) == 3, printed
    except BaseException:
        proc.kill()
        await proc.wait()
        raise
    ws_port, http_port, ops_port = ports
    return proc, printed, (ws_port, http_port, ops_port)


async def _stop(proc: asyncio.subprocess.Process) -> str:
    """SIGTERM; the rest of its output."""
    assert proc.stdout is not None
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
    try:
        assert await asyncio.wait_for(proc.wait(), 15) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return (await proc.stdout.read()).decode()


async def test_serve_limit_flags_no_verify_and_masked_secrets(tmp_path: Path) -> None:
    secret, admin_key = "configured-secret-Zq8wX1-never-printed", "admin-key-Kp3vY7-never-printed"
    proc, printed, (ws_port, _http, _ops) = await _serve(
        "--admin-key",
        admin_key,
        "--no-verify",
        "--max-participants",
        "2",
        "--max-publishers",
        "3",
        "--max-cohosts",
        "1",
        "--max-rooms",
        "5",
        env={"LIVEPARK_AUTH_SECRET": secret, "LIVEPARK_AUTH_SECRET_FILE": str(tmp_path / "dev")},
    )
    try:
        shown, _ = json.JSONDecoder().raw_decode(printed.split("livepark configuration:", 1)[1].lstrip())
        assert shown["auth"]["secret"] == "***" and shown["auth"]["admin_key"] == "***"
        rooms = shown["rooms"]
        assert (
            rooms["require_verified"],
            rooms["max_participants"],
            rooms["max_publishers"],
            rooms["max_cohosts"],
            rooms["max_rooms"],
        ) == (False, 2, 3, 1, 5)

        async def join(user: str, grants: Grants) -> dict[str, object]:
            tok = mint_token(secret, room="cli", identity=user, grants=grants, verified=False)
            ws = await connect(f"ws://127.0.0.1:{ws_port}/")
            await ws.send(json.dumps({"v": 1, "id": 1, "type": "join", "data": {"token": tok}}))
            reply: dict[str, object] = json.loads(await ws.recv())
            await ws.close()
            return reply

        # --no-verify: unverified tokens get in; --max-participants 2: the third is refused
        host = await connect(f"ws://127.0.0.1:{ws_port}/")
        tok = mint_token(
            secret,
            room="cli",
            identity="hana",
            verified=False,
            grants=Grants(room_admin=True, can_publish=True),
        )
        await host.send(json.dumps({"v": 1, "id": 1, "type": "join", "data": {"token": tok}}))
        assert json.loads(await host.recv())["ok"] is True
        assert (await join("bo", Grants()))["ok"] is True
        cy = await join("cy", Grants())
        assert cy["ok"] is False and cy["error"]["code"] == "room_full"  # type: ignore[index]
        await host.close()
    finally:
        rest = await _stop(proc)
    assert "livepark stopped" in rest
    for value in (secret, admin_key):
        assert value not in printed and value not in rest


async def test_serve_with_an_unreadable_public_key_is_a_clear_error(tmp_path: Path) -> None:
    err = await _refused(env={"LIVEPARK_AUTH_PUBLIC_KEYS": "~/no-such-dir/id.pem", "HOME": str(tmp_path)})
    assert f"cannot read {tmp_path}/no-such-dir/id.pem" in err


async def test_token_name_grant_and_ttl_flags() -> None:
    secret = "flag-test-secret-0123456789-abcdef"
    proc = await asyncio.create_subprocess_exec(
        *LIVEPARK,
        "token",
        "--room",
        "r7",
        "--identity",
        "bo",
        "--name",
        "Bo Li",
        "--role",
        "viewer",
        "--grant",
        "can_publish",
        "--grant",
        "can_publish_data=false",
        "--ttl",
        "120",
        "--secret",
        secret,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err
    tok = out.decode().strip()
    claims = TokenVerifier(secret=secret).verify(tok, room="r7")
    assert (claims.user_id, claims.name) == ("bo", "Bo Li")
    assert claims.grants == Grants(can_publish=True, can_publish_data=False)
    payload = jwt.decode(tok, secret, algorithms=["HS256"])
    assert payload["exp"] - payload["iat"] == 120
    assert b"/static/viewer.html#token=" in err

    refusals = ((["--grant", "fly"], b"unknown grant 'fly'"), (["--ttl", "0"], b"--ttl must be positive"))
    for bad, message in refusals:
        proc = await asyncio.create_subprocess_exec(
            *LIVEPARK,
            "token",
            "--room",
            "r7",
            "--identity",
            "bo",
            "--secret",
            secret,
            *bad,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
        assert proc.returncode != 0 and message in err and out == b""
