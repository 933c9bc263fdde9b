// livepark.js — a small browser client for the livepark v1 protocol (docs/protocol.md).
// Plain WebSocket + WebRTC, no dependencies. Used by the demo pages (ES module).

const PROTOCOL = "livepark.v1.json";
const RESUMABLE = new Set([1001, 1005, 1006, 1011, 1012, 1013, 4008, 4010]);

export class LiveparkError extends Error {
  constructor(error) {
    super(error.message || error.code);
    this.code = error.code;
    this.retryAfter = error.retry_after;
  }
}

/** One member's WebSocket: requests → promises, events → listeners, room copy, heartbeat, resume. */
export class Client {
  constructor(wsUrl) {
    this.wsUrl = wsUrl;
    this.ws = null;
    this.nextId = 1;
    this.pending = new Map();
    this.listeners = new Map();
    this.room = null;       // exact copy of the room (join snapshot + seq events)
    this.you = null;
    this.lastSeq = 0;
    this.resumeToken = null;
    this.iceServers = [];
    this.heartbeat = null;
    this.closed = false;    // left, kicked, ended: never reconnect
    this.resuming = false;
    this.resumes = 0;
  }

  on(name, fn) {
    if (!this.listeners.has(name)) this.listeners.set(name, []);
    this.listeners.get(name).push(fn);
    return this;
  }

  emit(name, data, msg) {
    for (const fn of this.listeners.get(name) || []) {
      try { fn(data, msg); } catch (e) { console.error(name, e); }
    }
  }

