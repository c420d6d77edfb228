// MRR labelling: one item at a time, its image at every rung of the study's ladder side by side
// at one size, zoomed and panned together, in an order of the labeller's own per item. The page
// never learns which view is which rung: it sends the position picked and the server maps it.
// Keys: 1..9 pick a view, m needs more than the original, w answerable without the image,
// s skip for now, j/k next/previous, 0 whole image.
"use strict";

const { api, el, say, typing } = ps3;
const base = location.pathname.replace(/[^/]*$/, ""); // the study's section, e.g. /mrr/name/
const LETTERS = "ABCDEFGHI";
const state = {
  info: null, item: null, index: null, image: 0,
  history: [], pos: -1, skip: new Set(), busy: false,
};
const viewers = [];

// ------------------------------------------------------------------ views

function makeViews(n) {
  const box = document.getElementById("views");
  box.style.setProperty("--n", n);
  for (let k = 0; k < n; k++) {
    const area = el("div", { class: "viewer", id: `viewer-${k}` });
    const figure = el("figure", { class: "view", "data-view": k }, area,
      el("figcaption", {}, el("button", { class: "pick", "data-view": k, onclick: () => pick(k) },
        `View ${LETTERS[k]}: the least detail I can answer from `, el("kbd", {}, String(k + 1)))));
    box.append(figure);
    const viewer = OpenSeadragon({
      element: area,
      showNavigationControl: false, // its buttons need image files that are not shipped
      drawer: "canvas",
      keyboardNavEnabled: false, // the page's own keys
      imageSmoothingEnabled: false, // pixels stay pixels when zoomed past the image
      maxZoomPixelRatio: 8,
      visibilityRatio: 0.5,
      gestureSettingsMouse: { clickToZoom: false, dblClickToZoom: true },
    });
    viewer.addHandler("viewport-change", () => follow(viewer));
    viewer.addHandler("open", () => {
      figure.dataset.loaded = "";
      const tiled = viewer.world.getItemAt(0);
      const done = () => { if (tiled.getFullyLoaded()) figure.dataset.loaded = "1"; };
      tiled.addHandler("fully-loaded-change", done);
      done();
    });
    viewers.push(viewer);
  }
}

// Every view shows the same region: they share one geometry, so one viewport fits all.
let leader = null;
function follow(source) {
  if (leader !== null) return;
  leader = source;
  const zoom = source.viewport.getZoom();
  const center = source.viewport.getCenter();
  for (const v of viewers) {
    if (v !== source && v.world.getItemCount()) {
      v.viewport.zoomTo(zoom, null, true);
      v.viewport.panTo(center, true);
    }
  }
  leader = null;
}

function showImage(i) {
  state.image = i;
  const keys = state.item.views[i];
  const [w, h] = state.item.native[i];
  keys.forEach((key, k) => {
    viewers[k].element.style.aspectRatio = `${w} / ${h}`; // no bars around the image
    viewers[k].element.closest("figure").dataset.key = key;
    viewers[k].open(`${base}api/views/${key}/image.dzi`);
  });
  const images = document.getElementById("images");
  images.replaceChildren(...(state.item.views.length > 1 ? state.item.views.map((_, j) =>
    el("button", { class: j === i ? "on" : "", onclick: () => showImage(j) },
      `image ${j + 1}`)) : []));
}

// ------------------------------------------------------------------ items

function label(mine) {
  if (!mine) return "not labelled by you yet";
  const what = mine.choice === "view" ? `view ${LETTERS[mine.view]}`
    : mine.choice === "beyond" ? "needs more than the original" : "answerable without the image";
  return `your label: ${what}`;
}

function render() {
  const q = state.item;
  document.getElementById("finished").hidden = true;
  document.getElementById("item").hidden = false;
  document.getElementById("item-title").textContent = `Item ${q.item + 1}`;
  const sizes = q.native.map(([w, h]) => `${w}x${h}`).join(", ");
  document.getElementById("item-meta").textContent =
    ` · original ${sizes}${q.category ? ` · ${q.category}` : ""}`;
  document.getElementById("my-label").replaceChildren(
    el("span", { class: q.mine ? "badge accepted" : "badge pending" }, label(q.mine)));
  document.getElementById("question").textContent = q.question;
  const letter = (q.answer.match(/^([A-Z])\. /) || [])[1];
  document.getElementById("options").replaceChildren(...(q.choices || []).map((c, i) =>
    el("li", { class: LETTERS[i] === letter ? "right" : "" }, c)));
  document.getElementById("answer").textContent = q.answer;
  for (const b of document.querySelectorAll("button.pick")) {
    b.classList.toggle("on", !!q.mine && q.mine.choice === "view" && q.mine.view === Number(b.dataset.view));
  }
  for (const b of document.querySelectorAll("[data-choice]")) {
    b.classList.toggle("on", !!q.mine && q.mine.choice === b.dataset.choice);
  }
  renderMine(q.labelled, q.total);
}

function renderMine(labelled, total) {
  const me = ps3.reviewer();
  document.getElementById("mine").textContent = me
    ? `${me}: ${labelled} of ${total} labelled` : "enter your name to start";
}

