"""Checks that the shared test infrastructure really works on this machine."""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import asyncpg
import pytest
import redis.asyncio as redis
from aiohttp import web

from helpers.net import free_port, free_ports, unused_udp_port

if TYPE_CHECKING:
    from playwright.async_api import Browser

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>livepark infra</title></head>
<body><p id="status">loaded</p></body></html>
"""

GET_USER_MEDIA_JS = """async () => {
  const s = await navigator.mediaDevices.getUserMedia({audio: true, video: true});
  const kinds = s.getTracks().map(t => t.kind).sort();
  const live = s.getTracks().every(t => t.readyState === "live");
  s.getTracks().forEach(t => t.stop());
  return {kinds, live, secure: window.isSecureContext};
}"""

# Two peer connections in one page, connected over loopback with real ICE/DTLS.
LOOPBACK_PC_JS = """async () => {
  const a = new RTCPeerConnection(), b = new RTCPeerConnection();
  a.onicecandidate = e => e.candidate && b.addIceCandidate(e.candidate);
  b.onicecandidate = e => e.candidate && a.addIceCandidate(e.candidate);
  const s = await navigator.mediaDevices.getUserMedia({audio: true, video: true});
  s.getTracks().forEach(t => a.addTrack(t, s));
  const got = new Promise(r => { b.ontrack = e => r(e.track.kind); });
  const connected = new Promise((res, rej) => {
    b.onconnectionstatechange = () => {
      if (b.connectionState === "connected") res(true);
      if (b.connectionState === "failed") rej(new Error("ICE failed"));
    };
  });
  await a.setLocalDescription(); await b.setRemoteDescription(a.localDescription);
  await b.setLocalDescription(); await a.setRemoteDescription(b.localDescription);
  await connected; await got;
  const state = b.connectionState;
  a.close(); b.close(); s.getTracks().forEach(t => t.stop());
  return state;
}"""


async def test_redis_roundtrip(redis_url: str) -> None:
    client = redis.from_url(redis_url)
    key = f"livepark:test_infra:{uuid.uuid4().hex}"
    try:
        await client.set(key, b"hello", ex=60)
        assert await client.get(key) == b"hello"
    finally:
        await client.delete(key)
        await client.aclose()


async def test_postgres_temp_table(pg_dsn: str) -> None:
    conn = await asyncpg.connect(pg_dsn)
    try:
        await conn.execute("CREATE TEMP TABLE infra_check (id int PRIMARY KEY, name text)")
        await conn.executemany("INSERT INTO infra_check VALUES ($1, $2)", [(1, "alpha"), (2, "beta")])
        rows = await conn.fetch("SELECT id, name FROM infra_check ORDER BY id")
        assert [tuple(r) for r in rows] == [(1, "alpha"), (2, "beta")]
    finally:
        await conn.close()


def test_port_helpers() -> None:
    tcp, udp = free_port(), unused_udp_port()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", tcp))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", udp))
    ports = free_ports(3)
    assert len(set(ports)) == 3


@pytest.fixture
async def page_url() -> AsyncIterator[str]:
    """A tiny aiohttp site on 127.0.0.1 (a secure context for getUserMedia)."""
    app = web.Application()

    async def index(_: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html")

    app.router.add_get("/", index)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()  # bind first, then read the port back
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        await runner.cleanup()


async def test_chromium_fake_media(chromium: Browser, page_url: str) -> None:
    page = await chromium.new_page()
    await page.goto(page_url)
    assert await page.text_content("#status") == "loaded"
    result = await page.evaluate(GET_USER_MEDIA_JS)
    assert result == {"kinds": ["audio", "video"], "live": True, "secure": True}


async def test_chromium_webrtc_loopback(chromium: Browser, page_url: str) -> None:
    page = await chromium.new_page()
    await page.goto(page_url)
    assert await page.evaluate(LOOPBACK_PC_JS) == "connected"
