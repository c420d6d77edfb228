// One frame at full resolution: deep zoom (OpenSeadragon over the server's DZI tiles), boxes drawn,
// moved, resized and deleted as overlays in image pixels, a category, a note per box, and the
// selected box's crop as the frame looks at 756, 1512 and 3780 pixels.
"use strict";

const { api, el, say, typing } = ps3;
const frameId = Number(location.pathname.split("/").pop());
const SIDES = [756, 1512, 3780];

const state = { frame: null, boxes: new Map(), elements: new Map(), selected: null,
  drawing: false, categories: [], frames: [] };

const viewer = OpenSeadragon({
  element: document.getElementById("viewer"),
  tileSources: `/api/frames/${frameId}/image.dzi`,
  showNavigationControl: false, // its buttons need image files that are not shipped
  drawer: "canvas",
  maxZoomPixelRatio: 4,
  visibilityRatio: 0.5,
  gestureSettingsMouse: { clickToZoom: false, dblClickToZoom: true },
});

function toImage(event) {
  const r = viewer.element.getBoundingClientRect();
  return viewer.viewport.viewerElementToImageCoordinates(
    new OpenSeadragon.Point(event.clientX - r.left, event.clientY - r.top));
}

function rectOf(b) {
  return viewer.viewport.imageToViewportRectangle(b.x0, b.y0, b.x1 - b.x0, b.y1 - b.y0);
}

function clampBox(b) {
  const w = state.frame.width, h = state.frame.height;
  const x0 = Math.max(0, Math.min(b.x0, b.x1)), x1 = Math.min(w, Math.max(b.x0, b.x1));
  const y0 = Math.max(0, Math.min(b.y0, b.y1)), y1 = Math.min(h, Math.max(b.y0, b.y1));
  return { x0, y0, x1, y1 };
}

// ------------------------------------------------------------------ boxes on the viewer

function place(box) {
  let node = state.elements.get(box.id);
  if (!node) {
    node = el("div", { class: "bbox", "data-id": box.id },
      ...["nw", "ne", "sw", "se"].map((h) => el("div", { class: `handle ${h}`, "data-handle": h })));
    node.addEventListener("pointerdown", (event) => startDrag(event, box.id));
    state.elements.set(box.id, node);
    viewer.addOverlay({ element: node, location: rectOf(box) });
  } else {
    viewer.updateOverlay(node, rectOf(box));
  }
  node.classList.toggle("selected", state.selected === box.id);
}

function unplace(id) {
  const node = state.elements.get(id);
  if (node) viewer.removeOverlay(node);
  state.elements.delete(id);
}

function setBox(box) {
  if (box.deleted) {
    state.boxes.delete(box.id);
    unplace(box.id);
    if (state.selected === box.id) state.selected = null;
  } else {
    state.boxes.set(box.id, box);
    place(box);
  }
  renderList();
  renderSelected();
}

// A 409 carries the row as it is now: show it, and say who changed it.
function stale(res) {
  const cur = res.data.current;
  if (cur) setBox(cur);
  say(`${res.data.error}`, "warn");
}

function startDrag(event, id) {
  if (state.drawing) return;
  event.stopPropagation();
  event.preventDefault();
  select(id);
  const handle = event.target.dataset.handle || null;
  const start = toImage(event);
  const orig = { ...state.boxes.get(id) };
  let moved = false;
  viewer.setMouseNavEnabled(false);
  const move = (e) => {
    const p = toImage(e);
    const dx = p.x - start.x, dy = p.y - start.y;
    const b = { ...orig };
    if (!handle) {
      const w = orig.x1 - orig.x0, h = orig.y1 - orig.y0;
      b.x0 = Math.max(0, Math.min(state.frame.width - w, orig.x0 + dx));
      b.y0 = Math.max(0, Math.min(state.frame.height - h, orig.y0 + dy));
      b.x1 = b.x0 + w; b.y1 = b.y0 + h;
    } else {
      if (handle.includes("w")) b.x0 = orig.x0 + dx; else b.x1 = orig.x1 + dx;
      if (handle.includes("n")) b.y0 = orig.y0 + dy; else b.y1 = orig.y1 + dy;
    }
    moved = moved || Math.abs(dx) + Math.abs(dy) > 0.5;
    const box = { ...state.boxes.get(id), ...clampBox(b) };
    state.boxes.set(id, box);
    place(box);
  };
  const up = async () => {
    window.removeEventListener("pointermove", move);
    window.removeEventListener("pointerup", up);
    viewer.setMouseNavEnabled(true);
    if (!moved) return;
    const b = state.boxes.get(id);
    const res = await api("PATCH", `/api/boxes/${id}`,
      { version: orig.version, bbox: [b.x0, b.y0, b.x1, b.y1] });
    if (res.status === 409) { stale(res); return; }
    if (!res.ok) { setBox(orig); say(res.data.error, "error"); return; }
    setBox(res.data);
    say(`box ${id} saved`, "ok");
  };
  window.addEventListener("pointermove", move);
  window.addEventListener("pointerup", up);
}

