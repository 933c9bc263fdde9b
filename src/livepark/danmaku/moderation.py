"""The moderation hook called before any comment is fanned out.

The contract has the shape of commercial text-moderation APIs: a verdict
(pass / review / reject, plus ``shadow``: show the comment to its sender only), labels in
up to three levels (``("porn", "moan")``) and an optional score.  The moderation package
plugs a real filter in later; :class:`AllowAll` is the default.

:func:`moderate` applies the hub's timeout and failure policy:

- the moderator gets ``limit`` seconds (``asyncio.timeout``, no extra task);
- on timeout or an exception, *fail-open* passes the comment (labelled
  ``moderation.unavailable``), *fail-closed* (default) refuses it with
  :class:`~livepark.danmaku.errors.ModerationUnavailable`, which the client may retry.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from livepark.danmaku import metrics
from livepark.danmaku.errors import ModerationUnavailable

log = logging.getLogger(__name__)


class Decision(StrEnum):
    PASS = "pass"
    REVIEW = "review"
    REJECT = "reject"
    SHADOW = "shadow"


@dataclass(frozen=True, slots=True)
class Verdict:
    decision: Decision
    labels: tuple[tuple[str, ...], ...] = ()
    score: float | None = None

    @classmethod
    def passed(cls) -> Verdict:
        return _PASS


_PASS = Verdict(Decision.PASS)
UNAVAILABLE = Verdict(Decision.PASS, (("moderation", "unavailable"),))


class TextModerator(Protocol):
    """What the hub needs from a text filter."""

    async def check(self, room_id: str, user_id: str, text: str) -> Verdict:
        """Judge ``text`` (already normalised) sent by ``user_id`` in ``room_id``."""
        ...


class AllowAll:
    """Default moderator: every comment passes."""

    async def check(self, room_id: str, user_id: str, text: str) -> Verdict:
        return _PASS


async def moderate(
    moderator: TextModerator,
    room_id: str,
    user_id: str,
    text: str,
    *,
    limit: float,
    fail_open: bool,
) -> Verdict:
    """Ask ``moderator`` under the timeout and failure policy described above."""
    if type(moderator) is AllowAll:
        return _PASS
    started = time.perf_counter()
    outcome = "ok"
    try:
        async with asyncio.timeout(limit):
            verdict = await moderator.check(room_id, user_id, text)
        return verdict
    except TimeoutError:
        outcome = "timeout"
    except Exception:
        log.exception("moderator failed for room %s", room_id)
        outcome = "error"
    finally:
        metrics.MODERATION_SECONDS.observe(time.perf_counter() - started)
    metrics.MODERATION_FAILURES.labels(outcome).inc()
    if fail_open:
        return UNAVAILABLE
    raise ModerationUnavailable(f"moderation {outcome}; try again")
