"""A comment's way in: validate, admit (policy), moderate, then commit or release.

The sender policy is two-phase around the moderator (see :mod:`.policy`):

- refused by the policy (empty, too_long, duplicate, rate_limited) or ``invalid_mode``:
  no token spent, nothing remembered;
- admitted: the rate token is spent, whatever moderation says next;
- moderation ``reject`` or unavailable (fail-closed): refused, and the text is *not*
  remembered, so the user may send it again (a retry after ``moderation_unavailable`` is
  judged afresh instead of being refused as ``duplicate``);
- ``pass`` / ``shadow`` (and ``review`` mapped by ``review_action``): the text is
  remembered for duplicate suppression and the comment goes out.
"""

from __future__ import annotations

from livepark.danmaku.config import HubConfig
from livepark.danmaku.errors import CommentRejected, InvalidMode
from livepark.danmaku.moderation import Decision, TextModerator, moderate
from livepark.danmaku.policy import SenderPolicy

MODES = frozenset({"scroll", "top", "bottom"})


async def admit_comment(
    policy: SenderPolicy,
    moderator: TextModerator,
    config: HubConfig,
    room_id: str,
    user_id: str,
    text: str,
    *,
    mode: str,
    color: int | None,
    now: float,
) -> tuple[str, Decision]:
    """Return (shown text, ``PASS`` or ``SHADOW``); raise a ``CommentRefused`` otherwise."""
    if mode not in MODES:
        raise InvalidMode(f"mode must be one of {sorted(MODES)}")
    if color is not None and (type(color) is not int or not 0 <= color <= 0xFFFFFF):
        raise InvalidMode("color must be an integer 0..0xFFFFFF")
    admission = policy.admit(user_id, text, now)
    try:
        verdict = await moderate(
            moderator, room_id, user_id, admission.text,
            limit=config.moderation_timeout, fail_open=config.moderation_fail_open,
        )  # fmt: skip
        decision = verdict.decision
        if decision is Decision.REVIEW:
            decision = Decision(config.review_action)
        if decision is Decision.REJECT:
            raise CommentRejected("comment rejected by moderation")
    except BaseException:  # rejected, unavailable, or the request was cancelled
        policy.release(admission)
        raise
    policy.commit(admission)
    return admission.text, decision