// ------------------------------------------------------------------ drawing

function setDrawing(on) {
  state.drawing = on;
  document.getElementById("draw").classList.toggle("on", on);
  document.getElementById("viewer").classList.toggle("drawing", on);
  viewer.setMouseNavEnabled(!on);
}

function drawStart(event) {
  if (!state.drawing || event.button !== 0) return;
  event.stopPropagation();
  event.preventDefault();
  const holder = document.getElementById("viewer").getBoundingClientRect();
  const draft = document.getElementById("draft");
  const x0 = event.clientX, y0 = event.clientY;
  const a = toImage(event);
  const show = (e) => {
    draft.style.display = "block";
    draft.style.left = `${Math.min(x0, e.clientX) - holder.left}px`;
    draft.style.top = `${Math.min(y0, e.clientY) - holder.top}px`;
    draft.style.width = `${Math.abs(e.clientX - x0)}px`;
    draft.style.height = `${Math.abs(e.clientY - y0)}px`;
  };
  const end = async (e) => {
    window.removeEventListener("pointermove", show, true);
    window.removeEventListener("pointerup", end, true);
    draft.style.display = "none";
    setDrawing(false);
    const b = clampBox({ x0: a.x, y0: a.y, x1: toImage(e).x, y1: toImage(e).y });
    if (b.x1 - b.x0 < 2 || b.y1 - b.y0 < 2) { say("drag to draw a box", "warn"); return; }
    const res = await api("POST", `/api/frames/${frameId}/boxes`,
      { bbox: [b.x0, b.y0, b.x1, b.y1], note: "" });
    if (!res.ok) { say(res.data.error, "error"); return; }
    state.selected = res.data.id;
    setBox(res.data);
    say(`box ${res.data.id} added`, "ok");
    document.getElementById("note").focus();
  };
  window.addEventListener("pointermove", show, true);
  window.addEventListener("pointerup", end, true);
}

document.getElementById("viewer").addEventListener("pointerdown", drawStart, true);

// ------------------------------------------------------------------ side panel

function select(id) {
  state.selected = id;
  for (const [bid, node] of state.elements) node.classList.toggle("selected", bid === id);
  renderList();
  renderSelected();
}

function renderList() {
  const list = document.getElementById("boxes");
  const items = [...state.boxes.values()].map((b) => el("li", {
    class: b.id === state.selected ? "selected" : "",
    onclick: () => {
      select(b.id);
      viewer.viewport.fitBoundsWithConstraints(rectOf(b).times(3).translate(
        rectOf(b).getCenter().minus(rectOf(b).times(3).getCenter())));
    },
  }, `#${b.id} ${Math.round(b.x1 - b.x0)}x${Math.round(b.y1 - b.y0)} px`,
  b.note ? ` · ${b.note}` : "", b.qa_id ? " · question" : ""));
  list.replaceChildren(...items);
  if (!items.length) list.replaceChildren(el("li", { class: "muted" }, "none yet: press b and drag"));
}

