"""A demo page opened with ``#token=`` (what ``livepark token`` prints) on a node without
``--demo``: the page joins with the token from the URL fragment, never sent to the server."""

from __future__ import annotations

from playwright.async_api import Browser

from helpers.livenode import HOST, Client, node_config, running_node, token


async def test_viewer_page_joins_with_the_token_in_the_fragment(chromium: Browser) -> None:
    async with running_node(node_config(demo={"enabled": False})) as app:
        assert app.ports is not None
        host = await Client.connect(app)
        await host.join(token("frag", "hana", HOST, name="Hana"), kind="live")
        page = await (await chromium.new_context()).new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        requested: list[str] = []
        page.on("request", lambda req: requested.append(req.url))
        tok = token("frag", "mia", name="Mia")
        ws = f"ws://127.0.0.1:{app.ports.ws}/"
        await page.goto(f"http://127.0.0.1:{app.ports.http}/static/viewer.html?ws={ws}#token={tok}")
        await page.wait_for_function("() => window.lp && (window.lp.ready || window.lp.error)")
        assert await page.evaluate("() => window.lp.error && String(window.lp.error)") is None, errors
        joined = await host.next_event("member.joined", user_id="mia")
        assert joined["data"]["name"] == "Mia"
        assert not [u for u in requested if tok in u or "/demo/token" in u]
        await host.close()
