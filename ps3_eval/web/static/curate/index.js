// The project's front page: progress, the frames (thumbnails from the tile pyramid), imports.
"use strict";

const { api, el, say } = ps3;

function progressView(info) {
  const p = info.progress;
  const counts = {};
  for (const row of p.questions) {
    const key = row.status === "failed" ? "failed" : row.decision;
    counts[key] = (counts[key] || 0) + row.n;
  }
  const items = [
    `${p.totals.frames} frames`, `${p.totals.boxes} boxes`,
    ...Object.entries(counts).map(([k, n]) => `${n} ${k}`),
  ];
  const table = el("table", {},
    el("tr", {}, el("th", {}, "reviewer"), el("th", {}, "decision"), el("th", {}, "questions")),
    p.reviewers.map((r) => el("tr", {}, el("td", {}, r.reviewer), el("td", {}, r.decision),
      el("td", {}, String(r.n)))));
  return el("div", {}, el("p", {}, items.join(" · ")), p.reviewers.length ? table : null);
}

async function load() {
  const info = await api("GET", "/api/project");
  if (!info.ok) { say(info.data.error, "error"); return; }
  document.getElementById("title").textContent = `Curation: ${info.data.name}`;
  document.title = `Curation: ${info.data.name}`;
  document.getElementById("who").replaceChildren(ps3.reviewerField());
  document.getElementById("sections").replaceChildren(await ps3.sectionLinks("/"));
  document.getElementById("progress").replaceChildren(progressView(info.data));
  const frames = await api("GET", "/api/frames");
  if (!frames.ok) { say(frames.data.error, "error"); return; }
  const grid = document.getElementById("frames");
  grid.replaceChildren(...frames.data.map((f) => {
    const when = f.timestamp === null ? (f.origin || "") : `${f.timestamp.toFixed(2)} s`;
    return el("a", { class: "card frame", href: `/frames/${f.id}` },
      el("img", { src: `/api/frames/${f.id}/thumb.png`, alt: `frame ${f.id}`,
        loading: "lazy" }),
      el("div", {}, `#${f.id} ${f.source} ${when}`),
      el("div", { class: "muted" },
        `${f.width}x${f.height} · detail ${f.detail} · ${f.n_boxes} boxes · ${f.category || "no category"}`));
  }));
  if (!frames.data.length) say("No frames yet: add some with `ps3-eval curate frames`.", "warn");
}

document.getElementById("ls-import").addEventListener("click", async () => {
  const file = document.getElementById("ls-file").files[0];
  if (!file) { say("choose a Label Studio JSON export first", "warn"); return; }
  let data;
  try { data = JSON.parse(await file.text()); } catch (error) {
    say(`${file.name} is not JSON`, "error"); return;
  }
  const res = await api("POST", "/api/import/labelstudio", data);
  if (!res.ok) { say(res.data.error, "error"); return; }
  say(`added ${res.data.added} boxes (${res.data.duplicates} already there; `
    + `${res.data.unmatched.length} tasks matched no frame)`, "ok");
  load();
});

load();