  open() {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.wsUrl, [PROTOCOL]);
      ws.onopen = () => resolve(ws);
      ws.onerror = () => reject(new Error("cannot reach " + this.wsUrl));
      ws.onmessage = (e) => this.onFrame(JSON.parse(e.data));
      ws.onclose = (e) => this.onClose(ws, e);
      this.ws = ws;
    });
  }

  request(type, data = {}) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) {
      return Promise.reject(new LiveparkError({ code: "not_connected", message: "not connected" }));
    }
    const id = this.nextId++;
    this.ws.send(JSON.stringify({ v: 1, id, type, data }));
    return new Promise((resolve, reject) => this.pending.set(id, { resolve, reject }));
  }

  /** Join with an access token; `kind` ("live" | "voice") matters only if this creates the room. */
  async join(token, kind) {
    await this.open();
    this.welcome(await this.request("join", { token, kind }));
    return this;
  }

  welcome(data) {
    this.room = data.room;
    this.you = data.you;
    this.lastSeq = data.last_seq;
    this.resumeToken = data.resume_token;
    this.iceServers = data.ice_servers || [];
    clearInterval(this.heartbeat);
    this.heartbeat = setInterval(() => {
      this.request("ping", { t: Date.now() })
        .then((d) => this.emit("online", d.online)).catch(() => {});
    }, (data.heartbeat_interval || 30) * 1000);
    this.emit("room", this.room);
  }

  async leave() {
    this.closed = true;
    clearInterval(this.heartbeat);
    try { await this.request("leave"); } catch (e) { /* already gone */ }
  }

  onFrame(msg) {
    if (msg.type === "reply") {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.ok) p.resolve(msg.data); else p.reject(new LiveparkError(msg.error));
    } else if (msg.type === "event") {
      if (msg.seq !== undefined) {
        if (msg.seq <= this.lastSeq) return;      // already in our copy
        this.lastSeq = msg.seq;
        this.apply(msg.event, msg.data);
      }
      this.emit(msg.event, msg.data, msg);
      if (msg.seq !== undefined) this.emit("room", this.room);
    } else if (msg.type === "danmaku.batch" || msg.type === "danmaku.history") {
      for (const item of msg.items) {
        if (item.kind === "comment") this.emit("comment", item);
        else this.emit(item.kind, item.data, item);
      }
    } else if (msg.type === "danmaku.stats") {
      this.emit("online", msg.online);
      this.emit("likes", msg.likes);
    } else if (msg.type === "resume.gap_too_old") {
      this.request("room.snapshot").then((d) => {
        this.room = d.room;
        this.lastSeq = Math.max(d.last_seq, msg.latest_seq || 0);
        this.emit("room", this.room);
      }).catch(() => {});
    }
  }

  /** Keep `this.room` exact (docs/protocol.md, "Room events"). */
  apply(name, d) {
    const r = this.room;
    if (!r) return;
    const member = (id) => r.members.find((m) => m.user_id === id);
    switch (name) {
      case "member.joined":
        r.members = r.members.filter((m) => m.user_id !== d.user_id);
        r.members.push({ user_id: d.user_id, name: d.name, role: d.role, hidden: d.hidden, away: false });
        if (d.role === "host") r.host_id = d.user_id;
        break;
      case "member.left":
        r.members = r.members.filter((m) => m.user_id !== d.user_id);
        break;
      case "member.away":
      case "member.back":
        if (member(d.user_id)) member(d.user_id).away = name === "member.away";
        break;
      case "seat.changed":
        r.seats = r.seats.map((s) => (s.seat === d.seat ? { ...d } : s));
        break;
      case "role.changed":
        if (member(d.user_id)) member(d.user_id).role = d.role;
        if (this.you && d.user_id === this.you.user_id) this.you.role = d.role;
        break;
      case "cohosts.changed":
        r.cohosts = d.cohosts;
        break;
      case "room.ended":
        r.state = "ended";
        this.closed = true;
        break;
    }
    if (this.you) {
      const mine = (r.seats || []).find((s) => s.user_id === this.you.user_id);
      this.you.seat = mine ? mine.seat : null;
    }
  }

  onClose(ws, e) {
    if (ws !== this.ws) return;
    this.ws = null;
    for (const p of this.pending.values()) {
      p.reject(new LiveparkError({ code: "not_connected", message: `closed (${e.code})` }));
    }
    this.pending.clear();
    clearInterval(this.heartbeat);
    if (this.resuming) return;            // the resume loop sees the failure itself
    if (!this.closed && this.resumeToken && RESUMABLE.has(e.code)) {
      this.emit("reconnecting", e.code);
      this.resume();
    } else {
      this.closed = true;
      this.emit("closed", e.code);
    }
  }

  /** Reconnect with the single-use resume token and our last seq: the server replays the
   *  room events we missed. Gives up on `resume_failed` or after a few tries (grace is 20 s). */
  async resume() {
    this.resuming = true;
    for (let attempt = 0; attempt < 6 && !this.closed; attempt++) {
      if (attempt) await new Promise((r) => setTimeout(r, Math.min(500 * 2 ** attempt, 4000)));
      try {
        await this.open();
        this.welcome(await this.request("session.resume",
          { resume_token: this.resumeToken, last_seq: this.lastSeq }));
        this.resuming = false;
        this.resumes += 1;
        this.emit("resumed");
        return;
      } catch (err) {
        const ws = this.ws;
        this.ws = null;
        if (ws) ws.close();
        if (err.code === "resume_failed") break;
      }
    }
    this.resuming = false;
    this.closed = true;
    this.emit("closed", "resume_failed");
  }

  sendComment(text) {
    return this.request("danmaku.send", { text, mode: "scroll" });
  }
}

// ---------------------------------------------------------------- WebRTC helpers

/** Resolve once ICE gathering is complete (livepark is non-trickle: SDPs carry all candidates). */
export function gathered(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const check = () => {
      if (pc.iceGatheringState === "complete") {
        pc.removeEventListener("icegatheringstatechange", check);
        resolve();
      }
    };
    pc.addEventListener("icegatheringstatechange", check);
  });
}

/** Publish local tracks: offer → `media.publish` → answer. Returns the peer connection. */
export async function publish(client, stream) {
  const pc = new RTCPeerConnection({ iceServers: client.iceServers });
  for (const track of stream.getTracks()) {
    pc.addTransceiver(track, { direction: "sendonly", streams: [stream] });
  }
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc);
  try {
    const { sdp } = await client.request("media.publish", { sdp: pc.localDescription.sdp });
    await pc.setRemoteDescription({ type: "answer", sdp });
  } catch (err) {
    pc.close();
    throw err;
  }
  return pc;
}

