// Voice room: seats (take / leave, host mutes), mic published while seated, listen to the
// last-N speakers, highlight who is speaking from the `speakers` items.
import * as lp from "/static/livepark.js";

const state = (window.lp = {
  ready: false, error: null, comments: [], slots: {}, speaking: [], speakersSeen: [], me: null,
  publishing: false, seats: [],
  stats: async () => {
    const s = await lp.inboundStats(state.sub);
    for (const [mid, row] of Object.entries(s.mids)) row.user = state.slots[mid] || null;
    s.outbound = await lp.outboundStats(state.pub);
    return s;
  },
});
let client;

async function main() {
  const me = (state.me = lp.whoAmI({ role: "speaker" }));
  const { wsUrl, token, room } = await lp.credentials(me);
  state.grants = lp.tokenClaims(token).grants || {};
  lp.$("#room-name").textContent = "room " + room;
  client = state.client = await lp.joinWhenOpen(wsUrl, token, "voice",
    () => lp.setStatus("waiting for the host to open the room…", "warn"));
  lp.renderMembers(client);
  state.comments = lp.setupDanmaku(client, null);
  client.on("room", () => { renderSeats(); syncMic(); });
  client.on("speakers", (d) => {
    state.speaking = d.levels.map(([user]) => user);
    for (const u of state.speaking) if (!state.speakersSeen.includes(u)) state.speakersSeen.push(u);
    renderSpeaking();
  });
  client.on("media.slots", (d) => { state.slots = d.slots; });
  client.on("seat.invited", async (d) => {
    if (confirm(`You are invited to seat ${d.seat}. Take it?`)) await act("seat.accept");
    else await act("seat.decline");
  });
  client.on("reconnecting", () => lp.setStatus("reconnecting…", "warn"));
  client.on("resumed", renderSeats);
  client.on("closed", (code) => lp.setStatus(lp.closedText(code), "warn"));
  client.on("media.failed", (d) => fail(new Error("media failed (" + d.role + "): " + d.reason)));

  lp.$("#leave-seat").onclick = () => act("seat.leave");
  lp.$("#self-mute").onclick = () => {
    const seat = mySeat();
    if (seat) act("seat.self_mute", { muted: !seat.self_muted });
  };
  lp.$("#host-mic").onclick = () => (state.pub ? stopMic() : startMic());
  renderSeats();
  syncMic();
  state.sub = await lp.subscribe(client, attach);
  state.ready = true;
  setInterval(showStats, 1000);
}

const isStaff = () => ["host", "admin"].includes(client.you.role);
const mySeat = () => client.room.seats.find((s) => s.user_id === client.you.user_id) || null;

async function act(type, data = {}) {
  try {
    await client.request(type, data);
    lp.$("#error").textContent = "";
  } catch (err) {
    fail(err);
  }
}

function renderSeats() {
  const mine = mySeat();
  state.seats = client.room.seats;
  lp.$("#seats").replaceChildren(...client.room.seats.map((s) => {
    const name = s.user_id ? lp.memberName(client.room, s.user_id) : "";
    const classes = ["seat"];
    if (!s.user_id) classes.push("free");
    if (s.locked) classes.push("locked");
    const flags = [s.locked ? "🔒 locked" : "", s.muted_by_host ? "🔇 muted by host" : "",
                   s.self_muted ? "🤫 muted" : ""].filter(Boolean).join(" ");
    const tile = lp.el("div", { class: classes.join(" "), "data-seat": s.seat, "data-user": s.user_id || "" },
      lp.el("div", { class: "avatar" }, s.user_id ? name.slice(0, 1).toUpperCase() : String(s.seat)),
      lp.el("div", { class: "who" }, name || "free"),
      lp.el("div", { class: "flags" }, flags));
    if (!s.user_id && !s.locked && !mine && client.you.role !== "host" && state.grants.can_publish) {
      tile.append(lp.el("button", { onclick: () => act("seat.take", { seat: s.seat }) }, "Take seat"));
    }
    if (s.user_id && isStaff() && s.user_id !== client.you.user_id) {
      tile.append(lp.el("button", { class: "secondary",
        onclick: () => act("seat.mute", { seat: s.seat, muted: !s.muted_by_host }) },
        s.muted_by_host ? "Unmute" : "Mute"));
    }
    return tile;
  }));
  lp.$("#leave-seat").hidden = !mine;
  lp.$("#self-mute").hidden = !mine;
  if (mine) lp.$("#self-mute").textContent = mine.self_muted ? "Unmute myself" : "Mute myself";
  lp.$("#host-mic").hidden = client.you.role !== "host";
  lp.$("#host-mic").textContent = state.pub ? "Host mic off" : "Host mic on";
  lp.$("#mic-state").textContent = !state.pub ? ""
    : mine && mine.muted_by_host ? "🔇 the host muted your mic"
    : mine && mine.self_muted ? "🤫 you are muted" : "🎙️ your mic is on";
  if (client.ws && !client.resuming && !client.closed) {
    lp.setStatus(`${client.you.role}${mine ? " · seat " + mine.seat : ""}`, "ok");
  }
  renderSpeaking();
  // A muted seat sends nothing: the server stops forwarding it anyway; stop capturing too.
  if (state.mic) state.mic.getAudioTracks().forEach((t) => (t.enabled = !(mine && (mine.self_muted || mine.muted_by_host))));
}

