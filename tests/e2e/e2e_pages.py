"""Demo pages opened in Debian's Chromium, and what tests read from them (``window.lp``).

Every page gets its own browser context (a separate member with her own fake camera/mic)
inside the one ``chromium`` browser of a test.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from playwright.async_api import Browser, ConsoleMessage, Page

from livepark.app import App


@dataclass
class Member:
    """One demo page and what it reported (uncaught errors, console errors)."""

    page: Page
    errors: list[str] = field(default_factory=list)

    async def lp(self, expr: str) -> Any:
        """Evaluate ``expr`` against the page's ``window.lp`` (awaited if it is a promise)."""
        return await self.page.evaluate(f"async () => {{ const lp = window.lp; return {expr}; }}")

    async def wait(self, expr: str, timeout: float = 10.0) -> Any:
        """Wait until ``expr`` (over ``lp``) is truthy; return its value."""
        handle = await self.page.wait_for_function(
            f"() => {{ const lp = window.lp; return lp && ({expr}); }}", timeout=timeout * 1000
        )
        return await handle.json_value()

    async def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.lp("await lp.stats()")
        return result

    async def stats_until(
        self, check: Callable[[dict[str, Any]], bool], timeout: float = 3.0, every: float = 0.1
    ) -> dict[str, Any]:
        """Poll ``stats()`` until ``check`` holds (getStats() is sampled, not live: a read right
        after an event may still show the previous figures); fail with the last stats after
        ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            stats = await self.stats()
            if check(stats):
                return stats
            if loop.time() >= deadline:
                raise AssertionError(f"stats never matched within {timeout}s: {dump(stats)}")
            await asyncio.sleep(every)


async def open_page(browser: Browser, app: App, page: str, **query: str) -> Member:
    """Open ``/static/<page>`` from the node's HTTP listener (a secure context: 127.0.0.1),
    pointing it at the node's WebSocket with ``?ws=`` (the config's port is 0 in tests)."""
    assert app.ports is not None
    context = await browser.new_context(viewport={"width": 1280, "height": 760})
    tab = await context.new_page()
    member = Member(tab)
    tab.on("pageerror", lambda exc: member.errors.append(f"pageerror: {exc}"))

    def console(msg: ConsoleMessage) -> None:
        if msg.type == "error":
            member.errors.append(f"console: {msg.text}")

    tab.on("console", console)
    query = {**query, "ws": f"ws://127.0.0.1:{app.ports.ws}/"}
    await tab.goto(f"http://127.0.0.1:{app.ports.http}/static/{page}?{urlencode(query)}")
    return member


async def sample(members: list[Member], seconds: float, every: float = 1.0) -> list[list[dict[str, Any]]]:
    """``stats()`` of every member, ``seconds / every + 1`` times (one row per member)."""
    rows: list[list[dict[str, Any]]] = [[] for _ in members]
    loop = asyncio.get_running_loop()
    start = loop.time()
    n = round(seconds / every)
    for i in range(n + 1):
        await asyncio.sleep(max(0.0, start + i * every - loop.time()))
        for row, stats in zip(rows, await asyncio.gather(*(m.stats() for m in members)), strict=True):
            row.append(stats)
    return rows


def dump(obj: Any) -> str:
    return json.dumps(obj, indent=1, sort_keys=True)
