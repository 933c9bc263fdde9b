"""Session rules without sockets: turn order, malformed frames, rate limits, deadlines."""

from __future__ import annotations

import dataclasses
import json

import msgpack
import pytest

from livepark.config import SignalingConfig
from livepark.signaling.codes import CloseCode
from livepark.signaling.envelope import EnvelopeError, decode_request, encode
from livepark.signaling.session import MALFORMED_LIMIT, Close, Dispatch, Refuse, Session

CFG = SignalingConfig(request_rate=5, request_burst=5, flood_strikes=3, auth_timeout=5, idle_timeout=60)


def frame(type_: str, id_: int = 1, **data: object) -> str:
    return json.dumps({"v": 1, "id": id_, "type": type_, "data": data})


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("{", "not valid JSON"),
        ("[1,2]", "must be an object"),
        ('{"id":1}', "type"),
        ('{"id":1,"type":"Seat.Take"}', "type"),
        ('{"id":true,"type":"ping"}', "id"),
        ('{"id":1,"type":"ping","data":[]}', "data"),
        ('{"v":2,"id":1,"type":"ping"}', "version"),
        (b"\xc1", "msgpack"),
    ],
)
def test_decode_refuses_malformed(raw: str | bytes, message: str) -> None:
    with pytest.raises(EnvelopeError, match=message):
        decode_request(raw)


def test_decode_both_encodings() -> None:
    obj = {"v": 1, "id": "a1", "type": "seat.take", "data": {"seat": 3}}
    assert decode_request(json.dumps(obj)) == decode_request(msgpack.packb(obj))
    assert isinstance(encode({"x": 1}, "msgpack"), bytes)
    assert isinstance(encode({"x": 1}, "json"), str)


def test_requests_before_join_are_refused_but_ping_allowed() -> None:
    s = Session(CFG, now=0)
    out = s.on_frame(frame("seat.take"), now=0.1)
    assert isinstance(out, Refuse) and out.reply["error"]["code"] == "not_joined"
    assert isinstance(s.on_frame(frame("ping"), now=0.2), Dispatch)
    assert isinstance(s.on_frame(frame("join", token="t"), now=0.3), Dispatch)
    s.joined()
    out = s.on_frame(frame("join", token="t"), now=0.4)
    assert isinstance(out, Refuse) and out.reply["error"]["code"] == "already_joined"
    assert isinstance(s.on_frame(frame("seat.take"), now=0.5), Dispatch)


def test_malformed_frames_are_answered_then_close_4400() -> None:
    s = Session(dataclasses.replace(CFG, request_burst=MALFORMED_LIMIT), now=0)
    for i in range(MALFORMED_LIMIT - 1):
        out = s.on_frame("nonsense", now=i * 0.001)
        assert isinstance(out, Refuse) and out.reply["error"]["code"] == "bad_request"
    out = s.on_frame("nonsense", now=1)
    assert isinstance(out, Close) and out.code == CloseCode.PROTOCOL_ERROR


def test_rate_limit_then_flood_close() -> None:
    s = Session(CFG, now=0)
    for i in range(5):
        assert isinstance(s.on_frame(frame("ping", i), now=0), Dispatch)
    out = s.on_frame(frame("ping", 9), now=0)
    assert isinstance(out, Refuse) and out.reply["error"]["code"] == "rate_limited"
    assert out.reply["error"]["retry_after"] > 0
    assert isinstance(s.on_frame(frame("ping", 10), now=0), Refuse)
    out = s.on_frame(frame("ping", 11), now=0)
    assert isinstance(out, Close) and out.code == CloseCode.FLOOD


def test_malformed_frames_count_toward_the_rate_limit() -> None:
    """Garbage takes a token like any request: a client cannot make the server decode more
    than ``request_rate`` frames a second by mixing garbage with valid requests."""
    s = Session(CFG, now=0)
    for i in range(5):  # the burst: 4 garbage frames and a valid one, all decoded
        out = s.on_frame("nonsense" if i < 4 else frame("ping", i), now=0)
        assert isinstance(out, Dispatch if i == 4 else Refuse)
    out = s.on_frame("nonsense", now=0)
    assert isinstance(out, Refuse) and out.reply["error"]["code"] == "rate_limited"
    assert out.reply["id"] is None
    out = s.on_frame(frame("ping", 42), now=0)
    assert isinstance(out, Refuse) and out.reply["error"]["code"] == "rate_limited"
    assert out.reply["id"] == 42  # a small refused frame still gets its id back
    out = s.on_frame("x" * 60_000, now=0)
    assert isinstance(out, Close) and out.code == CloseCode.FLOOD


def test_rate_limit_recovers_with_time() -> None:
    s = Session(CFG, now=0)
    for i in range(6):
        s.on_frame(frame("ping", i), now=0)
    assert isinstance(s.on_frame(frame("ping", 7), now=1.0), Dispatch)


def test_auth_timeout_and_heartbeat_timeout() -> None:
    s = Session(CFG, now=0)
    assert s.next_deadline() == 5
    assert s.on_timer(4.9) is None
    out = s.on_timer(5.0)
    assert isinstance(out, Close) and out.code == CloseCode.AUTH_TIMEOUT
    s2 = Session(CFG, now=0)
    s2.on_frame(frame("join"), now=1)
    s2.joined()
    s2.on_frame(frame("ping"), now=30)
    assert s2.next_deadline() == 90
    assert s2.on_timer(89) is None
    out = s2.on_timer(90)
    assert isinstance(out, Close) and out.code == CloseCode.HEARTBEAT_TIMEOUT
