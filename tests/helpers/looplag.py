"""Loop-stall monitor for timing assertions on a shared, loaded test machine."""

from __future__ import annotations

import asyncio
import contextlib
import time


class LoopLag:
    """When the event loop was stalled, seen by a task that sleeps ``step`` s and notes every
    wake-up more than ``threshold`` s late (the interval from when it was due to when it ran).

    The SFU and all the client peers share this one loop, so on a busy CI machine a stall
    delays everything at once — e.g. a packet the SFU sent in time sits unread in a client's
    socket.  Timing assertions may subtract :meth:`stalled` (measured, never a guess) from an
    elapsed time; a real product delay still shows up in full.  Use as ``async with``."""

    def __init__(self, step: float = 0.005, threshold: float = 0.005) -> None:
        self.step, self.threshold = step, threshold
        self.stalls: list[tuple[float, float]] = []
        self._due: float | None = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> LoopLag:
        self._task = asyncio.get_running_loop().create_task(self._run())
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            self._due = time.monotonic() + self.step
            await asyncio.sleep(self.step)
            woke = time.monotonic()
            if woke - self._due > self.threshold:
                self.stalls.append((self._due, woke))

    def stalled(self, start: float, end: float) -> float:
        """Seconds of [start, end] during which the loop was stalled (a stall still going on
        — the sleeper overdue right now — included)."""
        spans = list(self.stalls)
        now = time.monotonic()
        if self._due is not None and now - self._due > self.threshold:
            spans.append((self._due, now))
        return sum(max(0.0, min(b, end) - max(a, start)) for a, b in spans)

    def beyond(self, t0: float, bound: float, times: list[float]) -> list[float]:
        """Those of ``times`` that are more than ``bound`` s after ``t0`` even when the loop's
        stalls in between are not counted: late, whatever the machine's load."""
        return [t for t in times if t - t0 - self.stalled(t0, t) > bound]

    async def wait_unstalled(self, t0: float, seconds: float, cap: float = 20.0) -> None:
        """Sleep until ``seconds`` of loop time that was not stalled have passed since ``t0``
        (at most ``cap`` s of wall time)."""
        while True:
            now = time.monotonic()
            left = seconds - (now - t0 - self.stalled(t0, now))
            if left <= 0 or now - t0 >= cap:
                return
            await asyncio.sleep(min(left, 0.05))
