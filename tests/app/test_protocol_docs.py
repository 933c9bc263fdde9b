"""Every error code and close code a client can receive is documented in docs/."""

from __future__ import annotations

import re
from pathlib import Path

import livepark
from livepark.auth.errors import AuthError
from livepark.danmaku import frames as danmaku_frames
from livepark.danmaku.errors import DanmakuError
from livepark.errors import LiveparkError
from livepark.media.errors import MediaError
from livepark.rooms import actions
from livepark.rooms.errors import ErrorCode
from livepark.signaling import codes
from livepark.signaling.codes import CloseCode

ROOT = Path(__file__).resolve().parents[2]
SRC = Path(livepark.__file__).resolve().parent
DOCS = "\n".join(p.read_text() for p in sorted((ROOT / "docs").glob("*.md")))
PROTOCOL = (ROOT / "docs" / "protocol.md").read_text()

NEVER_SENT = {
    "auth_failed": "AuthError's base code; every refusal raises a subclass",
    "danmaku_error": "DanmakuError's base code",
    "comment_refused": "a base class of the comment refusals",
    "media_error": "MediaError's base code",
}
# Codes given inline: ``code="..."`` keywords, ``_error(404, "...")`` and ``{"code": "..."}``.
LITERAL = re.compile(r'\bcode="([a-z_]+)"|_error\(\d+, "([a-z_]+)"|"code": "([a-z_]+)"')


def _tree(root: type[LiveparkError]) -> set[str]:
    out, todo = set(), [root]
    while todo:
        cls = todo.pop()
        out.add(cls.code)
        todo.extend(cls.__subclasses__())
    return out


def error_codes() -> dict[str, str]:
    """Every error code defined in the code, with where it is defined."""
    found: dict[str, str] = {}
    for name, value in vars(codes).items():
        if name.isupper() and isinstance(value, str):
            found[value] = "signaling/codes.py"
    found.update({c.value: "rooms/errors.py" for c in ErrorCode})
    for root in (AuthError, DanmakuError, MediaError):
        found.update({code: root.__name__ for code in _tree(root)})
    for path in SRC.rglob("*.py"):
        for m in LITERAL.finditer(path.read_text()):
            found[next(g for g in m.groups() if g)] = str(path.relative_to(SRC))
    return {code: where for code, where in found.items() if code not in NEVER_SENT}


def close_codes() -> set[int]:
    values = {int(c) for c in CloseCode}
    for module in (actions, danmaku_frames):
        values.update(v for k, v in vars(module).items() if k.startswith("CLOSE_") and isinstance(v, int))
    return values


def test_every_error_code_is_documented() -> None:
    found = error_codes()
    assert {
        "bad_request",
        "token_expired",
        "seat_locked",
        "admin_disabled",
        "room_exists",
        "too_long",
        "bad_sdp",
    } <= set(found)  # the collection itself works
    missing = {code: where for code, where in found.items() if f"`{code}`" not in DOCS}
    assert not missing, f"error codes missing from docs/*.md: {missing}"


def test_every_close_code_is_in_the_close_code_table() -> None:
    table = PROTOCOL.split("## Close codes", 1)[1]
    missing = sorted(c for c in close_codes() if f"\n| {c} |" not in table)
    assert not missing, f"close codes missing from docs/protocol.md: {missing}"
    documented = {int(n) for n in re.findall(r"^\| (\d{4}) \|", table, re.M)}
    assert documented == close_codes(), "the table documents a close code the server never sends"
