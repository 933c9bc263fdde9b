"""Injected clocks: pure cores take ``now`` values; I/O layers pass one of these."""

from __future__ import annotations

import time
from collections.abc import Callable

Clock = Callable[[], float]
"""A function returning seconds as a float (monotonic unless stated otherwise)."""

monotonic: Clock = time.monotonic
wall: Clock = time.time


class ManualClock:
    """A clock for tests: time moves only when :meth:`advance` is called."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