function renderSelected() {
  const panel = document.getElementById("selected");
  const b = state.boxes.get(state.selected);
  panel.hidden = !b;
  if (!b) return;
  document.getElementById("box-id").textContent = `#${b.id} (version ${b.version})`;
  const note = document.getElementById("note");
  if (document.activeElement !== note) note.value = b.note;
  document.getElementById("qa-link").replaceChildren(
    b.qa_id ? el("a", { href: `/screen?qa=${b.qa_id}` }, `question #${b.qa_id}`) : "");
  const previews = document.getElementById("previews");
  const key = `${b.id}:${b.version}`;
  if (previews.dataset.key === key) return;
  previews.dataset.key = key;
  previews.replaceChildren(...SIDES.map((side) => el("figure", {},
    el("img", { src: `/api/boxes/${b.id}/preview/${side}.png?v=${b.version}`,
      alt: `box at ${side} px`, "data-side": side }),
    el("figcaption", {}, side === 3780 ? "3780 (4K)" : `${side}`))));
}

document.getElementById("note").addEventListener("change", async (event) => {
  const b = state.boxes.get(state.selected);
  if (!b) return;
  const res = await api("PATCH", `/api/boxes/${b.id}`, { version: b.version, note: event.target.value });
  if (res.status === 409) { stale(res); return; }
  if (!res.ok) { say(res.data.error, "error"); return; }
  setBox({ ...res.data, qa_id: b.qa_id });
  say(`note of box ${b.id} saved`, "ok");
});

async function deleteSelected() {
  const b = state.boxes.get(state.selected);
  if (!b) return;
  const res = await api("DELETE", `/api/boxes/${b.id}`, { version: b.version });
  if (res.status === 409) { stale(res); return; }
  if (!res.ok) { say(res.data.error, "error"); return; }
  setBox(res.data);
  say(`box ${b.id} deleted`, "ok");
}

document.getElementById("delete").addEventListener("click", deleteSelected);
document.getElementById("draw").addEventListener("click", () => setDrawing(!state.drawing));

document.getElementById("category").addEventListener("change", async (event) => {
  const value = event.target.value || null;
  const res = await api("PATCH", `/api/frames/${frameId}`,
    { version: state.frame.version, category: value });
  if (res.status === 409) {
    state.frame = { ...state.frame, ...res.data.current };
    event.target.value = state.frame.category || "";
    say(res.data.error, "warn");
    return;
  }
  if (!res.ok) { say(res.data.error, "error"); return; }
  state.frame = { ...state.frame, ...res.data };
  say(`category: ${value || "none"}`, "ok");
});

function go(step) {
  const ids = state.frames.map((f) => f.id);
  const i = ids.indexOf(frameId);
  const next = ids[i + step];
  if (next !== undefined) location.href = `/frames/${next}`;
}
document.getElementById("prev").addEventListener("click", () => go(-1));
document.getElementById("next").addEventListener("click", () => go(1));

document.addEventListener("keydown", (event) => {
  if (typing(event) || event.ctrlKey || event.metaKey || event.altKey) return;
  if (event.key === "b") setDrawing(!state.drawing);
  else if (event.key === "Delete" || event.key === "Backspace") deleteSelected();
  else if (event.key === "Escape") { setDrawing(false); select(null); }
  else if (event.key === "n") go(1);
  else if (event.key === "p") go(-1);
  else return;
  event.preventDefault();
});

async function load() {
  document.getElementById("who").replaceChildren(ps3.reviewerField());
  const [info, frame, frames] = await Promise.all([
    api("GET", "/api/project"), api("GET", `/api/frames/${frameId}`), api("GET", "/api/frames")]);
  if (!frame.ok) { say(frame.data.error, "error"); return; }
  state.frame = frame.data;
  state.frames = frames.ok ? frames.data : [];
  state.categories = info.ok ? info.data.categories : [];
  const f = state.frame;
  document.title = `Frame ${f.id}`;
  document.getElementById("title").textContent = `frame ${f.id}`;
  const when = f.timestamp === null ? (f.origin || "") : `at ${f.timestamp.toFixed(2)} s`;
  document.getElementById("info").textContent =
    `${f.source} ${when} · ${f.width}x${f.height} · detail ${f.detail} · sharpness ${f.sharpness}`;
  const select_ = document.getElementById("category");
  select_.replaceChildren(el("option", { value: "" }, "(none)"),
    ...state.categories.map((c) => el("option", { value: c }, c)));
  select_.value = f.category || "";
  for (const b of f.boxes) { state.boxes.set(b.id, b); }
  const show = () => { for (const b of state.boxes.values()) place(b); renderList(); };
  if (viewer.world.getItemCount()) show(); else viewer.addOnceHandler("open", show);
}

load();
