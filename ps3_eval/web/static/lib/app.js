// Shared helpers of the ps3-eval web tools: JSON calls with the reviewer's name, DOM building
// that never parses data as HTML, and a message line. No build step: loaded as a plain script.
"use strict";

const ps3 = (() => {
  const REVIEWER_KEY = "ps3-eval-reviewer";

  function reviewer() {
    return localStorage.getItem(REVIEWER_KEY) || "";
  }

  function setReviewer(name) {
    localStorage.setItem(REVIEWER_KEY, name.trim());
  }

  // A JSON call; resolves to {ok, status, data}. A stale save answers 409 with data.current.
  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    const name = reviewer();
    // Percent-encoded: a header carries Latin-1 only, and a name may be any text.
    if (name) headers["X-Reviewer"] = encodeURIComponent(name);
    const init = { method, headers, credentials: "same-origin" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (error) {
      return { ok: false, status: 0, data: { error: `the server cannot be reached (${error})` } };
    }
    let data = null;
    try {
      data = await response.json();
    } catch (error) {
      data = { error: `HTTP ${response.status}` };
    }
    return { ok: response.ok, status: response.status, data };
  }

  // el("div", {class: "x", onclick: f}, "text", child): text is always text, never markup.
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function say(text, kind) {
    const box = document.getElementById("message");
    if (!box) return;
    box.textContent = text || "";
    box.className = kind ? `message ${kind}` : "message";
  }

  // The name field of a page header (one name for every tool of the server).
  function reviewerField(onChange, label) {
    const input = el("input", {
      id: "reviewer", placeholder: "your name", value: reviewer(), maxlength: 64,
      title: "Saved with every change you make (audit log, progress per person)",
    });
    input.addEventListener("change", () => {
      setReviewer(input.value);
      if (onChange) onChange(input.value);
    });
    return el("label", { class: "reviewer" }, `${label || "Reviewer"} `, input);
  }

  // Links to the other tools this server hosts (nothing when it hosts one).
  async function sectionLinks(here) {
    const res = await api("GET", "/api/sections");
    if (!res.ok || res.data.length < 2) return el("span", {});
    return el("nav", { class: "sections" }, res.data.map((s) =>
      s.url === here ? el("strong", {}, s.title) : el("a", { href: s.url }, s.title)));
  }

  // True when a key press belongs to a text field rather than to the page's shortcuts.
  function typing(event) {
    const t = event.target;
    return t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT"
      || t.isContentEditable);
  }

  return { api, el, say, reviewer, setReviewer, reviewerField, sectionLinks, typing };
})();
