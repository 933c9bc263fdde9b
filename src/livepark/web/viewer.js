// Viewer page: join a live room, subscribe, attach each slot's track (by mid) to <video>/<audio>.
import * as lp from "/static/livepark.js";

const state = (window.lp = {
  ready: false, error: null, comments: [], slots: {}, timing: {}, me: null,
  stats: async () => {
    const s = await lp.inboundStats(state.pc);
    for (const [mid, row] of Object.entries(s.mids)) row.user = state.slots[mid] || null;
    return s;
  },
});
const tracks = {};   // mid → {kind, track, el}

async function main() {
  const me = (state.me = lp.whoAmI({ role: "viewer" }));
  const { wsUrl, token, room } = await lp.credentials(me);
  lp.$("#room-name").textContent = "room " + room;
  const client = (state.client = await lp.joinWhenOpen(wsUrl, token, "live",
    () => lp.setStatus("the room has not opened yet…", "warn")));
  state.timing.joined = performance.now();
  lp.setStatus("watching", "ok");
  lp.renderMembers(client);
  state.comments = lp.setupDanmaku(client, lp.$("#overlay"));
  client.on("media.slots", (d) => { state.slots = d.slots; render(); });
  client.on("room", render);
  client.on("reconnecting", () => lp.setStatus("reconnecting…", "warn"));
  client.on("resumed", () => lp.setStatus("watching", "ok"));
  client.on("closed", (code) => lp.setStatus(lp.closedText(code), "warn"));
  client.on("media.failed", (d) => fail(new Error("media failed: " + d.reason)));

  state.pc = await lp.subscribe(client, attach, state.timing);
  state.ready = true;
  watchFirstFrame();
  setInterval(showStats, 1000);
}

// One element per slot mid, reused if we ever subscribe again.
function attach(mid, kind, track) {
  let t = tracks[mid];
  if (!t) {
    const media = document.createElement(kind);
    media.autoplay = true;
    media.playsInline = true;
    if (kind === "video") {
      media.muted = true;     // sound comes from the audio slots
      const tile = lp.el("div", { class: "tile", "data-mid": mid }, media, lp.el("span", { class: "label" }));
      tile.hidden = true;
      lp.$("#stage").insertBefore(tile, lp.$("#overlay"));
      t = { kind, media, el: tile };
    } else {
      lp.$("#audios").append(media);
      t = { kind, media, el: media };
    }
    tracks[mid] = t;
  }
  t.media.srcObject = new MediaStream([track]);
  if (kind === "audio") t.media.play().catch(offerUnmute);
  render();
}

// Autoplay with sound may need a tap (browsers' autoplay policy).
function offerUnmute() {
  const b = lp.$("#unmute");
  b.hidden = false;
  b.onclick = () => { document.querySelectorAll("#audios audio").forEach((a) => a.play()); b.hidden = true; };
}

function render() {
  let shown = 0;
  for (const [mid, t] of Object.entries(tracks)) {
    if (t.kind !== "video") continue;
    const user = state.slots[mid];
    t.el.hidden = !user;
    if (user) {
      shown += 1;
      t.el.querySelector(".label").textContent = lp.memberName(state.client && state.client.room, user);
    }
  }
  lp.$("#waiting").hidden = shown > 0;
  lp.$("#stage").classList.toggle("two", shown > 1);
}

async function watchFirstFrame() {
  while (!state.timing.firstFrame) {
    const s = await lp.inboundStats(state.pc);
    if (s.video.framesDecoded > 0) state.timing.firstFrame = performance.now();
    else await new Promise((r) => setTimeout(r, 50));
  }
}

let last = null;
async function showStats() {
  const s = await lp.inboundStats(state.pc);
  const now = performance.now();
  const fps = last ? ((s.video.framesDecoded - last.frames) * 1000) / (now - last.t) : 0;
  last = { t: now, frames: s.video.framesDecoded };
  const first = state.timing.firstFrame
    ? Math.round(state.timing.firstFrame - state.timing.offer) + " ms after subscribing" : "–";
  lp.$("#stats").textContent =
    `video  ${fps.toFixed(1)} fps · ${s.video.framesDecoded} frames\n` +
    `audio  ${s.audio.packetsReceived} packets\n` +
    `first frame ${first}`;
}

function fail(err) {
  state.error = String(err.message || err);
  lp.$("#error").textContent = state.error;
  console.error(err);
}

main().catch(fail);