/** Subscribe: `media.subscribe` → SFU offer → our answer via `media.answer`.
 *  `onTrack(mid, kind, track)` is called for every slot; `timing` gets `offer` and `answered`
 *  (performance.now() of the two replies). If the server lost the offer (`not_subscribed`,
 *  `answer_timeout`), subscribe again. Returns the peer connection. */
export async function subscribe(client, onTrack, timing = {}) {
  for (let attempt = 1; ; attempt++) {
    const { sdp } = await client.request("media.subscribe");
    timing.offer = performance.now();
    const pc = new RTCPeerConnection({ iceServers: client.iceServers });
    pc.ontrack = (e) => onTrack(e.transceiver.mid, e.track.kind, e.track);
    try {
      await pc.setRemoteDescription({ type: "offer", sdp });
      await pc.setLocalDescription(await pc.createAnswer());
      await gathered(pc);
      await client.request("media.answer", { sdp: pc.localDescription.sdp });
      timing.answered = performance.now();
      timing.attempts = attempt;
      return pc;
    } catch (err) {
      pc.close();
      if (attempt >= 3 || !["not_subscribed", "answer_timeout"].includes(err.code)) throw err;
      console.warn("subscribing again:", err.message);
    }
  }
}

/** Inbound RTP per kind and per slot mid: {audio:{packetsReceived}, video:{packetsReceived,
 *  framesDecoded}, mids:{mid:{kind, packetsReceived, framesDecoded}}}. */
export async function inboundStats(pc) {
  const out = {
    audio: { packetsReceived: 0, framesDecoded: 0 },
    video: { packetsReceived: 0, framesDecoded: 0 },
    mids: {},
  };
  if (!pc) return out;
  const report = await pc.getStats();
  report.forEach((s) => {
    if (s.type !== "inbound-rtp") return;
    const kind = s.kind || s.mediaType;
    const row = { kind, packetsReceived: s.packetsReceived || 0, framesDecoded: s.framesDecoded || 0,
                  audioLevel: s.audioLevel || 0 };
    out[kind].packetsReceived += row.packetsReceived;
    out[kind].framesDecoded += row.framesDecoded;
    if (s.mid !== undefined) out.mids[s.mid] = row;
  });
  return out;
}

/** Outbound RTP per kind: {audio:{packetsSent}, video:{packetsSent, framesEncoded, frameWidth...}}. */
export async function outboundStats(pc) {
  const out = { audio: { packetsSent: 0, bytesSent: 0 }, video: { packetsSent: 0, bytesSent: 0, framesEncoded: 0 } };
  if (!pc) return out;
  (await pc.getStats()).forEach((s) => {
    if (s.type !== "outbound-rtp") return;
    const o = out[s.kind];
    o.packetsSent += s.packetsSent || 0;
    o.bytesSent += s.bytesSent || 0;
    if (s.kind === "video") {
      o.framesEncoded += s.framesEncoded || 0;
      o.frameWidth = s.frameWidth;
      o.frameHeight = s.frameHeight;
      o.framesPerSecond = s.framesPerSecond;
    }
  });
  return out;
}

// ---------------------------------------------------------------- page helpers

export const params = new URLSearchParams(location.search);

function randomId(prefix) {
  return prefix + "-" + Math.random().toString(36).slice(2, 7);
}

const NAMES = ["Hana", "Mei", "Yuki", "Lin", "Sora", "Mia", "Aiko", "Nora", "Lily", "Rin", "Emi", "Yan"];

/** Who this page is: `?identity=&name=&role=&room=`, else a friendly random member kept for
 *  this tab (sessionStorage), so reloading the page keeps her identity (and her host role). */
export function whoAmI(defaults) {
  const key = "livepark.me:" + location.pathname;
  let saved = {};
  try { saved = JSON.parse(sessionStorage.getItem(key)) || {}; } catch (e) { /* none */ }
  const name = params.get("name") || saved.name || NAMES[Math.floor(Math.random() * NAMES.length)];
  const identity = params.get("identity") || saved.identity || randomId(name.toLowerCase());
  if (!params.get("identity")) sessionStorage.setItem(key, JSON.stringify({ identity, name }));
  return {
    identity,
    name,
    role: params.get("role") || defaults.role,
    room: params.get("room") || defaults.room,
  };
}

