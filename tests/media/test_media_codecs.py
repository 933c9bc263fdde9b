from livepark.media.codecs import (
    CodecInfo,
    h264_keyframe_start,
    is_forwardable,
    vp8_keyframe_start,
)


def vp8(
    *, s: bool = True, pid: int = 0, keyframe: bool = True, picture_id: int | None = 300, tl0: bool = False
) -> bytes:
    b0 = (0x10 if s else 0) | pid
    ext = b""
    if picture_id is not None or tl0:
        b0 |= 0x80
        x = (0x80 if picture_id is not None else 0) | (0x40 if tl0 else 0)
        ext = bytes([x])
        if picture_id is not None:
            ext += (
                bytes([0x80 | (picture_id >> 8), picture_id & 0xFF])
                if picture_id > 127
                else bytes([picture_id])
            )
        if tl0:
            ext += b"\x05"
    header = bytes([0x00 if keyframe else 0x01, 0x9D, 0x01])
    return bytes([b0]) + ext + header + b"payload"


def test_vp8_keyframe_start_variants() -> None:
    assert vp8_keyframe_start(vp8())
    assert vp8_keyframe_start(vp8(picture_id=5))
    assert vp8_keyframe_start(vp8(picture_id=None))
    assert vp8_keyframe_start(vp8(tl0=True))
    assert not vp8_keyframe_start(vp8(keyframe=False))
    assert not vp8_keyframe_start(vp8(s=False))
    assert not vp8_keyframe_start(vp8(pid=1))
    assert not vp8_keyframe_start(b"")
    assert not vp8_keyframe_start(b"\x90")  # truncated


def test_vp8_matches_aiortc_packetizer() -> None:
    # aiortc's own descriptor serialiser: S=1, PID=0, 15-bit picture id
    from aiortc.codecs.vpx import VpxPayloadDescriptor

    d = bytes(VpxPayloadDescriptor(partition_start=1, partition_id=0, picture_id=1234))
    assert vp8_keyframe_start(d + b"\x10\x02\x00")
    assert not vp8_keyframe_start(d + b"\x11\x02\x00")


def test_h264_keyframe_start() -> None:
    sps = bytes([0x67, 0x42, 0x00, 0x1F])
    pps = bytes([0x68, 0xCE])
    idr = bytes([0x65, 0x88])
    non_idr = bytes([0x41, 0x9A])
    assert h264_keyframe_start(sps)
    assert h264_keyframe_start(idr)
    assert not h264_keyframe_start(non_idr)
    stap = bytes([0x78]) + len(sps).to_bytes(2, "big") + sps + len(pps).to_bytes(2, "big") + pps
    assert h264_keyframe_start(stap)
    stap_p = bytes([0x78]) + len(non_idr).to_bytes(2, "big") + non_idr
    assert not h264_keyframe_start(stap_p)
    assert h264_keyframe_start(bytes([0x7C, 0x85, 0x88]))  # FU-A start of IDR
    assert not h264_keyframe_start(bytes([0x7C, 0x05, 0x88]))  # FU-A middle of IDR
    assert not h264_keyframe_start(bytes([0x7C, 0x81, 0x88]))  # FU-A start of non-IDR
    assert not h264_keyframe_start(b"")


def test_codec_info() -> None:
    assert CodecInfo(97, "video/vp8", 90000).keyframe_start is vp8_keyframe_start
    assert CodecInfo(98, "video/rtx", 90000, apt=97).is_rtx
    assert CodecInfo(96, "audio/opus", 48000).keyframe_start(b"")
    assert is_forwardable("audio", "audio/OPUS")
    assert not is_forwardable("audio", "audio/pcmu")
    assert is_forwardable("video", "video/h264")
