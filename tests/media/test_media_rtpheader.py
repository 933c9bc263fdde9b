from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import HeaderExtensionsMap, RtpPacket
from hypothesis import given
from hypothesis import strategies as st

from livepark.media.rtpheader import (
    URI_ABS_SEND_TIME,
    URI_AUDIO_LEVEL,
    URI_MID,
    ExtensionIds,
    HeaderTemplate,
    abs_send_time,
)


def ext_map(ids: ExtensionIds) -> HeaderExtensionsMap:
    m = HeaderExtensionsMap()
    exts = []
    for uri, i in (
        (URI_MID, ids.mid),
        (URI_AUDIO_LEVEL, ids.audio_level),
        (URI_ABS_SEND_TIME, ids.abs_send_time),
    ):
        if i:
            exts.append(RTCRtpHeaderExtensionParameters(id=i, uri=uri))
    m.configure(RTCRtpParameters(headerExtensions=exts))
    return m


@given(
    seq=st.integers(0, 0xFFFF),
    ts=st.integers(0, 0xFFFFFFFF),
    marker=st.integers(0, 1),
    level=st.integers(0, 127),
    vad=st.booleans(),
    payload=st.binary(max_size=50),
    mid=st.sampled_from(["0", "1", "12", "video-slot-3"]),
    ids=st.sampled_from(
        [ExtensionIds(1, 2, 3), ExtensionIds(4, 1, 2), ExtensionIds(1, None, None), ExtensionIds(15, 2, 20)]
    ),
)
def test_roundtrip_through_aiortc_parser(
    seq: int, ts: int, marker: int, level: int, vad: bool, payload: bytes, mid: str, ids: ExtensionIds
) -> None:
    tpl = HeaderTemplate(0x12345678, mid, ids)
    send_time = abs_send_time(1234.5678)
    data = tpl.build(111, marker, seq, ts, payload, (vad, level), send_time)
    p = RtpPacket.parse(data, ext_map(ids))
    assert (p.payload_type, p.marker, p.sequence_number, p.timestamp, p.ssrc) == (
        111,
        marker,
        seq,
        ts,
        0x12345678,
    )
    assert p.payload == payload
    assert p.extensions.mid == mid
    if ids.audio_level:
        assert p.extensions.audio_level == (vad, level)
    if ids.abs_send_time:
        assert p.extensions.abs_send_time == send_time


def test_no_extensions() -> None:
    tpl = HeaderTemplate(7, None, ExtensionIds())
    data = tpl.build(96, 0, 1, 2, b"x")
    assert data[0] == 0x80 and len(data) == 13


def test_ssrc_override() -> None:
    tpl = HeaderTemplate(7, "0", ExtensionIds(mid=1))
    p = RtpPacket.parse(tpl.build(96, 0, 1, 2, b"x", ssrc=9))
    assert p.ssrc == 9
