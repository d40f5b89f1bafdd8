// affectlens page: photo → /v1/analyze, media → /v1/jobs (+ events), webcam → WS /v1/live.
"use strict";
const $ = (id) => document.getElementById(id);
const state = { ws: null, timer: null, stream: null, faces: [], answered: 0, since: 0 };

const keyInput = $("key");
keyInput.value = new URLSearchParams(location.search).get("api_key") || localStorage.getItem("affectlens-key") || "";
keyInput.addEventListener("change", () => localStorage.setItem("affectlens-key", keyInput.value));
const headers = () => (keyInput.value ? { "X-API-Key": keyInput.value } : {});
const withKey = (url) => (keyInput.value ? url + (url.includes("?") ? "&" : "?") + "api_key=" + encodeURIComponent(keyInput.value) : url);

$("api-doc").href = withKey("/openapi.json");

function say(text, error) { const s = $("status"); s.textContent = text; s.className = error ? "error" : ""; }
function show(id) { for (const s of ["photo", "job", "live"]) $(s).hidden = s !== id; }
async function errorText(r) {
  try { const b = await r.json(); return b.error ? b.error.message : r.statusText; } catch (e) { return r.statusText; }
}
function cell(row, text, cls) { const td = row.insertCell(); td.textContent = text; if (cls) td.className = cls; return td; }
function table(el, cols, rows) {
  el.innerHTML = "";
  const head = el.createTHead().insertRow();
  for (const c of cols) { const th = document.createElement("th"); th.textContent = c[0]; head.appendChild(th); }
  const body = el.createTBody();
  for (const r of rows) { const tr = body.insertRow(); for (const c of cols) cell(tr, c[1](r), c[2]); }
}
const pct = (p) => (p == null ? "" : (100 * p).toFixed(0) + " %");
const num = (v) => (v == null ? "" : (v >= 0 ? "+" : "") + Number(v).toFixed(2));

