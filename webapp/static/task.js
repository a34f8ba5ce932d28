// The 2AFC task page: consent, trials with a magnifier that follows the cursor, answers that
// are re-sent until the server confirms them, and a completion step only after every answer
// is stored. Layout after Patel et al.'s MTurk page: original in the middle, A left, B right.
"use strict";

const params = new URLSearchParams(location.search);
const $ = (id) => document.getElementById(id);
const MAGNIFIER_SIDE = 240;   // CSS pixels; the canvas is drawn in device pixels
const state = { token: null, trials: [], index: 0, shownAt: 0, magnifierMs: 0, hoverSince: null,
                busy: false, cursor: null, images: {} };

async function post(path, body, attempts = 8) {
  // Re-send on network errors and 5xx: the server stores a repeated answer once.
  for (let attempt = 0; ; attempt++) {
    try {
      const r = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" },
                                    body: JSON.stringify(body) });
      const data = await r.json().catch(() => ({}));
      if (r.ok) return data;
      if (r.status < 500) {
        throw Object.assign(new Error(data.error || r.statusText), { fatal: true, complete: !!data.complete });
      }
    } catch (err) {
      if (err.fatal || attempt >= attempts) throw err;
    }
    $("status").textContent = "Connection problem, retrying…";
    await new Promise((ok) => setTimeout(ok, Math.min(8000, 250 * 2 ** attempt)));
  }
}

function sessionRequest() {
  const keys = ["workerId", "assignmentId", "hitId", "turkSubmitTo", "PROLIFIC_PID", "STUDY_ID",
                "SESSION_ID", "rater"];
  const body = {};
  for (const k of keys) if (params.has(k)) body[k] = params.get(k);
  if (!body.workerId && !body.PROLIFIC_PID && !body.rater) {
    body.rater = localStorage.getItem("evalkit-rater") || crypto.randomUUID();
    localStorage.setItem("evalkit-rater", body.rater);
  }
  // The session secret this browser keeps for this rater, drawn before the first request so
  // that a retry whose first attempt was stored resumes the same assignment.
  const key = sessionKey(body);
  if (!localStorage.getItem(key)) {
    const bytes = crypto.getRandomValues(new Uint8Array(32));
    localStorage.setItem(key, Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(""));
  }
  body.token = localStorage.getItem(key);
  return body;
}

function sessionKey(body) {
  return `evalkit-session:${body.workerId || body.PROLIFIC_PID || body.rater}`;
}

function load(url) {
  // Decoded before it is shown, so no trial ever flashes in; kept so each image loads once.
  if (!state.images[url]) {
    const img = new Image();
    img.src = url;
    state.images[url] = img.decode().then(() => img);
  }
  return state.images[url];
}

function preload(i) {
  const t = state.trials[i];
  return t ? Promise.all([load(t.left), load(t.reference), load(t.right)]) : Promise.resolve();
}

async function show(i) {
  const t = state.trials[i];
  const [left, reference, right] = await preload(i);
  const dpr = window.devicePixelRatio || 1;
  for (const [id, img] of [["left", left], ["reference", reference], ["right", right]]) {
    const el = $(id);
    el.src = img.src;
    el.width = img.naturalWidth / dpr;     // one image pixel per device pixel: never resampled
    el.height = img.naturalHeight / dpr;
  }
  $("progress").textContent = `Question ${i + 1} of ${state.trials.length}`;
  $("status").textContent = "";
  state.shownAt = performance.now();
  state.magnifierMs = 0;
  if (state.onShow) state.onShow();           // a layout's own per-trial state (flip.js, flicker.js)
  if (state.hoverSince !== null) state.hoverSince = performance.now();
  drawMagnifiers();
  preload(i + 1);
}

function zoom() { return Number($("zoom").value); }

function drawMagnifiers() {
  if (!state.cursor) return;
  const z = zoom();
  const dpr = window.devicePixelRatio || 1;
  const side = Math.floor(MAGNIFIER_SIDE * dpr / z) * z;   // whole z×z blocks per image pixel
  const reference = $("reference");
  const span = side / z;                                      // image pixels shown
  const sx = Math.max(0, Math.min(reference.naturalWidth - span, Math.round(state.cursor.x - span / 2)));
  const sy = Math.max(0, Math.min(reference.naturalHeight - span, Math.round(state.cursor.y - span / 2)));
  const box = $("magnifiers");
  box.dataset.sx = sx; box.dataset.sy = sy; box.dataset.span = span; box.dataset.zoom = z;
  for (const id of ["left", "reference", "right"]) {
    const canvas = $(`zoom-${id}`);
    canvas.width = side; canvas.height = side;
    canvas.style.width = `${side / dpr}px`; canvas.style.height = `${side / dpr}px`;
    const ctx = canvas.getContext("2d");
    ctx.imageSmoothingEnabled = false;
    ctx.clearRect(0, 0, side, side);
    ctx.drawImage($(id), sx, sy, span, span, 0, 0, side, side);
  }
}

