"""Browser end-to-end fixtures: a node with the demo endpoints on ephemeral ports.

The pages and their helpers are in ``e2e_pages.py``; the browser is ``chromium`` from
tests/conftest.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from helpers.livenode import node_config, running_node
from livepark.app import App


@pytest.fixture
async def demo_node() -> AsyncIterator[App]:
    async with running_node(node_config(demo={"enabled": True})) as app:
        yield app
