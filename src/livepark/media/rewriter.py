"""Sequence-number / timestamp continuity for a subscriber's slot (sans-I/O).

Each forwarded stream segment ("epoch") maps publisher numbers to slot numbers with fixed
offsets: ``out = (in + off) mod 2**n``.  When a slot changes source (another publisher takes
it, a publisher comes back, a subscriber joins), the next epoch's offsets are chosen so the
subscriber sees the sequence continue at ``last + 1`` and the timestamp move forward by the
wall time elapsed (at least one frame, at most ``MAX_GAP`` seconds) — its decoder and jitter
buffer never see a jump backwards.
"""

from __future__ import annotations

from typing import NamedTuple

MAX_GAP = 30.0
"""Timestamp jumps are capped at this many seconds (keeps them far from half the 32-bit
range, which receivers would read as going backwards)."""


class SlotHistory(NamedTuple):
    """What a subscriber last received on a slot."""

    last_seq: int
    last_ts: int
    last_time: float


def seq_diff(a: int, b: int) -> int:
    """``a - b`` on the 16-bit circle, in [-32768, 32767]."""
    d = (a - b) & 0xFFFF
    return d - 0x10000 if d >= 0x8000 else d


def continue_offsets(
    history: SlotHistory | None,
    in_seq: int,
    in_ts: int,
    now: float,
    clock_rate: int,
    min_ts_step: int,
) -> tuple[int, int]:
    """Offsets ``(seq_off, ts_off)`` for an epoch starting with packet (in_seq, in_ts).

    Without history (a fresh slot) the publisher's numbers pass through unchanged (0, 0):
    fresh subscribers of a track then share offsets, hence serialised packets.
    """
    if history is None:
        return 0, 0
    elapsed = min(max(0.0, now - history.last_time), MAX_GAP)
    step = max(min_ts_step, int(elapsed * clock_rate))
    seq_off = (history.last_seq + 1 - in_seq) & 0xFFFF
    ts_off = (history.last_ts + step - in_ts) & 0xFFFFFFFF
    return seq_off, ts_off
