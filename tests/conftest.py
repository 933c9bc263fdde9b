"""Shared fixtures: redis_url, pg_dsn, chromium; the Hypothesis profile. Helpers live in tests/helpers/.

Service locations come from LIVEPARK_TEST_REDIS_URL / LIVEPARK_TEST_PG_DSN, which
`bash scripts/test.sh` exports (it starts throwaway servers when none are running).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import sys
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest
from hypothesis import settings

# `from helpers.net import free_port` works in every pytest import mode.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from helpers.browser import MISSING_MSG, chromium_path, launch_kwargs

if TYPE_CHECKING:
    from playwright.async_api import Browser

# No per-example deadline: a stalled shared runner must not turn a slow example into
# DeadlineExceeded/Flaky. Example counts stay Hypothesis' (or each test's own @settings);
# `--hypothesis-profile` still overrides this.
settings.register_profile("livepark", deadline=None)
settings.load_profile("livepark")

T = TypeVar("T")
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"
DEFAULT_PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"


def run_in_thread(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion on a private loop in a worker thread.

    Safe from sync fixtures: never touches pytest-asyncio's event loop.
    """
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _try(coro: Coroutine[Any, Any, None]) -> str | None:
    try:
        run_in_thread(coro)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


@pytest.fixture(scope="session")
def redis_url() -> str:
    """Redis URL (dedicated db 15 by default) that answered PING; fails if unreachable."""
    url = os.environ.get("LIVEPARK_TEST_REDIS_URL", DEFAULT_REDIS_URL)

    async def ping() -> None:
        import redis.asyncio as redis

        client = redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
        try:
            await client.ping()
        finally:
            await client.aclose()

    error = _try(ping())
    if error:
        pytest.fail(
            f"Redis at {url} is not reachable ({error}). "
            "Run tests via `bash scripts/test.sh` or set LIVEPARK_TEST_REDIS_URL.",
            pytrace=False,
        )
    return url


@pytest.fixture(scope="session")
def pg_dsn() -> str:
    """PostgreSQL DSN that answered SELECT 1; fails if unreachable."""
    dsn = os.environ.get("LIVEPARK_TEST_PG_DSN", DEFAULT_PG_DSN)

    async def select1() -> None:
        import asyncpg

        conn = await asyncpg.connect(dsn, timeout=5)
        try:
            await conn.fetchval("SELECT 1")
        finally:
            await conn.close()

    error = _try(select1())
    if error:
        pytest.fail(
            f"PostgreSQL at {dsn} is not reachable ({error}). "
            "Run tests via `bash scripts/test.sh` or set LIVEPARK_TEST_PG_DSN.",
            pytrace=False,
        )
    return dsn


@pytest.fixture
async def chromium() -> AsyncIterator[Browser]:
    """A headless Debian Chromium (Playwright async ``Browser``) with fake camera/mic.

    Function-scoped and async, so it shares the test's event loop (asyncio_mode=auto,
    function loop scope) and can talk to servers the test starts in that loop. Costs ~1 s.
    Pages must be served from http://127.0.0.1 or http://localhost (secure context) for
    ``navigator.mediaDevices`` to exist::

        async def test_page(chromium):
            page = await chromium.new_page()
            await page.goto(f"http://127.0.0.1:{port}/")
            assert await page.evaluate("1 + 1") == 2

    For a session-wide browser, build your own fixture with
    ``helpers.browser.launch_chromium`` and mark its tests ``loop_scope="session"``.
    """
    if chromium_path() is None:
        pytest.fail(MISSING_MSG, pytrace=False)
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(**launch_kwargs())
        try:
            yield browser
        finally:
            await browser.close()
