from __future__ import annotations

import itertools

from livepark.auth.grants import Grants
from livepark.auth.tokens import Claims
from livepark.signaling.resume import ResumeTable


def claims(user: str, room: str = "r") -> Claims:
    return Claims(user, user, room, Grants(), True, False, 0.0)


def table(**kw: int) -> ResumeTable:
    counter = itertools.count()
    return ResumeTable(20.0, token_factory=lambda: f"t{next(counter)}", **kw)


def test_token_valid_while_connected_and_for_grace_after_drop() -> None:
    t = table()
    tok = t.issue(claims("a"), "s1")
    t.start_grace("r", "a", now=100)
    ticket = t.redeem(tok, now=119)
    assert ticket is not None and ticket.user_id == "a" and ticket.session_id == "s1"
    assert t.redeem(tok, now=119) is None, "single use"


def test_expired_after_grace() -> None:
    t = table()
    tok = t.issue(claims("a"), "s1")
    t.start_grace("r", "a", now=100)
    assert t.redeem(tok, now=120.5) is None


def test_reissue_and_revoke() -> None:
    t = table()
    old = t.issue(claims("a"), "s1")
    new = t.issue(claims("a"), "s1")
    assert t.redeem(old, now=0) is None and len(t) == 1
    t.revoke_room("r")
    assert t.redeem(new, now=0) is None and len(t) == 0


def test_bounded() -> None:
    t = table(max_pending=3)
    toks = [t.issue(claims(f"u{i}"), "s") for i in range(5)]
    assert len(t) == 3
    assert t.redeem(toks[0], now=0) is None and t.redeem(toks[4], now=0) is not None
