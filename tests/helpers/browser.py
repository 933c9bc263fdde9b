"""Headless Debian Chromium for tests (never `playwright install`)."""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.async_api import Browser, Playwright

CHROMIUM_ARGS: list[str] = [
    "--no-sandbox",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--allow-loopback-in-peer-connection",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--autoplay-policy=no-user-gesture-required",
]

MISSING_MSG = (
    "chromium not found on PATH. Run the suite with `bash scripts/test.sh` as root "
    "(it installs Debian's chromium) or `apt-get update && apt-get install -y chromium`."
)


def chromium_path() -> str | None:
    return shutil.which("chromium")


def launch_kwargs(**overrides: Any) -> dict[str, Any]:
    """Keyword arguments for ``playwright.chromium.launch`` (raises if chromium is missing)."""
    path = chromium_path()
    if path is None:
        raise RuntimeError(MISSING_MSG)
    kwargs: dict[str, Any] = {
        "executable_path": path,
        "headless": True,
        "args": list(CHROMIUM_ARGS),
    }
    kwargs.update(overrides)
    return kwargs


async def launch_chromium(playwright: Playwright, **overrides: Any) -> Browser:
    """Launch Debian Chromium with the fake-media flags, for your own fixtures."""
    return await playwright.chromium.launch(**launch_kwargs(**overrides))
