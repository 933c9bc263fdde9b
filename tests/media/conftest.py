"""Media test fixtures: an SFU on 127.0.0.1 host candidates with short timeouts, its clock,
and a loop-lag monitor (:class:`media_kit.Env`)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from media_kit import TEST_CONFIG, Env, SfuClock

from livepark.media.config import MediaConfig
from livepark.media.sfu import Sfu


@pytest.fixture
def media_config() -> MediaConfig:
    return TEST_CONFIG


@pytest.fixture
async def env(media_config: MediaConfig) -> AsyncIterator[Env]:
    clock = SfuClock()
    env = Env(Sfu(media_config, lambda e: env.record(e), clock=clock), clock=clock)
    async with env.lag:
        yield env
        await env.sfu.close()
