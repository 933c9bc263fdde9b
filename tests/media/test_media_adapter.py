"""The aiortc adapter: the private-name guard, and proof that nothing is decoded or encoded."""

from __future__ import annotations

import ast
import threading
from pathlib import Path
from typing import Any

import aioice.ice
import aiortc
import aiortc.codecs
import aiortc.rtcrtpreceiver
import pytest
from aiortc import RTCRtpReceiver, RTCRtpSender
from media_kit import TEST_CONFIG, Env, closing, publish, subscribe, until
from pylibsrtp import _binding as srtp_binding

from livepark.media import aiortc_adapter as adapter
from livepark.media import aiortc_guard, aiortc_testkit
from livepark.media.errors import AiortcIncompatible
from livepark.media.sfu import Sfu

MEDIA = Path(aiortc_guard.__file__).parent
ADAPTER_MODULES = ("aiortc_adapter.py", "aiortc_testkit.py")
OWN_ATTRIBUTES = {"_livepark_dropper", "_livepark_rtcp_filter", "_getframe", "_sock"}
"""Private attributes the adapter modules use that are not aiortc's: their own markers,
``sys._getframe``, and asyncio's optional ``_sock`` (the send path falls back without it)."""


async def test_aiortc_private_names_still_exist() -> None:
    missing = adapter.missing_names()
    assert not missing, (
        f"aiortc {aiortc.__version__} no longer has private names that "
        f"livepark/media/aiortc_adapter.py relies on: {', '.join(missing)}. "
        "The adapter was written for aiortc 1.16.0: port it before upgrading."
    )


async def test_guard_notices_a_moved_name_and_the_sfu_refuses_to_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delattr(RTCRtpReceiver, "_send_rtcp_pli")
    assert "aiortc.RTCRtpReceiver._send_rtcp_pli" in adapter.missing_names()
    sfu = Sfu(TEST_CONFIG, lambda e: None)
    with pytest.raises(AiortcIncompatible, match="_send_rtcp_pli"):
        await sfu.subscribe("r", "u", kind="live")
    await sfu.close()


async def test_no_decoder_or_encoder_is_created_on_the_forwarding_path(env: Env) -> None:
    decoders: list[object] = []  # the asyncio queue each decoder thread would feed
    encoders: list[object] = []  # the RTCRtpSender that created an encoder
    before = set(threading.enumerate())  # decoder threads of earlier tests may linger
    with aiortc_testkit.spy_codecs(decoders.append, encoders.append):
        alice = await publish(env.sfu, "nc", "alice")
        bob = await subscribe(env.sfu, "nc", "bob")
        async with closing(alice, bob):
            a, v = bob.mids("audio")[0], bob.mids("video")[0]
            assert await until(lambda: bob.decoded(v) >= 10 and bob.decoded(a) >= 10, 15)
            room = env.sfu.rooms["nc"]
            sfu_receivers = list(room.publishers["alice"].receivers.values())
            sfu_senders = list(room.subscribers["bob"].senders.values())
            sfu_queues = [aiortc_testkit.receiver_track_queue(r) for r in sfu_receivers]
            # the spies work: the clients did create codecs...
            assert len(encoders) == 2 and len(decoders) == 2
            # ...and none of them belongs to the SFU
            assert not any(q is d for q in sfu_queues for d in decoders)
            assert not any(s is e for s in sfu_senders for e in encoders)
            assert not any(adapter.decoder_running(r) for r in sfu_receivers)
            assert env.sfu.stats()["packets_forwarded"] >= 20
            decoder_threads = [
                t for t in threading.enumerate() if t.name.endswith("-decoder") and t not in before
            ]
            client_receivers = [t for t in bob.pc.getTransceivers() if t.receiver.track is not None]
            # the clients' decoders are among them (so the count sees aiortc's threads)
            assert 1 <= len(decoder_threads) <= len(client_receivers), decoder_threads