async function open(index, remember) {
  const res = await api("GET", `${base}api/items/${index}`);
  if (!res.ok) { say(res.data.error, "error"); return; }
  state.item = res.data;
  state.index = index;
  if (remember) {
    state.history = state.history.slice(0, state.pos + 1);
    state.history.push(index);
    state.pos = state.history.length - 1;
  }
  history.replaceState(null, "", `${base}?item=${index}`);
  render();
  showImage(0);
}

async function next() {
  if (state.pos < state.history.length - 1) {
    state.pos += 1;
    await open(state.history[state.pos], false);
    return;
  }
  const skip = [...state.skip].join(",");
  const res = await api("GET", `${base}api/next${skip ? `?skip=${skip}` : ""}`);
  if (!res.ok) { say(res.data.error, "error"); return; }
  if (res.data.item === null) { finished(res.data); return; }
  await open(res.data.item, true);
}

async function previous() {
  if (state.pos <= 0) { say("this is the first item you saw here", "warn"); return; }
  state.pos -= 1;
  await open(state.history[state.pos], false);
}

function finished(data) {
  document.getElementById("item").hidden = true;
  document.getElementById("finished").hidden = false;
  const left = data.total - data.labelled;
  document.getElementById("finished-text").textContent = left
    ? `Nothing more for now: the ${left} item(s) you skipped are left (reload to see them again).`
    : `You have labelled all ${data.total} items. Thank you! (k goes back to change a label.)`;
  state.pos = state.history.length; // j after k comes back here
  renderMine(data.labelled, data.total);
  progress();
}

async function save(body) {
  if (!state.item || state.busy) return;
  if (!ps3.reviewer()) { say("enter your name first (top of the page)", "warn"); return; }
  state.busy = true;
  try {
    const res = await api("POST", `${base}api/items/${state.index}/label`, body);
    if (!res.ok) { say(res.data.error, "error"); return; }
    state.skip.delete(state.index);
    say(`item ${state.index + 1}: ${label(res.data.mine)}`, "ok");
    state.history = state.history.slice(0, state.pos + 1); // labelled: go on to new items
    await next();
    progress();
  } finally {
    state.busy = false;
  }
}

function pick(k) { return save({ view: k }); }

function skip() {
  if (state.index === null) return;
  state.skip.add(state.index);
  state.history = state.history.slice(0, state.pos + 1);
  next();
}

function home() { for (const v of viewers) v.viewport.goHome(true); }

// ------------------------------------------------------------------ progress

async function progress() {
  const res = await api("GET", `${base}api/progress`);
  if (!res.ok) return;
  const p = res.data;
  const me = ps3.reviewer();
  const mine = p.labellers.find((r) => r.name === me);
  if (!state.item || document.getElementById("item").hidden) renderMine(mine ? mine.labelled : 0, p.total);
  document.getElementById("progress").replaceChildren(p.labellers.length ? el("table", {},
    el("tr", {}, el("th", {}, "labeller"), el("th", {}, "items labelled")),
    p.labellers.map((r) => el("tr", { class: r.name === me ? "me" : "" },
      el("td", {}, r.name), el("td", {}, `${r.labelled} of ${p.total}`)))) : "no labels yet");
}

// ------------------------------------------------------------------ wiring

document.getElementById("beyond").addEventListener("click", () => save({ label: "beyond" }));
document.getElementById("no-image").addEventListener("click", () => save({ label: "no_image" }));
document.getElementById("skip").addEventListener("click", skip);
document.getElementById("prev").addEventListener("click", previous);
document.getElementById("next").addEventListener("click", next);
document.getElementById("home").addEventListener("click", home);

document.addEventListener("keydown", (event) => {
  if (typing(event) || event.ctrlKey || event.metaKey || event.altKey) return;
  const k = Number(event.key) - 1;
  if (Number.isInteger(k) && k >= 0 && k < viewers.length) pick(k);
  else if (event.key === "m") save({ label: "beyond" });
  else if (event.key === "w") save({ label: "no_image" });
  else if (event.key === "s") skip();
  else if (event.key === "j") next();
  else if (event.key === "k") previous();
  else if (event.key === "0") home();
  else return;
  event.preventDefault();
});

async function start() {
  state.history = [];
  state.pos = -1;
  state.skip.clear();
  await progress();
  if (!ps3.reviewer()) {
    document.getElementById("item").hidden = true;
    say("enter your name (top of the page) to start labelling", "warn");
    return;
  }
  say("");
  const wanted = new URLSearchParams(location.search).get("item");
  if (wanted !== null && /^\d+$/.test(wanted)) await open(Number(wanted), true);
  else await next();
}

async function load() {
  document.getElementById("who").replaceChildren(ps3.reviewerField(() => {
    history.replaceState(null, "", base); // a new labeller starts from their own first item
    start();
  }, "Labeller"));
  const info = await api("GET", `${base}api/study`);
  if (!info.ok) { say(info.data.error, "error"); return; }
  state.info = info.data;
  document.getElementById("title").textContent = `MRR: ${info.data.name}`;
  document.title = `MRR: ${info.data.name}`;
  document.getElementById("sections").replaceChildren(await ps3.sectionLinks(base));
  makeViews(info.data.views);
  await start();
}

load();
