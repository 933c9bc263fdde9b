"""The SFU: the API the signaling layer (and WHIP/WHEP) calls.

Packet-level pass-through on aiortc: publishers' RTP is intercepted before aiortc's receiver
(whose decoder is stopped), rewritten per subscriber slot and written straight to each
subscriber leg's SRTP session and ICE socket.  Nothing is ever decoded or encoded.

Typical use::

    sfu = Sfu(config, on_event=handle)
    answer = await sfu.publish("room1", "alice", offer_sdp, kind="live")
    offer = await sfu.subscribe("room1", "bob", kind="live")
    await sfu.subscriber_answer("room1", "bob", answer_sdp)
    sfu.set_forwarding("room1", "alice", audio=False, video=True)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from typing import Any

from aiortc import RTCRtpSender, RTCSessionDescription
from aiortc.exceptions import OperationError

from livepark.clock import Clock
from livepark.media import aiortc_adapter as adapter
from livepark.media.codecs import FORWARDABLE
from livepark.media.config import MediaConfig, RoomKind
from livepark.media.errors import AiortcIncompatible, MediaError
from livepark.media.events import LegFailed, MediaEvent
from livepark.media.forwarder import ForwardStats, Kind, SlotOutput
from livepark.media.legs import LegState, PublisherLeg, SilentTrack, SubscriberLeg, new_peer_connection
from livepark.media.room import Counters, MediaRoom
from livepark.media.sdp import av_sections, parse_sections, require_video_codec

log = logging.getLogger(__name__)

_RECENT_TIMEOUTS = 1024


def _codec_preferences(kind: str) -> list[Any]:
    caps = RTCRtpSender.getCapabilities(kind).codecs
    wanted = FORWARDABLE[kind]
    prefs = [c for mime in wanted for c in caps if c.mimeType.lower() == mime]
    prefs += [c for c in caps if c.mimeType.lower().endswith("/rtx")]
    return prefs


def _cname(sdp: str) -> str:
    match = re.search(r"^a=ssrc:\d+ cname:(\S+)", sdp, re.MULTILINE)
    return match.group(1) if match else "livepark"


class Sfu:
    def __init__(
        self,
        config: MediaConfig,
        on_event: Callable[[MediaEvent], None],
        clock: Clock = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.rng = rng if rng is not None else random.Random()
        """Slot SSRCs and RTCP timing (inject a seeded one for reproducible tests)."""
        self._on_event = on_event
        self.clock = clock
        self.rooms: dict[str, MediaRoom] = {}
        self.forward_stats = ForwardStats()
        self.counters = Counters()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._ticker: asyncio.Task[None] | None = None
        self._closed = False
        self._timed_out: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._early_flags: OrderedDict[tuple[str, str], tuple[bool, bool]] = OrderedDict()
        """set_forwarding() for rooms without media yet (applied when the room appears)."""
        self._ports = (
            adapter.PortRange(config.udp_port_min, config.udp_port_max)
            if config.udp_port_min and config.udp_port_max
            else None
        )
        adapter.allow_h264_profiles()  # before the capabilities are read
        self._prefs = {k: _codec_preferences(k) for k in ("audio", "video")}

    # ------------------------------------------------------------------ plumbing
    def _emit(self, event: MediaEvent) -> None:
        if isinstance(event, LegFailed) and event.reason == "answer_timeout":
            self._timed_out[(event.room_id, event.user_id)] = None
            while len(self._timed_out) > _RECENT_TIMEOUTS:
                self._timed_out.popitem(last=False)
        try:
            self._on_event(event)
        except Exception:
            log.exception("media event handler failed for %s", type(event).__name__)

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("media background task failed: %r", task.exception())

    def _start(self) -> None:
        if self._closed:
            raise MediaError("the SFU is closed", code="room_closed")
        if self._ticker is None:
            missing = adapter.missing_names()
            if missing:
                raise AiortcIncompatible(
                    "the installed aiortc/aioice lack private names livepark.media relies on: "
                    + ", ".join(missing)
                )
            if self.config.fast_send and adapter.FAST_FANOUT is None:
                log.warning(
                    "media: the C send loop (livepark.media._fastsend) is not built; forwarding "
                    "uses the Python loop (more CPU per packet). Reinstall with a C compiler."
                )
            self._ticker = asyncio.get_running_loop().create_task(self._run_ticker())

    async def _run_ticker(self) -> None:
        interval = self.config.tick_interval
        while True:
            await asyncio.sleep(interval)
            now = self.clock()
            for room_id, room in list(self.rooms.items()):
                try:
                    room.tick(now)
                except Exception:
                    log.exception("media room %s tick failed", room_id)
                if room.empty and self.rooms.get(room_id) is room:
                    del self.rooms[room_id]

    def _room(self, room_id: str, kind: RoomKind, *, create: bool = True) -> MediaRoom:
        room = self.rooms.get(room_id)
        if room is None or room.closed:
            if not create:
                raise MediaError(f"no media in room {room_id}", code="not_found")
            if len(self.rooms) >= self.config.max_rooms:
                raise MediaError("too many rooms on this node", code="too_many_rooms")
            room = MediaRoom(
                room_id,
                kind,
                self.config,
                emit=self._emit,
                spawn=self._spawn,
                stats=self.forward_stats,
                counters=self.counters,
                rng=self.rng,
            )
            self.rooms[room_id] = room
            for (rid, user), flags in list(self._early_flags.items()):
                if rid == room_id:
                    room.flags[user] = flags
                    del self._early_flags[(rid, user)]
        elif room.kind != kind:
            log.warning("room %s is a %s room; %s requested", room_id, room.kind, kind)
        return room

    def _watch(self, room: MediaRoom, leg: PublisherLeg | SubscriberLeg) -> None:
        pc = leg.pc

        @pc.on("connectionstatechange")
        def _on_state() -> None:
            room.leg_connection_state(leg, pc.connectionState, self.clock())

    def _configure_ice(self, pc: Any) -> None:
        adapter.configure_gathering(pc, self.config.host_addresses, self._ports)

    async def _negotiate_answer(self, pc: Any, offer_sdp: str) -> str:
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
            self._configure_ice(pc)
            await pc.setLocalDescription(await pc.createAnswer())
        except adapter.PortsExhausted as exc:
            raise MediaError(str(exc), code="ports_exhausted") from exc
        except OperationError as exc:
            raise MediaError(f"no common codec: {exc}", code="no_supported_codec") from exc
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise MediaError(f"the offer was rejected: {exc}", code="bad_sdp") from exc
        return str(pc.localDescription.sdp)

    # ------------------------------------------------------------------ publishing
    async def publish(self, room_id: str, user_id: str, offer_sdp: str, *, kind: RoomKind) -> str:
        """Answer a publisher's offer. Raises ``MediaError`` (bad_sdp, no_supported_codec,
        room_full, too_many_rooms, ports_exhausted, room_closed)."""
        self._start()
        sections = av_sections(offer_sdp, "publish")
        room = self._room(room_id, kind)
        if user_id not in room.publishers and len(room.publishers) >= self.config.max_publishers_per_room:
            raise MediaError("too many publishers in this room", code="room_full")
        room.negotiating += 1
        try:
            return await self._publish(room, user_id, offer_sdp, sections)
        finally:
            room.negotiating -= 1

    async def _publish(self, room: MediaRoom, user_id: str, offer_sdp: str, sections: list[Any]) -> str:
        room_id = room.id
        pc = new_peer_connection(self.config.server_ice_servers)
        leg = PublisherLeg(room_id, user_id, pc, self.clock())
        for section in sections:
            t = pc.addTransceiver(section.kind, direction="recvonly")
            t.setCodecPreferences(self._prefs[section.kind])
            k: Kind = "audio" if section.kind == "audio" else "video"
            if k not in leg.receivers:
                leg.receivers[k] = t.receiver
                self._hook_publisher(room, leg, k, t.receiver)
            else:
                # A second section of the same kind is not forwarded, but must not decode.
                adapter.hook_receiver(
                    t.receiver,
                    on_rtp=lambda p: None,
                    on_started=lambda info: None,
                    on_sender_report=lambda *a: None,
                    on_bye=lambda: None,
                )
        try:
            answer = await self._negotiate_answer(pc, offer_sdp)
        except MediaError:
            await pc.close()
            raise
        if room.closed or self._closed:
            await pc.close()
            raise MediaError("the room is closed", code="room_closed")
        for t in pc.getTransceivers():
            if t.currentDirection in ("recvonly", "sendrecv") and t.receiver in leg.receivers.values():
                leg.expected.add("audio" if t.kind == "audio" else "video")
        if not leg.expected:
            await pc.close()
            raise MediaError("nothing to receive in the offer", code="bad_sdp")
        self._watch(room, leg)
        room.add_publisher(leg, self.clock())
        return answer

    def _hook_publisher(self, room: MediaRoom, leg: PublisherLeg, kind: Kind, receiver: Any) -> None:
        clock = self.clock
        on_packet = room.on_publisher_rtp

        def on_rtp(packet: Any) -> None:
            on_packet(leg, kind, packet, clock())

        def on_started(info: adapter.ReceiveInfo) -> None:
            room.track_started(leg, kind, info, clock())

        def on_sr(ssrc: int, ntp: int, rtp_ts: int) -> None:
            room.on_sender_report(leg, ssrc, ntp, rtp_ts)

        def on_bye() -> None:
            room.track_ended(leg, kind, clock())

        def on_picture_loss() -> None:
            room.on_picture_loss(leg, kind)

        adapter.hook_receiver(
            receiver,
            on_rtp=on_rtp,
            on_started=on_started,
            on_sender_report=on_sr,
            on_bye=on_bye,
            on_picture_loss=on_picture_loss,
        )

    async def unpublish(self, room_id: str, user_id: str) -> None:
        room = self.rooms.get(room_id)
        if room is None or not room.remove_publisher(user_id, "unpublished", self.clock()):
            raise MediaError(f"{user_id} is not publishing in {room_id}", code="not_publishing")

    # ------------------------------------------------------------------ subscribing
    def _add_slot(self, room: MediaRoom, leg: SubscriberLeg, out: SlotOutput) -> Any:
        pc = leg.pc
        t = pc.addTransceiver(SilentTrack(out.kind), direction="sendonly")
        t.setCodecPreferences(self._prefs[out.kind])
        ssrc, rtx_ssrc = room.slot_ssrc(out.kind, out.index)
        adapter.prepare_sender(t.sender, ssrc=ssrc, rtx_ssrc=rtx_ssrc, stream_id=f"livepark-slot{out.index}")
        adapter.take_over_sender_rtcp(t.sender)
        leg.senders[out] = t.sender
        clock = self.clock

        def on_started(info: adapter.SendInfo) -> None:
            room.output_started(leg, out, info, clock())

        def on_nack(seqs: list[int]) -> None:
            room.on_nack(out, seqs, clock())

        def on_keyframe_request() -> None:
            room.on_keyframe_request(out, clock())

        def on_remb(bitrate: int) -> None:
            leg.remb = bitrate

        adapter.hook_sender(
            t.sender,
            adapter.SenderCallbacks(
                on_started=on_started,
                on_nack=on_nack,
                on_keyframe_request=on_keyframe_request,
                on_remb=on_remb,
            ),
        )
        return t

    def _check_room_capacity(self, room: MediaRoom, user_id: str) -> None:
        if user_id not in room.subscribers and len(room.subscribers) >= self.config.max_subscribers_per_room:
            raise MediaError("too many subscribers in this room", code="room_full")

    async def subscribe(self, room_id: str, user_id: str, *, kind: RoomKind) -> str:
        """Create the subscriber leg and return the SFU's offer; the answer goes to
        :meth:`subscriber_answer` within ``answer_timeout``."""
        self._start()
        room = self._room(room_id, kind)
        self._check_room_capacity(room, user_id)
        if room.audio_slots + room.video_slots == 0:
            raise MediaError("this room forwards no media (0 slots)", code="no_supported_codec")
        room.negotiating += 1
        try:
            return await self._subscribe(room, user_id)
        finally:
            room.negotiating -= 1

    async def _subscribe(self, room: MediaRoom, user_id: str) -> str:
        room_id = room.id
        pc = new_peer_connection(self.config.server_ice_servers)
        leg = SubscriberLeg(
            room_id,
            user_id,
            pc,
            self.clock(),
            audio_slots=room.audio_slots,
            video_slots=room.video_slots,
            client_offered=False,
        )
        transceivers = [(out, self._add_slot(room, leg, out)) for out in leg.outputs]
        try:
            self._configure_ice(pc)
            await pc.setLocalDescription(await pc.createOffer())
        except adapter.PortsExhausted as exc:
            await pc.close()
            raise MediaError(str(exc), code="ports_exhausted") from exc
        if room.closed or self._closed:
            await pc.close()
            raise MediaError("the room is closed", code="room_closed")
        for out, t in transceivers:
            leg.mids[out] = t.mid
        leg.cname = _cname(pc.localDescription.sdp)
        leg.set_state(LegState.OFFERED, self.clock())
        self._timed_out.pop((room_id, user_id), None)
        self._watch(room, leg)
        room.add_subscriber(leg, self.clock())
        return str(pc.localDescription.sdp)

    async def subscriber_answer(self, room_id: str, user_id: str, answer_sdp: str) -> None:
        """Apply the subscriber's answer to the offer from :meth:`subscribe`."""
        room = self.rooms.get(room_id)
        leg = room.subscribers.get(user_id) if room is not None else None
        if leg is None:
            if (room_id, user_id) in self._timed_out:
                raise MediaError("the offer expired; subscribe again", code="answer_timeout")
            raise MediaError(f"{user_id} has no subscription in {room_id}", code="not_subscribed")
        if leg.state != LegState.OFFERED:
            raise MediaError("this subscription is not waiting for an answer", code="wrong_state")
        assert room is not None
        try:
            require_video_codec(parse_sections(answer_sdp), room.video_codecs())
            await leg.pc.setRemoteDescription(RTCSessionDescription(sdp=answer_sdp, type="answer"))
        except MediaError:
            room.remove_subscriber(user_id, self.clock(), failed_reason="bad_answer")
            raise
        except Exception as exc:
            room.remove_subscriber(user_id, self.clock(), failed_reason="bad_answer")
            raise MediaError(f"the answer was rejected: {exc}", code="bad_sdp") from exc
        leg.set_state(LegState.CONNECTING, self.clock())

    async def subscribe_with_offer(
        self, room_id: str, user_id: str, offer_sdp: str, *, kind: RoomKind
    ) -> str:
        """WHEP style: the client offers (its m-lines become the slots), the SFU answers."""
        self._start()
        sections = [s for s in av_sections(offer_sdp, "subscribe")]
        room = self._room(room_id, kind)
        self._check_room_capacity(room, user_id)
        require_video_codec(sections, room.video_codecs())
        room.negotiating += 1
        try:
            return await self._subscribe_with_offer(room, user_id, offer_sdp, sections)
        finally:
            room.negotiating -= 1

    async def _subscribe_with_offer(
        self, room: MediaRoom, user_id: str, offer_sdp: str, sections: list[Any]
    ) -> str:
        room_id = room.id
        pc = new_peer_connection(self.config.server_ice_servers)
        n_audio = sum(1 for s in sections if s.kind == "audio")
        leg = SubscriberLeg(
            room_id,
            user_id,
            pc,
            self.clock(),
            audio_slots=n_audio,
            video_slots=len(sections) - n_audio,
            client_offered=True,
        )
        iters = {"audio": iter(leg.audio), "video": iter(leg.video)}
        transceivers = [
            (out, self._add_slot(room, leg, out)) for out in (next(iters[s.kind]) for s in sections)
        ]
        try:
            answer = await self._negotiate_answer(pc, offer_sdp)
        except MediaError:
            await pc.close()
            raise
        if room.closed or self._closed:
            await pc.close()
            raise MediaError("the room is closed", code="room_closed")
        for out, t in transceivers:
            if t.mid is not None:
                leg.mids[out] = t.mid
        leg.cname = _cname(answer)
        leg.set_state(LegState.CONNECTING, self.clock())
        self._watch(room, leg)
        room.add_subscriber(leg, self.clock())
        return answer

    async def unsubscribe(self, room_id: str, user_id: str) -> None:
        room = self.rooms.get(room_id)
        if room is None or not room.remove_subscriber(user_id, self.clock()):
            raise MediaError(f"{user_id} has no subscription in {room_id}", code="not_subscribed")

    # ------------------------------------------------------------------ room rules
    def set_forwarding(self, room_id: str, user_id: str, *, audio: bool, video: bool) -> None:
        """Whether ``user_id``'s audio/video may be forwarded (seat muted, cleared...).
        Takes effect for the very next packet.  Remembered for a user who publishes later."""
        room = self.rooms.get(room_id)
        if room is None:
            self._early_flags[(room_id, user_id)] = (audio, video)
            self._early_flags.move_to_end((room_id, user_id))
            while len(self._early_flags) > _RECENT_TIMEOUTS * 16:
                self._early_flags.popitem(last=False)
            return
        room.set_forwarding(user_id, audio, video, self.clock())

    async def remove_participant(self, room_id: str, user_id: str) -> None:
        self._early_flags.pop((room_id, user_id), None)
        room = self.rooms.get(room_id)
        if room is None:
            return
        now = self.clock()
        room.remove_publisher(user_id, "removed", now)
        room.remove_subscriber(user_id, now)
        room.flags.pop(user_id, None)

    async def close_room(self, room_id: str) -> None:
        for key in [k for k in self._early_flags if k[0] == room_id]:
            del self._early_flags[key]
        room = self.rooms.pop(room_id, None)
        if room is not None:
            room.close(self.clock())
        await self._drain()

    async def close(self) -> None:
        self._closed = True
        for room_id in list(self.rooms):
            room = self.rooms.pop(room_id)
            room.close(self.clock())
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        await self._drain()

    async def _drain(self) -> None:
        tasks = [t for t in self._tasks if not t.done()]
        if tasks:
            await asyncio.wait(tasks, timeout=5)

    # ------------------------------------------------------------------ introspection
    def leg_id(self, room_id: str, user_id: str, role: str) -> int | None:
        """An opaque id of the user's current leg (None: none) — to tell legs apart."""
        room = self.rooms.get(room_id)
        if room is None:
            return None
        legs: dict[str, Any] = room.publishers if role == "publisher" else room.subscribers
        leg = legs.get(user_id)
        return None if leg is None else id(leg)

    def ice_servers(self) -> list[dict[str, object]]:
        """The browser ``RTCIceServer`` list clients should use."""
        return [s.to_browser() for s in self.config.ice_servers]

    def stats(self) -> dict[str, int]:
        """Counters for Prometheus (monotonic except the gauges rooms/publishers/subscribers)."""
        s = self.forward_stats
        return {
            "rooms": len(self.rooms),
            "publishers": sum(len(r.publishers) for r in self.rooms.values()),
            "subscribers": sum(len(r.subscribers) for r in self.rooms.values()),
            "packets_received": s.packets_in,
            "packets_forwarded": s.packets_forwarded,
            "bytes_forwarded": s.bytes_forwarded,
            "padding_dropped": s.padding_dropped,
            "duplicates_dropped": s.duplicates_dropped,
            "nacks_received": s.nacks_received,
            "nacks_served": s.nacks_served,
            "nacks_missed": s.nacks_missed,
            "plis_sent": self.counters.plis_sent,
            "keyframes_forwarded": s.keyframes_forwarded,
            "send_errors": s.send_errors,
            "send_drops": s.send_drops,
            "fast_forwarded": s.fast_forwarded,
            "oversize_dropped": s.oversize_dropped,
            "legs_failed": self.counters.legs_failed,
        }