def _private_attributes(path: Path) -> set[str]:
    """``_name`` attributes read or written on other objects (``x._name``, ``getattr(x, "_name")``)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute) and not (
            isinstance(node.value, ast.Name) and node.value.id == "self"
        ):
            names.add(node.attr)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "setattr", "hasattr")
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
        ):
            names.add(node.args[1].value)
    return {n for n in names if n.startswith("_") and not (n.startswith("__") and n.endswith("__"))}


def test_guard_covers_every_private_name_the_adapter_modules_use() -> None:
    used = set().union(*(_private_attributes(MEDIA / name) for name in ADAPTER_MODULES)) - OWN_ATTRIBUTES
    unguarded = used - aiortc_guard.guarded_attributes()
    assert not unguarded, (
        f"used by the adapter modules but not checked by missing_names(): {sorted(unguarded)}"
    )


class _LibWithout:
    """``pylibsrtp._binding.lib`` without one function."""

    def __init__(self, lib: Any, name: str) -> None:
        self._lib, self._name = lib, name

    def __getattr__(self, attr: str) -> Any:
        if attr == self._name:
            raise AttributeError(attr)
        return getattr(self._lib, attr)


def _pair_without_protocol(self: Any, protocol: Any, remote_candidate: Any) -> None:
    self.remote_candidate = remote_candidate


def _track_without_queue(self: Any, kind: str, id: str | None = None) -> None:
    aiortc.MediaStreamTrack.__init__(self)
    self.kind = kind


def _no_track(self: Any) -> Any:
    raise AttributeError("_track")


def _ignore(self: Any, value: Any) -> None:
    pass


def _decoder_worker_renamed(loop: Any, input_q: Any, out_q: Any, decode_error: Any) -> None:
    pass


async def _next_encoded_frame_elsewhere(self: Any, codec: Any) -> None:
    pass


MOVED = [
    (
        "pylibsrtp._binding.lib.srtp_protect_rtcp",
        lambda mp: mp.setattr(srtp_binding, "lib", _LibWithout(srtp_binding.lib, "srtp_protect_rtcp")),
    ),
    (
        "aioice.ice.CandidatePair().protocol",
        lambda mp: mp.setattr(aioice.ice.CandidatePair, "__init__", _pair_without_protocol),
    ),
    (
        "aioice.ice.StunProtocol.local_candidate (declared)",
        lambda mp: mp.delitem(aioice.ice.StunProtocol.__annotations__, "local_candidate"),
    ),
    (
        "aioice.ice.StunProtocol.transport (declared)",
        lambda mp: mp.delitem(aioice.ice.StunProtocol.__annotations__, "transport"),
    ),
    (
        "RemoteStreamTrack()._queue",
        lambda mp: mp.setattr(aiortc.rtcrtpreceiver.RemoteStreamTrack, "__init__", _track_without_queue),
    ),
    (
        "RTCRtpReceiver()._track",
        lambda mp: mp.setattr(RTCRtpReceiver, "_track", property(_no_track, _ignore), raising=False),
    ),
    (
        "aiortc.rtcrtpreceiver.decoder_worker(output_q)",
        lambda mp: mp.setattr(aiortc.rtcrtpreceiver, "decoder_worker", _decoder_worker_renamed),
    ),
    (
        "aiortc.RTCRtpSender method calling get_encoder(self)",
        lambda mp: mp.setattr(RTCRtpSender, "_next_encoded_frame", _next_encoded_frame_elsewhere),
    ),
    ("aiortc.codecs.CODECS", lambda mp: mp.delattr(aiortc.codecs, "CODECS")),
]


@pytest.mark.parametrize(("name", "move"), MOVED, ids=[m[0] for m in MOVED])
async def test_guard_notices_moved_internals(name: str, move: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    assert name not in adapter.missing_names()
    move(monkeypatch)
    assert name in adapter.missing_names()


async def test_codec_spy_fails_loudly_when_aiortc_renames_the_local_it_reads() -> None:
    decoders: list[object] = []
    codec = next(c for c in aiortc.codecs.CODECS["audio"] if c.mimeType == "audio/opus")
    with pytest.raises(AssertionError, match="output_q"):
        with aiortc_testkit.spy_codecs(decoders.append, lambda sender: None):
            output_queue = object()  # not aiortc's name for it
            with pytest.raises(RuntimeError, match="output_q"):
                aiortc.rtcrtpreceiver.get_decoder(codec)  # type: ignore[attr-defined]
            del output_queue
    assert decoders == []
