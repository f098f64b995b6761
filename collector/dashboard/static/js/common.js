// Shared helpers of the dashboard pages. Transcript text is attacker-controlled: every string
// reaches the page through text nodes (el() / textContent), never through innerHTML.
"use strict";

const AVM = (() => {
  function el(tag, attrs, ...kids) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = String(value);
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else if (key === "dataset") Object.assign(node.dataset, value);
      else node.setAttribute(key, String(value));
    }
    for (const kid of kids.flat()) {
      if (kid === null || kid === undefined || kid === false) continue;
      node.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    }
    return node;
  }

  async function api(path) {
    const response = await fetch(path, { headers: { Accept: "application/json" } });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(body.error || `${response.status} ${response.statusText}`);
    return body;
  }

  function tokens(n) {
    if (n === null || n === undefined) return "—";
    if (n >= 1e9) return (n / 1e9).toFixed(2) + "B";
    if (n >= 1e6) return (n / 1e6).toFixed(2) + "M";
    if (n >= 1e4) return (n / 1e3).toFixed(1) + "k";
    return String(n);
  }

  function cost(x) {
    return x === null || x === undefined ? "—" : "$" + Number(x).toFixed(x < 1 ? 4 : 2);
  }

  function duration(ms) {
    if (ms === null || ms === undefined) return "";
    if (ms < 1000) return ms + " ms";
    if (ms < 60000) return (ms / 1000).toFixed(1) + " s";
    return Math.floor(ms / 60000) + " m " + Math.round((ms % 60000) / 1000) + " s";
  }

  function ago(stamp) {
    if (!stamp) return "—";
    const seconds = Math.max(0, (Date.now() - Date.parse(stamp)) / 1000);
    if (seconds < 60) return Math.round(seconds) + "s ago";
    if (seconds < 3600) return Math.round(seconds / 60) + "m ago";
    if (seconds < 86400) return Math.round(seconds / 3600) + "h ago";
    return Math.round(seconds / 86400) + "d ago";
  }

  function time(stamp) {
    return stamp ? new Date(stamp).toLocaleString() : "—";
  }

  function basename(path) {
    if (!path) return "—";
    const parts = String(path).split("/").filter(Boolean);
    return parts.length ? parts[parts.length - 1] : path;
  }

  function badge(status) {
    return el("span", { class: `badge status-${status || "unknown"}`, text: status || "unknown" });
  }

  function detail(event) {
    const args = event.tool_arguments;
    if (event.event_type === "status_change" && args && typeof args === "object") {
      return `${args.from} → ${args.to}${args.reason ? ": " + args.reason : ""}`;
    }
    return event.command || event.file_path || event.preview || event.tool_name ||
      (event.model ? `${event.model} · ${tokens((event.input_tokens || 0) + (event.output_tokens || 0))} tok` : "");
  }

  // The event stream: EventSource reconnects by itself after a network error and sends
  // Last-Event-ID; after an HTTP error it gives up, so we reopen it from the last id we saw.
  function stream({ session, afterId, brief, onEvent, onUpdate, onReopen }) {
    const live = document.getElementById("live");
    let last = afterId;
    let source = null;
    let opened = 0;
    function state(text, cls) {
      live.textContent = text;
      live.className = "live " + cls;
    }
    function open() {
      const query = new URLSearchParams();
      if (session !== undefined && session !== null) query.set("session", session);
      if (last !== undefined && last !== null) query.set("after_id", last);
      if (brief) query.set("fields", "brief");
      source = new EventSource("/api/events/stream?" + query.toString());
      source.addEventListener("open", () => {
        state("live", "on");
        if (opened++ > 0 && onReopen) onReopen(); // calls may have completed while we were away
      });
      source.addEventListener("event", (message) => {
        last = Number(message.lastEventId);
        onEvent(JSON.parse(message.data));
      });
      source.addEventListener("update", (message) => onUpdate(JSON.parse(message.data)));
      source.addEventListener("error", () => {
        state("reconnecting…", "off");
        if (source.readyState === EventSource.CLOSED) setTimeout(open, 2000);
      });
    }
    open();
    return { lastId: () => last };
  }

  function throttle(fn, ms) {
    let timer = null;
    return () => {
      if (timer === null) timer = setTimeout(() => { timer = null; fn(); }, ms);
    };
  }

  function table(columns, rows) {
    return el("table", { class: "grid" },
      el("thead", {}, el("tr", {}, columns.map((c) => el("th", { class: c.num ? "num" : "", text: c.label })))),
      el("tbody", {}, rows.map((row) => el("tr", {}, columns.map((c) => {
        const value = c.value(row);
        return el("td", { class: c.num ? "num" : "" }, value instanceof Node ? value : String(value ?? ""));
      })))));
  }

  function section(title, ...kids) {
    return el("section", { class: "card" }, el("h2", { text: title }), ...kids);
  }

  function fail(where, error) {
    where.replaceChildren(el("p", { class: "error", text: String(error.message || error) }));
  }

  // A time axis around the data: a single instant gets a minute around it instead of years.
  function timeRange(u, min, max) {
    if (min === null || max === null) return [min, max];
    if (max - min < 1) return [min - 30, max + 30];
    const pad = (max - min) * 0.02;
    return [min - pad, max + pad];
  }

  const palette = ["#3b82f6", "#10b981", "#f59e0b", "#ef4444", "#8b5cf6", "#ec4899", "#14b8a6",
    "#f97316", "#6366f1", "#84cc16", "#06b6d4", "#a855f7", "#64748b", "#eab308", "#22c55e"];

  document.querySelectorAll("[data-nav]").forEach((a) => {
    if (a.dataset.nav === document.body.dataset.page) a.classList.add("here");
  });

  return { el, api, tokens, cost, duration, ago, time, basename, badge, detail, stream, throttle,
    table, section, fail, palette, timeRange };
})();
