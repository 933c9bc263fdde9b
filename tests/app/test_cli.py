"""The two commands a user types: `livepark token` and `livepark serve` (real processes)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

from websockets.asyncio.client import connect

from helpers.net import free_ports
from livepark.auth.tokens import TokenVerifier

LIVEPARK = [sys.executable, "-m", "livepark.cli"]


async def test_token_then_serve_then_join_then_sigterm(tmp_path: Path) -> None:
    env = dict(os.environ, LIVEPARK_AUTH_SECRET_FILE=str(tmp_path / "dev-secret"))
    ws_port, http_port, ops_port = free_ports(3)
    tok = await asyncio.create_subprocess_exec(
        *LIVEPARK, "token", "--room", "demo", "--identity", "hana", "--role", "host",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await tok.communicate()
    assert tok.returncode == 0, err
    access_token = out.decode().strip()
    secret = (tmp_path / "dev-secret").read_text().strip()
    claims = TokenVerifier(secret=secret).verify(access_token)
    assert claims.grants.room_admin and claims.room == "demo"
    assert b"demo URL" in err

    proc = await asyncio.create_subprocess_exec(
        *LIVEPARK, "serve", "--port", str(ws_port), "--http-port", str(http_port),
        "--ops-port", str(ops_port), "--demo",
        env=dict(env, LIVEPARK_MEDIA_HOST_ADDRESSES="127.0.0.1"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(20):
            while "livepark serving" not in "".join(lines):
                line = (await proc.stdout.readline()).decode()
                assert line, "".join(lines)
                lines.append(line)
        printed = "".join(lines)
        assert '"secret": "***"' in printed or '"secret": ""' in printed
        assert secret not in printed
        async with connect(f"ws://127.0.0.1:{ws_port}/") as ws:
            await ws.send(json.dumps({"v": 1, "id": 1, "type": "join", "data": {"token": access_token}}))
            reply = json.loads(await ws.recv())
            assert reply["ok"] and reply["data"]["you"]["role"] == "host"
            proc.send_signal(signal.SIGTERM)
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


async def test_bad_config_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "lp.toml"
    bad.write_text("[server]\nprot = 1\n")
    proc = await asyncio.create_subprocess_exec(
        *LIVEPARK, "serve", "--config", str(bad),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    _, err = await proc.communicate()
    assert proc.returncode == 2 and b"prot" in err
