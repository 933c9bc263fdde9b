"""The aiortc adapter: the private-name guard, and proof that nothing is decoded or encoded."""

from __future__ import annotations

import threading

import aiortc
import pytest
from aiortc import RTCRtpReceiver
from media_kit import TEST_CONFIG, Env, closing, publish, subscribe, until

from livepark.media import aiortc_adapter as adapter
from livepark.media.errors import AiortcIncompatible
from livepark.media.sfu import Sfu


async def test_aiortc_private_names_still_exist() -> None:
    missing = adapter.missing_names()
    assert not missing, (
        f"aiortc {aiortc.__version__} no longer has private names that "
        f"livepark/media/aiortc_adapter.py relies on: {', '.join(missing)}. "
        "The adapter was written for aiortc 1.14-1.16: port it before upgrading."
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
    with adapter.spy_codecs(decoders.append, encoders.append):
        alice = await publish(env.sfu, "nc", "alice")
        bob = await subscribe(env.sfu, "nc", "bob")
        async with closing(alice, bob):
            a, v = bob.mids("audio")[0], bob.mids("video")[0]
            assert await until(lambda: bob.decoded(v) >= 10 and bob.decoded(a) >= 10, 15)
            room = env.sfu.rooms["nc"]
            sfu_receivers = list(room.publishers["alice"].receivers.values())
            sfu_senders = list(room.subscribers["bob"].senders.values())
            sfu_queues = [adapter.receiver_track_queue(r) for r in sfu_receivers]
            # the spies work: the clients did create codecs...
            assert len(encoders) == 2 and len(decoders) == 2
            # ...and none of them belongs to the SFU
            assert not any(q is d for q in sfu_queues for d in decoders)
            assert not any(s is e for s in sfu_senders for e in encoders)
            assert not any(adapter.decoder_running(r) for r in sfu_receivers)
            assert env.sfu.stats()["packets_forwarded"] >= 20
            decoder_threads = [t for t in threading.enumerate() if t.name.endswith("-decoder")]
            client_receivers = [t for t in bob.pc.getTransceivers() if t.receiver.track is not None]
            assert len(decoder_threads) <= len(client_receivers)