function track(event) {
  const img = event.currentTarget;
  const scale = img.naturalWidth / img.clientWidth;
  state.cursor = { x: event.offsetX * scale, y: event.offsetY * scale };
  drawMagnifiers();
}

async function answer(choice) {
  if (state.busy || state.index >= state.trials.length) return;
  state.busy = true;
  const now = performance.now();
  const hovering = state.hoverSince !== null ? now - state.hoverSince : 0;
  const t = state.trials[state.index];
  try {
    await post("/api/response", {
      token: state.token, trial: t.id, choice, response_ms: now - state.shownAt,
      magnifier_ms: state.magnifierMs + hovering, viewport_w: window.innerWidth,
      viewport_h: window.innerHeight, device_pixel_ratio: window.devicePixelRatio || 1,
      ...(state.extra ? state.extra() : {}) });
    state.index += 1;
    if (state.index < state.trials.length) await show(state.index);
    else { $("task").hidden = true; $("done").hidden = false; $("progress").textContent = "Done"; }
  } catch (err) {
    $("status").textContent = `Your answer could not be saved: ${err.message}`;
  } finally {
    state.busy = false;
  }
}

async function complete() {
  $("submit").disabled = true;
  try {
    const result = await post("/api/finish", { token: state.token, comment: $("comment").value });
    if (result.mturk) {
      const form = $("mturk-form");
      form.action = result.mturk.action;
      form.assignmentId.value = result.mturk.assignmentId;
      form.submit();
    } else if (result.redirect) {
      location.href = result.redirect;
    } else {
      $("completion").textContent = `All your answers are saved. Your completion code: ${result.code}`;
    }
  } catch (err) {
    $("completion").textContent = `Not finished yet: ${err.message}`;
    $("submit").disabled = false;
  }
}

async function start() {
  $("start").disabled = true;
  try {
    const session = await post("/api/session", sessionRequest());
    state.token = session.token;
    state.trials = session.trials;
    const done = new Set(session.answered);
    state.index = state.trials.findIndex((t) => !done.has(t.id));
    $("intro").hidden = true;
    if (state.index === -1 || session.finished) {
      state.index = state.trials.length; $("done").hidden = false; return;
    }
    $("task").hidden = false;
    await show(state.index);
  } catch (err) {
    if (err.complete) {        // an active study met its stopping rule: nothing left to do
      $("intro").hidden = true;
      $("complete").querySelector("p").textContent = "Thank you for your interest: we have all the answers we need.";
      $("complete-reason").textContent = err.message;
      $("complete").hidden = false;
      return;
    }
    $("status").textContent = err.message;
    $("intro").append($("status"));
  }
}

async function showPreview() {
  const r = await fetch("/api/preview");
  state.trials = (await r.json()).trials;
  $("task").hidden = false;
  for (const id of ["choose-left", "choose-right", "choose-not-sure"]) if ($(id)) $(id).disabled = true;
  if (state.trials.length) await show(0);
}

for (const id of ["left", "reference", "right"]) {
  const img = $(id);
  img.addEventListener("mousemove", track);
  img.addEventListener("mouseenter", () => { state.hoverSince = performance.now(); });
  img.addEventListener("mouseleave", () => {
    if (state.hoverSince !== null) state.magnifierMs += performance.now() - state.hoverSince;
    state.hoverSince = null;
  });
}
$("zoom").addEventListener("input", () => { $("zoom-value").textContent = `${zoom()}×`; drawMagnifiers(); });
$("choose-left").addEventListener("click", () => answer("left"));
$("choose-right").addEventListener("click", () => answer("right"));
if ($("choose-not-sure")) $("choose-not-sure").addEventListener("click", () => answer("not_sure"));
$("submit").addEventListener("click", complete);
document.addEventListener("keydown", (e) => {
  if (PREVIEW || $("task").hidden || e.target.tagName === "TEXTAREA") return;
  if (e.key === "ArrowLeft" || e.key === "f" || e.key === "F") { e.preventDefault(); answer("left"); }
  if (e.key === "ArrowRight" || e.key === "j" || e.key === "J") { e.preventDefault(); answer("right"); }
  if ((e.key === "n" || e.key === "N") && $("choose-not-sure")) { e.preventDefault(); answer("not_sure"); }
});
if (PREVIEW) showPreview();
else {
  $("consent").addEventListener("change", (e) => { $("start").disabled = !e.target.checked; });
  $("start").addEventListener("click", start);
}
