"""One room's media state: publishers, subscribers, slot assignment, timers.

The room decides *what* goes where (slots, last-N, keyframe requests, timeouts) on plain
calls with ``now``; aiortc specifics go through :mod:`livepark.media.aiortc_adapter`, and
coroutines (PLIs, closing peer connections) are handed to ``spawn``.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from livepark.media import aiortc_adapter as adapter
from livepark.media.codecs import CodecInfo, is_forwardable
from livepark.media.config import MediaConfig, RoomKind
from livepark.media.events import (
    LegFailed,
    MediaEvent,
    PublisherStarted,
    PublisherStopped,
    SlotsChanged,
    SpeakersChanged,
)
from livepark.media.forwarder import ForwardStats, Kind, OutputParams, SlotOutput, TrackForwarder
from livepark.media.keyframes import KeyframeRequester
from livepark.media.lastn import LastNSelector
from livepark.media.legs import Leg, LegState, PublisherLeg, SubscriberLeg
from livepark.media.rtcp import SenderReport, build_compound, carries_feedback, ntp_from_wall
from livepark.media.rtpheader import ExtensionIds
from livepark.media.speakers import SpeakerDetector

log = logging.getLogger(__name__)

SR_INTERVAL_VIDEO = 1.0
SR_INTERVAL_AUDIO = 5.0
"""Mean interval of a subscriber leg's compound SR (randomised over [0.5, 1.5] x): 1 s while
the leg carries video, 5 s for audio-only legs — libwebrtc's defaults.  The first SR of a leg
goes out 0.5 to 1.5 s after its first slot starts (lip sync needs it early)."""


@dataclass
class Counters:
    plis_sent: int = 0
    publishers_started: int = 0
    legs_failed: int = 0


class MediaRoom:
    def __init__(
        self,
        room_id: str,
        kind: RoomKind,
        config: MediaConfig,
        *,
        emit: Callable[[MediaEvent], None],
        spawn: Callable[[Coroutine[Any, Any, Any]], None],
        stats: ForwardStats,
        counters: Counters,
        rng: random.Random | None = None,
    ) -> None:
        self.id = room_id
        self.rng = rng if rng is not None else random.Random()
        self.kind = kind
        self.config = config
        self.emit = emit
        self.spawn = spawn
        self.stats = stats
        self.counters = counters
        self.publishers: dict[str, PublisherLeg] = {}
        self.subscribers: dict[str, SubscriberLeg] = {}
        self.flags: dict[str, tuple[bool, bool]] = {}
        self.detector = SpeakerDetector(threshold=config.speaker_threshold, interval=config.speaker_interval)
        self.selector = LastNSelector(config.last_n, hold=config.last_n_hold) if kind == "voice" else None
        self._order: dict[str, int] = {}
        self._order_counter = 0
        self._ssrcs: dict[tuple[str, int], tuple[int, int]] = {}
        self.closed = False
        self.negotiating = 0
        """publish()/subscribe() calls awaiting aiortc for this room (keeps it alive)."""

    # ------------------------------------------------------------------ shape
    @property
    def audio_slots(self) -> int:
        return self.config.last_n if self.kind == "voice" else self.config.video_slots

    @property
    def video_slots(self) -> int:
        return 0 if self.kind == "voice" else self.config.video_slots

    @property
    def empty(self) -> bool:
        """No legs and no negotiation in flight: the SFU may forget the room."""
        return not self.publishers and not self.subscribers and not self.negotiating

    def slot_ssrc(self, kind: str, index: int) -> tuple[int, int]:
        """(SSRC, RTX SSRC) of slot ``index`` of ``kind`` — the same on every leg of the room,
        so identical subscribers share serialised packets."""
        key = (kind, index)
        if key not in self._ssrcs:
            used = {s for pair in self._ssrcs.values() for s in pair}
            pair: list[int] = []
            while len(pair) < 2:
                s = self.rng.getrandbits(32)
                if s and s not in used and s not in pair:
                    pair.append(s)
            self._ssrcs[key] = (pair[0], pair[1])
        return self._ssrcs[key]

    # ------------------------------------------------------------------ publishers
    def add_publisher(self, leg: PublisherLeg, now: float) -> None:
        old = self.publishers.get(leg.user_id)
        if old is not None:
            self.remove_publisher(leg.user_id, "replaced", now)
        self.publishers[leg.user_id] = leg
        self._order_counter += 1
        self._order[leg.user_id] = self._order_counter

    def track_started(self, leg: PublisherLeg, kind: Kind, info: adapter.ReceiveInfo, now: float) -> None:
        if leg.closing or self.publishers.get(leg.user_id) is not leg:
            return
        codecs: dict[int, CodecInfo] = {}
        for pt, mime, rate, apt in info.codecs:
            if is_forwardable(kind, mime) or mime.endswith("/rtx"):
                rtx_apt = apt if mime.endswith("/rtx") else None
                codecs[pt] = CodecInfo(pt, mime, rate, rtx_apt, info.profiles.get(pt))
        track = TrackForwarder(
            leg.user_id,
            kind,
            codecs,
            stats=self.stats,
            cache_size=self.config.nack_cache,
            keyframes=KeyframeRequester(self.config.keyframe_interval, self.config.keyframe_retry),
            rtx_ssrcs=info.rtx_ssrcs,
            on_sink_error=self._sink_error,
            fanout=adapter.FAST_FANOUT if self.config.fast_send else None,
        )
        leg.tracks[kind] = track
        leg.started.add(kind)
        if not leg.announced and leg.started >= leg.expected:
            leg.announced = True
            self.counters.publishers_started += 1
            self.emit(PublisherStarted(self.id, leg.user_id, tuple(sorted(leg.started))))
        self._refresh_membership(now)
        self.reassign_all(now)

    def on_publisher_rtp(self, leg: PublisherLeg, kind: Kind, packet: Any, now: float) -> None:
        track = leg.tracks.get(kind)
        if track is None:
            return
        level = packet.extensions.audio_level
        track.on_rtp(
            packet.ssrc,
            packet.payload_type,
            packet.sequence_number,
            packet.timestamp,
            packet.marker,
            packet.payload,
            level,
            now,
        )
        if level is not None:
            self.detector.add(leg.user_id, level[1], now)

    def on_picture_loss(self, leg: PublisherLeg, kind: Kind) -> None:
        """aiortc's jitter buffer saw unrecoverable loss on a publisher's track: wish for a
        keyframe if anyone watches it (the throttled poll of the next tick sends the PLI)."""
        track = leg.tracks.get(kind)
        if track is not None and track.kind == "video" and track.outputs:
            track.keyframes.wish()

    def video_codecs(self) -> set[str]:
        """The video codec (lower-case mime) each current publisher sends: the first one it
        negotiated, as WebRTC senders use the first codec of the answer."""
        sending: set[str] = set()
        for leg in self.publishers.values():
            track = leg.tracks.get("video")
            if track is not None and not leg.closing:
                first = next((c.mime for c in track.codecs.values() if not c.is_rtx), None)
                if first is not None:
                    sending.add(first)
        return sending

    def track_ended(self, leg: PublisherLeg, kind: Kind, now: float) -> None:
        """The publisher said RTCP BYE for one track: stop forwarding it; the last one
        ends the publication (reason ``bye``)."""
        if leg.closing or self.publishers.get(leg.user_id) is not leg:
            return
        track = leg.tracks.pop(kind, None)
        if track is not None:
            for out in list(track.outputs):
                track.detach(out)
        if not leg.tracks:
            self.remove_publisher(leg.user_id, "bye", now)
            return
        if kind == "audio":
            self.detector.remove(leg.user_id)
        self._refresh_membership(now)
        self.reassign_all(now)

    def on_sender_report(self, leg: PublisherLeg, ssrc: int, ntp: int, rtp_ts: int) -> None:
        for track in leg.tracks.values():
            if track.media_ssrc == ssrc:
                track.sender_report = (ntp, rtp_ts)

    def remove_publisher(self, user_id: str, reason: str, now: float, *, failed: bool = False) -> bool:
        leg = self.publishers.pop(user_id, None)
        if leg is None:
            return False
        leg.closing = True
        for track in leg.tracks.values():
            for out in list(track.outputs):
                track.detach(out)
        self.detector.remove(user_id)
        if self.selector is not None:
            self.selector.remove(user_id)
        self._order.pop(user_id, None)
        self.spawn(leg.close())
        self.emit(PublisherStopped(self.id, user_id, reason))
        if failed:
            self.counters.legs_failed += 1
            self.emit(LegFailed(self.id, user_id, "publisher", reason))
        if not self.closed:
            self.reassign_all(now)
        return True

    # ------------------------------------------------------------------ forwarding rules
    def set_forwarding(self, user_id: str, audio: bool, video: bool, now: float) -> None:
        self.flags[user_id] = (audio, video)
        self._refresh_membership(now)
        self.reassign_all(now)

    def _eligible(self, user_id: str, kind: Kind) -> bool:
        leg = self.publishers.get(user_id)
        if leg is None or kind not in leg.tracks:
            return False
        audio, video = self.flags.get(user_id, (True, True))
        return audio if kind == "audio" else video

    def _refresh_membership(self, now: float) -> None:
        if self.selector is None:
            return
        for user in list(self.publishers):
            if self._eligible(user, "audio"):
                self.selector.add(user, now)
            else:
                self.selector.remove(user)

    def _desired(self, sub: SubscriberLeg) -> list[str]:
        if self.selector is not None:
            return self.selector.select_for(sub.user_id)
        users = sorted(self.publishers, key=lambda u: self._order.get(u, 0))
        return [
            u
            for u in users
            if u != sub.user_id and (self._eligible(u, "audio") or self._eligible(u, "video"))
        ]

    def reassign_all(self, now: float) -> None:
        for sub in list(self.subscribers.values()):
            self.reassign(sub, now)

    def reassign(self, sub: SubscriberLeg, now: float) -> None:
        if sub.closing:
            return
        sub.allocator.assign(self._desired(sub))
        touched: set[TrackForwarder] = set()
        for i, user in enumerate(sub.allocator.slots):
            for outs in (sub.audio, sub.video):
                if i >= len(outs):
                    continue
                out = outs[i]
                target = None
                if user is not None and self._eligible(user, out.kind):
                    target = self.publishers[user].tracks[out.kind]
                if out.track is target:
                    continue
                if out.track is not None:
                    out.track.detach(out)
                if target is not None:
                    target.attach(out, now)
                    touched.add(target)
        for track in touched:
            self._poll_keyframe(track, now)
        self._emit_slots(sub)

    def _emit_slots(self, sub: SubscriberLeg) -> None:
        mapping = sub.slot_map()
        if mapping and mapping != sub.last_slots:
            sub.last_slots = mapping
            self.emit(SlotsChanged(self.id, sub.user_id, dict(mapping)))

    # ------------------------------------------------------------------ keyframes
    def _poll_keyframe(self, track: TrackForwarder, now: float) -> None:
        if track.want_keyframe(now):
            self._send_pli(track)

    def _send_pli(self, track: TrackForwarder) -> None:
        leg = self.publishers.get(track.owner)
        if leg is None or track.media_ssrc is None or leg.closing:
            return
        receiver = leg.receivers.get(track.kind)
        if receiver is None:
            return
        self.counters.plis_sent += 1
        self.spawn(adapter.send_pli(receiver, track.media_ssrc))

    # ------------------------------------------------------------------ subscribers
    def add_subscriber(self, leg: SubscriberLeg, now: float) -> None:
        old = self.subscribers.get(leg.user_id)
        if old is not None:
            self.remove_subscriber(leg.user_id, now)
        self.subscribers[leg.user_id] = leg
        self.reassign(leg, now)

    def output_started(self, sub: SubscriberLeg, out: SlotOutput, info: adapter.SendInfo, now: float) -> None:
        """The subscriber's transport for ``out`` is up (aiortc started its sender)."""
        if sub.closing:
            return
        sender = sub.senders[out]
        pts: dict[str, int] = {}
        rtx: dict[int, int] = {}
        h264: dict[str, int] = {}
        for pt, mime, _rate, apt in info.codecs:
            if mime.endswith("/rtx"):
                if apt is not None:
                    rtx[apt] = pt
            elif is_forwardable(out.kind, mime):
                pts.setdefault(mime, pt)
                if pt in info.profiles:
                    h264.setdefault(info.profiles[pt], pt)
        ssrc, rtx_ssrc = self.slot_ssrc(out.kind, out.index)
        out.params = OutputParams(
            mid=info.mid,
            ssrc=ssrc,
            rtx_ssrc=rtx_ssrc,
            payload_types=pts,
            rtx_payload_types=rtx,
            ext=ExtensionIds.from_uris(info.extensions),
            h264_payload_types=h264,
        )
        adapter.drop_report_only_rtcp(sender.transport, carries_feedback)
        out.sink = adapter.send_path(sender.transport)
        out.fast = adapter.fast_sink(sender.transport) if self.config.fast_send and out.sink else None
        if sub.rtcp_path is None:
            sub.rtcp_path = adapter.send_path(sender.transport, rtcp=True)
            sub.next_sr = now + SR_INTERVAL_VIDEO * (0.5 + self.rng.random())
        if out.sink is None:
            log.warning("room %s: no send path for %s slot %s", self.id, sub.user_id, info.mid)
            return
        if info.mid is not None:
            sub.mids[out] = info.mid
        if out.track is not None:
            out.track.output_ready(out, now)
            self._poll_keyframe(out.track, now)

    def on_nack(self, out: SlotOutput, seqs: list[int], now: float) -> None:
        track = out.track
        if track is not None:
            track.retransmit(out, seqs, now)
        else:
            self.stats.nacks_received += len(seqs)
            self.stats.nacks_missed += len(seqs)

    def on_keyframe_request(self, out: SlotOutput, now: float) -> None:
        track = out.track
        if track is not None and track.request_keyframe(now):
            self._send_pli(track)

    def remove_subscriber(self, user_id: str, now: float, *, failed_reason: str | None = None) -> bool:
        leg = self.subscribers.pop(user_id, None)
        if leg is None:
            return False
        leg.closing = True
        for out in leg.outputs:
            if out.track is not None:
                out.track.detach(out)
        self.spawn(leg.close())
        if failed_reason is not None:
            self.counters.legs_failed += 1
            self.emit(LegFailed(self.id, user_id, "subscriber", failed_reason))
        return True

    def _sink_error(self, out: SlotOutput, exc: BaseException) -> None:
        # Called from inside the fan-out loop: act later, never mutate the groups now.
        log.info("room %s: sending to %s failed (%s); dropping the leg", self.id, out.owner, exc)
        leg = self.subscribers.get(out.owner)
        if leg is not None and out in leg.senders and not leg.closing:
            leg.closing = True
            self.spawn(self._drop_failed_subscriber(leg))

    async def _drop_failed_subscriber(self, leg: SubscriberLeg) -> None:
        if self.subscribers.get(leg.user_id) is leg:
            leg.closing = False
            self.remove_subscriber(leg.user_id, leg.state_since, failed_reason="send_failed")

    # ------------------------------------------------------------------ connection state
    def leg_connection_state(self, leg: Leg, state: str, now: float) -> None:
        if leg.closing:
            return
        if state == "connected":
            leg.set_state(LegState.CONNECTED, now)
        elif state in ("failed", "closed"):
            reason = "connection_failed" if state == "failed" else "connection_closed"
            if isinstance(leg, PublisherLeg):
                if self.publishers.get(leg.user_id) is leg:
                    self.remove_publisher(leg.user_id, reason, now, failed=state == "failed")
            elif self.subscribers.get(leg.user_id) is leg:
                self.remove_subscriber(leg.user_id, now, failed_reason=reason)

    # ------------------------------------------------------------------ timers
    def tick(self, now: float) -> None:
        cfg = self.config
        for user, pleg in list(self.publishers.items()):
            if pleg.state == LegState.CONNECTED:
                last = pleg.last_packet_time
                since = last if last is not None else pleg.state_since
                if now - since > cfg.publisher_timeout:
                    self.remove_publisher(user, "rtp_timeout", now, failed=True)
                    continue
            elif pleg.state == LegState.CONNECTING and now - pleg.state_since > cfg.connect_timeout:
                self.remove_publisher(user, "connect_timeout", now, failed=True)
                continue
            for track in pleg.tracks.values():
                self._poll_keyframe(track, now)
        for user, sleg in list(self.subscribers.items()):
            if sleg.state == LegState.OFFERED and now - sleg.state_since > cfg.answer_timeout:
                self.remove_subscriber(user, now, failed_reason="answer_timeout")
            elif sleg.state == LegState.CONNECTING and now - sleg.state_since > cfg.connect_timeout:
                self.remove_subscriber(user, now, failed_reason="connect_timeout")
        levels = self.detector.poll(now)
        if levels is not None:
            self.emit(SpeakersChanged(self.id, levels))
        if self.selector is not None and self.selector.update([u for u, _ in self.detector.active(now)], now):
            self.reassign_all(now)
        self._send_sender_reports(now)

    def _send_sender_reports(self, now: float) -> None:
        wall = None
        for sub in self.subscribers.values():
            if sub.closing or sub.rtcp_path is None or now < sub.next_sr:
                continue
            if wall is None:
                wall = time.time()
            reports = []
            video = False
            for out in sub.outputs:
                if out.params is None:
                    continue
                packets, octets = out.counters()
                if not packets:
                    continue
                track, g = out.track, out.group
                if g is not None and track is not None and track.sender_report is not None:
                    ntp, rtp_ts = track.sender_report
                    rtp_ts = (rtp_ts + g.ts_off) & 0xFFFFFFFF
                else:
                    pair = out.report_pair()
                    if pair is None:
                        continue
                    rtp_ts, sent_at = pair
                    ntp = ntp_from_wall(wall - (now - sent_at))
                reports.append(SenderReport(out.params.ssrc, ntp, rtp_ts, packets, octets))
                video = video or (out.kind == "video" and g is not None)
            interval = SR_INTERVAL_VIDEO if video else SR_INTERVAL_AUDIO
            sub.next_sr = now + interval * (0.5 + self.rng.random())
            if not reports:
                continue
            protect, sendto, addr = sub.rtcp_path
            try:
                sendto(protect(build_compound(reports, sub.cname)), addr)
            except BlockingIOError:
                pass
            except Exception as exc:
                log.info("room %s: RTCP to %s failed: %s", self.id, sub.user_id, exc)

    # ------------------------------------------------------------------ closing
    def close(self, now: float) -> None:
        self.closed = True
        for user in list(self.publishers):
            self.remove_publisher(user, "room_closed", now)
        for user in list(self.subscribers):
            self.remove_subscriber(user, now)