// Who is speaking, from the latest `speakers` item; a muted seat is never shown speaking.
function renderSpeaking() {
  for (const tile of document.querySelectorAll(".seat")) {
    const seat = client.room.seats.find((s) => String(s.seat) === tile.dataset.seat);
    const muted = seat && (seat.muted_by_host || seat.self_muted);
    tile.classList.toggle("speaking", !!seat && !!seat.user_id && !muted && state.speaking.includes(seat.user_id));
  }
}

// The mic is published while seated (or on the host's request) and stopped when the seat is gone.
let micBusy = false;
async function syncMic() {
  if (client.you.role === "host" || micBusy) return;
  const seated = mySeat() !== null;
  if (seated && !state.pub) await startMic();
  else if (!seated && state.pub) await stopMic();
}

async function startMic() {
  if (micBusy) return;
  micBusy = true;
  try {
    state.mic = await navigator.mediaDevices.getUserMedia({ audio: true });
    state.pub = await lp.publish(client, state.mic);
    state.publishing = true;
  } catch (err) {
    if (state.mic) state.mic.getTracks().forEach((t) => t.stop());
    fail(err);
  } finally {
    micBusy = false;
    renderSeats();
  }
  if (state.pub && client.you.role !== "host" && !mySeat()) await stopMic();   // left meanwhile
}

async function stopMic() {
  if (client.room.state !== "ended") {
    try { await client.request("media.unpublish"); } catch (e) { /* not publishing any more */ }
  }
  if (state.pub) state.pub.close();
  if (state.mic) state.mic.getTracks().forEach((t) => t.stop());
  state.pub = state.mic = null;
  state.publishing = false;
  renderSeats();
}

// One <audio> per slot mid, reused if we ever subscribe again.
function attach(mid, kind, track) {
  let audio = document.querySelector(`#audios audio[data-mid="${mid}"]`);
  if (!audio) {
    audio = lp.el("audio", { "data-mid": mid });
    audio.autoplay = true;
    lp.$("#audios").append(audio);
  }
  audio.srcObject = new MediaStream([track]);
  audio.play().catch(() => {
    const b = lp.$("#unmute");
    b.hidden = false;
    b.onclick = () => { document.querySelectorAll("#audios audio").forEach((a) => a.play()); b.hidden = true; };
  });
}

async function showStats() {
  const s = await state.stats();
  const heard = Object.values(s.mids).filter((r) => r.user)
    .map((r) => `${lp.memberName(client.room, r.user)} ${r.packetsReceived}`).join(", ");
  lp.$("#stats").textContent =
    `hearing ${heard || "nobody yet"}\n` +
    `audio in ${s.audio.packetsReceived} packets\n` +
    (state.pub ? `mic out ${s.outbound.audio.packetsSent} packets` : "mic off");
}

function fail(err) {
  state.error = String(err.message || err);
  lp.$("#error").textContent = state.error;
  console.error(err);
}

main().catch(fail);
