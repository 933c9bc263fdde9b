"""Sans-I/O sender policy: normalise, length, duplicate suppression, per-user rate limits.

A comment goes through two phases around moderation: :meth:`SenderPolicy.admit` (checks,
then takes the rate token) -> the moderator -> :meth:`SenderPolicy.commit` (it went out: its
text is remembered for duplicate suppression) or :meth:`SenderPolicy.release` (rejected, or
moderation was unavailable: its text is forgotten, so resending it is judged again).

Order of checks in :meth:`~SenderPolicy.admit` (a comment refused here costs no token):

1. normalise: NFC, control characters (Cc) become spaces, surrounding whitespace stripped;
2. empty / whitespace-only -> :class:`EmptyComment`;
3. more than ``max_chars`` code points -> :class:`CommentTooLong`;
4. same user, same text (case-folded, whitespace-collapsed) as a comment that went out
   within ``dup_window``, or that is being moderated right now -> :class:`DuplicateComment`;
5. per-user token bucket (``rate``/s, ``burst``) -> :class:`RateLimited` with retry_after.

An admitted comment has spent its token whatever moderation then says: a spammer gets no
free moderation calls, and a retry after ``moderation_unavailable`` is rate-limited like
any other comment.

State is per user and bounded: :meth:`SenderPolicy.sweep` forgets users whose bucket is
full again, whose remembered texts have expired and who have nothing being moderated.
"""

from __future__ import annotations

import unicodedata
from collections import OrderedDict
from dataclasses import dataclass, field

from livepark.danmaku.errors import (
    CommentTooLong,
    DuplicateComment,
    EmptyComment,
    RateLimited,
)
from livepark.ratelimit import TokenBucket


def normalize(text: str) -> str:
    """NFC, control characters to spaces, stripped: the text that is shown and counted."""
    text = unicodedata.normalize("NFC", text)
    if not text.isprintable():
        text = "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in text)
    return text.strip()


def dedup_key(text: str) -> str:
    """What "the same text" means for duplicate suppression."""
    return " ".join(text.casefold().split())


@dataclass(slots=True)
class _UserState:
    comments: TokenBucket
    likes: TokenBucket
    recent: OrderedDict[str, float] = field(default_factory=OrderedDict)  # went out
    moderating: set[str] = field(default_factory=set)  # admitted, not settled yet


@dataclass(frozen=True, slots=True)
class Admission:
    """An admitted comment awaiting moderation; settle it with ``commit`` or ``release``."""

    user_id: str
    text: str  # normalised: what is shown and moderated
    key: str  # dedup key of ``text``
    at: float


@dataclass(frozen=True, slots=True)
class PolicyLimits:
    rate: float = 1.0
    burst: float = 3.0
    max_chars: int = 200
    dup_window: float = 10.0
    dup_memory: int = 8
    like_rate: float = 20.0
    like_burst: float = 60.0
    max_like_count: int = 50


class SenderPolicy:
    """Decides whether a user's comment or like may go out (see module docstring)."""

    def __init__(self, limits: PolicyLimits | None = None) -> None:
        self.limits = limits or PolicyLimits()
        self._users: dict[str, _UserState] = {}

    def __len__(self) -> int:
        return len(self._users)

    def _state(self, user_id: str) -> _UserState:
        state = self._users.get(user_id)
        if state is None:
            lim = self.limits
            state = _UserState(
                TokenBucket(rate=lim.rate, burst=lim.burst),
                TokenBucket(rate=lim.like_rate, burst=lim.like_burst),
            )
            self._users[user_id] = state
        return state

    def admit(self, user_id: str, text: str, now: float) -> Admission:
        """Phase one: check the comment and take its rate token; raise a refusal otherwise."""
        lim = self.limits
        shown = normalize(text)
        if not shown:
            raise EmptyComment("comment is empty")
        length = len(shown)
        if length > lim.max_chars:
            raise CommentTooLong(length, lim.max_chars)
        state = self._state(user_id)
        key = dedup_key(shown)
        seen = state.recent.get(key)
        if key in state.moderating or (seen is not None and now - seen < lim.dup_window):
            raise DuplicateComment("same comment sent a moment ago")
        if not state.comments.take(now):
            raise RateLimited(state.comments.retry_after(now))
        state.moderating.add(key)
        return Admission(user_id, shown, key, now)

    def commit(self, admission: Admission) -> None:
        """Phase two, the comment went out: remember its text for duplicate suppression."""
        state = self._state(admission.user_id)
        state.moderating.discard(admission.key)
        recent = state.recent
        recent[admission.key] = admission.at
        recent.move_to_end(admission.key)
        while len(recent) > self.limits.dup_memory:
            recent.popitem(last=False)

    def release(self, admission: Admission) -> None:
        """Phase two, the comment did not go out (rejected, moderation unavailable): forget
        its text, so the same text may be sent again.  Its rate token stays spent."""
        self._state(admission.user_id).moderating.discard(admission.key)

    def check_comment(self, user_id: str, text: str, now: float) -> str:
        """Both phases at once, for a comment that needs no moderation: the shown text."""
        admission = self.admit(user_id, text, now)
        self.commit(admission)
        return admission.text

    def check_likes(self, user_id: str, count: int, now: float) -> int:
        """How many of ``count`` likes are accepted (0..count); excess is dropped silently."""
        count = max(0, min(int(count), self.limits.max_like_count))
        if count == 0:
            return 0
        bucket = self._state(user_id).likes
        bucket.take(now, 0.0)  # refill
        granted = min(count, int(bucket.tokens))
        if granted:
            bucket.take(now, float(granted))
        return granted

    def sweep(self, now: float) -> int:
        """Forget idle users (full buckets, no remembered text in the window); return count."""
        lim = self.limits
        idle = []
        for user_id, state in self._users.items():
            state.comments.take(now, 0.0)
            state.likes.take(now, 0.0)
            if (
                not state.moderating
                and state.comments.tokens >= state.comments.burst
                and state.likes.tokens >= state.likes.burst
                and all(now - t >= lim.dup_window for t in state.recent.values())
            ):
                idle.append(user_id)
        for user_id in idle:
            del self._users[user_id]
        return len(idle)