// -- input ------------------------------------------------------------------------------------
const drop = $("drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); if (e.dataTransfer.files[0]) handle(e.dataTransfer.files[0]); });
$("file").addEventListener("change", (e) => { if (e.target.files[0]) handle(e.target.files[0]); e.target.value = ""; });

function handle(file) {
  stopWebcam();
  if (file.type.startsWith("image/")) analyzePhoto(file); else submitJob(file);
}

// -- photo ------------------------------------------------------------------------------------
async function analyzePhoto(file) {
  say("Analysing " + file.name + " …");
  const form = new FormData();
  form.append("file", file, file.name);
  const r = await fetch("/v1/analyze", { method: "POST", body: form, headers: headers() });
  if (!r.ok) { say(await errorText(r), true); return; }
  const { records } = await r.json();
  const img = await createImageBitmap(file, { imageOrientation: "from-image" });
  const canvas = $("photo-canvas");
  canvas.width = img.width; canvas.height = img.height;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(img, 0, 0);
  const scale = Math.max(1, img.width / 900);
  records.forEach((rec, i) => drawFace(ctx, rec.box, `${i + 1} ${rec.expression} ${pct(rec.confidence)}`, scale, rec.uncertain));
  if (records.length <= 3) records.forEach((rec) => drawWhy(ctx, rec, scale));  // more: in the table only
  canvas.dataset.boxes = String(records.length);
  table($("photo-table"), [["#", (r) => r.face + 1], ["expression", (r) => r.expression], ["confidence", (r) => pct(r.confidence)],
    ["valence", (r) => num(r.valence)], ["arousal", (r) => num(r.arousal)],
    ["note", (r) => (r.uncertain ? "uncertain: " + r.uncertain_reason : "")], ["why", (r) => r.rationale || "", "why"]], records);
  show("photo");
  say(`${records.length} face(s) in ${file.name}. Perceived expressions, not feelings.`);
}

function drawFace(ctx, box, label, scale, uncertain) {
  const [x, y, w, h] = box;
  ctx.lineWidth = 2 * scale;
  ctx.strokeStyle = uncertain ? "#ff7a00" : "#ffcc00";
  ctx.setLineDash(uncertain ? [6 * scale, 4 * scale] : []);
  ctx.strokeRect(x, y, w, h);
  ctx.setLineDash([]);
  ctx.font = `${Math.round(13 * scale)}px system-ui, sans-serif`;
  const tw = ctx.measureText(label).width + 6 * scale, th = 17 * scale;
  const ty = y > th ? y - th : y + h;
  ctx.fillStyle = "rgba(0,0,0,.7)";
  ctx.fillRect(x, ty, tw, th);
  ctx.fillStyle = "#fff";
  ctx.fillText(label, x + 3 * scale, ty + 13 * scale);
}

function drawWhy(ctx, rec, scale) {
  const text = (rec.uncertain ? "uncertain: " + rec.uncertain_reason + ". " : "") + (rec.rationale ? "why: " + rec.rationale : "");
  if (!text) return;
  const [x, y, w, h] = rec.box;
  ctx.font = `${Math.round(12 * scale)}px system-ui, sans-serif`;
  const lines = [], words = text.split(" "), width = Math.max(w * 1.6, 220 * scale);
  let line = "";
  for (const word of words) {
    if (ctx.measureText(line + " " + word).width > width && line) { lines.push(line); line = word; } else line = line ? line + " " + word : word;
  }
  lines.push(line);
  const lh = 15 * scale, top = Math.min(y + h + 2 * scale, ctx.canvas.height - lines.length * lh);
  ctx.fillStyle = "rgba(0,0,0,.65)";
  ctx.fillRect(x, top, width + 6 * scale, lines.length * lh + 4 * scale);
  ctx.fillStyle = "#fff";
  lines.forEach((l, i) => ctx.fillText(l, x + 3 * scale, top + (i + 1) * lh - 2 * scale));
}

// -- jobs -------------------------------------------------------------------------------------
async function submitJob(file) {
  say("Uploading " + file.name + " …");
  const form = new FormData();
  form.append("file", file, file.name);
  const r = await fetch("/v1/jobs", { method: "POST", body: form, headers: headers() });
  if (!r.ok) { say(await errorText(r), true); return; }
  const job = await r.json();
  show("job");
  $("job-title").textContent = job.name;
  $("job-results").hidden = true;
  progress(job);
  const events = new EventSource(withKey(`/v1/jobs/${job.id}/events`));
  events.addEventListener("progress", (e) => {
    const j = JSON.parse(e.data);
    progress(j);
    if (["done", "failed", "cancelled"].includes(j.state)) { events.close(); if (j.state === "done") results(j); }
  });
  events.onerror = () => { events.close(); };
}

function progress(j) {
  const p = j.progress;
  const frac = j.state === "done" ? 1 : p.fraction || 0;
  $("bar-fill").style.width = (100 * frac).toFixed(1) + "%";
  $("bar-fill").dataset.percent = (100 * frac).toFixed(0);
  const rate = p.per_second ? ` · ${p.per_second.toFixed(1)} ${p.unit}s/s` : "";
  const eta = p.eta_s != null ? ` · about ${Math.ceil(p.eta_s)} s left` : "";
  $("job-progress").textContent = `${j.state} · ${p.done}${p.total ? " / " + p.total : ""} ${p.unit}s · ${(100 * frac).toFixed(0)} %${rate}${eta}`;
  if (j.state === "failed") say(j.error, true); else say(j.state === "done" ? "Done." : "Analysing " + j.name + " …");
}

async function fetchRows(id, table) {
  const r = await fetch(`/v1/jobs/${id}/results?table=${table}`, { headers: headers() });
  if (!r.ok) return [];
  return (await r.text()).split("\n").filter(Boolean).map((l) => JSON.parse(l));
}

async function results(j) {
  const files = new Set(j.files);
  const base = `/v1/jobs/${j.id}/files/`;
  const video = $("job-video");
  video.hidden = !files.has("annotated.mp4");
  if (!video.hidden) video.src = withKey(base + "annotated.mp4");
  const tl = $("timeline");
  tl.hidden = !files.has("timeline.png");
  if (!tl.hidden) tl.src = withKey(base + "timeline.png");
  const faces = j.kind === "transcript" || j.kind === "text" ? [] : await fetchRows(j.id, "faces");
  table($("tracks"), [["track", (t) => t.track], ["frames", (t) => t.n], ["from", (t) => (t.first / 1000).toFixed(1) + " s"],
    ["to", (t) => (t.last / 1000).toFixed(1) + " s"], ["most often", (t) => t.top], ["mean confidence", (t) => pct(t.conf / t.n)]], tracks(faces));
  const segs = files.has("results-segments.jsonl") ? await fetchRows(j.id, "segments") : [];
  $("segments-title").hidden = !segs.length;
  table($("segments"), [["from", (s) => (s.start_ms / 1000).toFixed(2) + " s"], ["to", (s) => (s.end_ms / 1000).toFixed(2) + " s"],
    ["track", (s) => (s.track == null ? "" : s.track)], ["status", (s) => s.status], ["fused", (s) => s.fused_top || ""],
    ["modalities", (s) => (s.modalities || []).join("+")]], segs);
  const dl = $("downloads");
  dl.innerHTML = "";
  for (const name of j.files) {
    const a = document.createElement("a");
    a.href = withKey(base + name); a.textContent = name; a.download = name;
    dl.appendChild(a);
  }
  $("job-results").hidden = false;
}

function tracks(rows) {
  const by = new Map();
  for (const r of rows) {
    if (r.track == null || r.expression == null) continue;
    const t = by.get(r.track) || { track: r.track, n: 0, first: r.time_ms, last: r.time_ms, conf: 0, votes: {} };
    t.n += 1; t.last = r.time_ms; t.conf += r.confidence || 0;
    t.votes[r.expression] = (t.votes[r.expression] || 0) + 1;
    by.set(r.track, t);
  }
  return [...by.values()].map((t) => ({ ...t, top: Object.entries(t.votes).sort((a, b) => b[1] - a[1])[0][0] }));
}

// -- webcam -----------------------------------------------------------------------------------
$("webcam").addEventListener("click", startWebcam);
$("stop").addEventListener("click", stopWebcam);

async function startWebcam() {
  try {
    state.stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
  } catch (e) { say("No camera: " + e.message, true); return; }
  const cam = $("cam");
  cam.srcObject = state.stream;
  await cam.play();
  show("live");
  $("webcam").hidden = true; $("stop").hidden = false;
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(withKey(`${proto}//${location.host}/v1/live`));
  ws.binaryType = "arraybuffer";
  state.ws = ws; state.answered = 0; state.since = performance.now(); state.faces = [];
  let busy = 0;
  ws.onmessage = (e) => {
    const a = JSON.parse(e.data);
    busy = Math.max(0, busy - 1);
    if (a.error) { say(a.error.message, true); return; }
    state.faces = a.faces; state.answered += 1;
    drawOverlay(a);
    const secs = (performance.now() - state.since) / 1000;
    $("live-stats").textContent = `${(state.answered / secs).toFixed(1)} frames/s answered · ${a.dropped} dropped · ${a.ms} ms per frame`;
    $("live-stats").dataset.answered = String(state.answered);
  };
  ws.onclose = () => { if (state.ws === ws) say("Webcam connection closed."); };
  ws.onopen = () => {
    say("Live: perceived expressions of each face, tracked with an id.");
    const grab = document.createElement("canvas");
    state.timer = setInterval(() => {
      if (ws.readyState !== 1 || busy > 1 || !cam.videoWidth) return;
      grab.width = cam.videoWidth; grab.height = cam.videoHeight;
      grab.getContext("2d").drawImage(cam, 0, 0);
      const t = performance.now();
      grab.toBlob(async (blob) => {
        if (!blob || ws.readyState !== 1) return;
        const head = new DataView(new ArrayBuffer(8));
        head.setFloat64(0, t, true);
        ws.send(await new Blob([head, blob]).arrayBuffer());
        busy += 1;
      }, "image/jpeg", 0.8);
    }, 1000 / 15);
  };
}

function drawOverlay(a) {
  const cam = $("cam"), c = $("overlay");
  c.width = a.width; c.height = a.height;
  const ctx = c.getContext("2d");
  ctx.clearRect(0, 0, c.width, c.height);
  const scale = Math.max(1, a.width / 640);
  for (const f of a.faces) {
    drawFace(ctx, f.box, `#${f.track} ${f.expression} ${pct(f.confidence)} V${num(f.valence)} A${num(f.arousal)}`, scale, f.uncertain);
  }
  c.dataset.boxes = String(a.faces.length);
  c.dataset.tracks = a.faces.map((f) => f.track).join(",");
}

function stopWebcam() {
  if (state.timer) clearInterval(state.timer);
  if (state.ws) { const ws = state.ws; state.ws = null; ws.close(); }
  if (state.stream) state.stream.getTracks().forEach((t) => t.stop());
  state.timer = state.stream = null;
  $("webcam").hidden = false; $("stop").hidden = true;
}
