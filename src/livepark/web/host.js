// Host page: join a live room as its host, publish camera + mic, show preview, members, danmaku, stats.
import * as lp from "/static/livepark.js";

const state = (window.lp = {
  ready: false, live: false, error: null, comments: [], me: null,
  stats: async () => lp.outboundStats(state.pc),
});

async function main() {
  const me = (state.me = lp.whoAmI({ role: "host" }));
  const { wsUrl, token, room } = await lp.credentials(me);
  lp.$("#room-name").textContent = "room " + room;
  const client = (state.client = await new lp.Client(wsUrl).join(token, "live"));
  lp.setStatus("joined as " + client.you.role, "ok");
  lp.renderMembers(client);
  state.comments = lp.setupDanmaku(client, lp.$("#overlay"));
  client.on("reconnecting", () => lp.setStatus("reconnecting…", "warn"));
  client.on("resumed", () => lp.setStatus(state.live ? "● LIVE" : "joined as " + client.you.role, state.live ? "live" : "ok"));
  client.on("closed", (code) => lp.setStatus(lp.closedText(code), "warn"));
  client.on("media.failed", (d) => fail(new Error("media failed: " + d.reason)));

  const goLive = lp.$("#go-live"), stop = lp.$("#stop-live");
  state.ready = true;
  setInterval(showStats, 1000);
  if (client.you.role !== "host") {
    const host = lp.memberName(client.room, client.room.host_id);
    fail(new Error(`${host} is already the host of this room; open another room with ?room=…`));
    return;
  }
  goLive.disabled = false;
  goLive.onclick = async () => {
    goLive.disabled = true;
    try {
      state.stream = await navigator.mediaDevices.getUserMedia({
        audio: true, video: { width: 640, height: 480, frameRate: 20 },
      });
      lp.$("#preview").srcObject = state.stream;
      state.pc = await lp.publish(client, state.stream);
      state.pc.onconnectionstatechange = () => {
        const s = state.pc && state.pc.connectionState;
        state.live = s === "connected";
        if (s === "connected") lp.setStatus("● LIVE", "live");
        else if (s === "failed") fail(new Error("the media connection failed"));
      };
      stop.disabled = false;
    } catch (err) {
      goLive.disabled = false;
      fail(err);
    }
  };
  stop.onclick = async () => {
    stop.disabled = true;
    try { await client.request("media.unpublish"); } catch (e) { /* already stopped */ }
    if (state.pc) state.pc.close();
    state.pc = null;
    state.live = false;
    for (const t of state.stream.getTracks()) t.stop();
    lp.$("#preview").srcObject = null;
    lp.setStatus("joined as host", "ok");
    goLive.disabled = false;
  };
}

let last = null;
async function showStats() {
  if (!state.pc) { lp.$("#stats").textContent = "not live"; last = null; return; }
  const s = await state.stats();
  const now = performance.now();
  const kbps = last ? Math.round(((s.video.bytesSent + s.audio.bytesSent - last.bytes) * 8) / (now - last.t)) : 0;
  last = { t: now, bytes: s.video.bytesSent + s.audio.bytesSent };
  const online = state.client.room.members.length;
  lp.$("#stats").textContent =
    `video  ${s.video.frameWidth || "-"}×${s.video.frameHeight || "-"} @ ${s.video.framesPerSecond || 0} fps\n` +
    `frames ${s.video.framesEncoded}   sending ${kbps} kbit/s\n` +
    `packets video ${s.video.packetsSent} · audio ${s.audio.packetsSent}\n` +
    `in the room ${online}`;
}

function fail(err) {
  state.error = String(err.message || err);
  lp.$("#error").textContent = state.error;
  console.error(err);
}

main().catch((err) => { fail(err); lp.setStatus("error", "warn"); });