/** Why the connection ended, in words. */
export function closedText(code) {
  return {
    4003: "you were removed from the room",
    4004: "the room has ended",
    4011: "you opened this room in another tab",
    resume_failed: "connection lost — reload to rejoin",
  }[code] || `disconnected (${code})`;
}

/** The claims of an access token (a client may read its own token; only the server verifies it). */
export function tokenClaims(token) {
  try {
    const b64 = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(b64));
  } catch (e) {
    return {};
  }
}

/** WebSocket URL and token: `?ws=` and `#token=` win; otherwise /demo/config and /demo/token.
 *  The token is read from the URL fragment, which browsers never send to a server (or its
 *  logs); `livepark token` prints such a link. */
export async function credentials(me) {
  const config = await (await fetch("/demo/config")).json();
  const room = me.room || config.room;
  let wsUrl = params.get("ws") || config.ws_url;
  let token = new URLSearchParams(location.hash.slice(1)).get("token");
  if (!token) {
    const q = new URLSearchParams({ room, identity: me.identity, name: me.name, role: me.role });
    const res = await fetch("/demo/token?" + q);
    const body = await res.json();
    if (!res.ok) throw new LiveparkError(body.error);
    token = body.token;
    wsUrl = params.get("ws") || body.ws_url;
  }
  return { wsUrl, token, room };
}

/** Join, and while the room does not exist yet (its host has not opened it), retry. */
export async function joinWhenOpen(wsUrl, token, kind, onWaiting) {
  for (;;) {
    const client = new Client(wsUrl);
    try {
      return await client.join(token, kind);
    } catch (err) {
      client.closed = true;
      if (client.ws) client.ws.close();
      if (err.code !== "room_not_found") throw err;
      onWaiting();
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
}

export function $(sel) { return document.querySelector(sel); }

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

export function setStatus(text, kind = "") {
  const s = $("#status");
  s.textContent = text;
  s.className = "status " + kind;
}

export function memberName(room, userId) {
  const m = room && room.members.find((x) => x.user_id === userId);
  return m ? m.name : userId;
}

/** Danmaku: a list of comments, bullets flying over `overlay` (if any), and a send box. */
export function setupDanmaku(client, overlay) {
  const list = $("#comments");
  const seen = new Set();
  const comments = [];
  client.on("comment", (c) => {
    if (seen.has(c.id)) return;
    seen.add(c.id);
    comments.push({ id: c.id, user: c.user.id, name: c.user.name, text: c.text });
    list.append(el("li", {}, el("b", {}, c.user.name), " ", c.text));
    while (list.children.length > 60) list.firstChild.remove();
    list.scrollTop = list.scrollHeight;
    if (overlay && Date.now() - c.ts < 5000) {
      const b = el("span", { class: "bullet" }, c.text);
      b.style.top = 8 + Math.floor(Math.random() * 70) + "%";
      b.addEventListener("animationend", () => b.remove());
      overlay.append(b);
    }
  });
  const form = $("#send");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const input = form.querySelector("input");
    const text = input.value.trim();
    if (!text) return;
    try {
      await client.sendComment(text);
      input.value = "";
      $("#send-error").textContent = "";
    } catch (err) {
      $("#send-error").textContent = err.code === "rate_limited"
        ? "Slow down a little — try again in a moment" : err.message;
    }
  });
  return comments;
}

/** Keep the member list rendered. */
export function renderMembers(client) {
  const ul = $("#members");
  const draw = (room) => {
    ul.replaceChildren(...room.members.filter((m) => !m.hidden).map((m) =>
      el("li", { class: m.away ? "away" : "" }, m.name, " ", el("small", {}, m.role))));
    $("#member-count").textContent = String(room.members.length);
  };
  client.on("room", draw);
  draw(client.room);
}
