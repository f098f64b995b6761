// Now: every session with its live status; the ones waiting for the person or crashed first.
"use strict";

(() => {
  const { el, api, tokens, cost, ago, basename, badge, stream, throttle, fail } = AVM;
  const main = document.getElementById("main");
  const ATTENTION = new Set(["waiting", "crashed"]);
  const ACTIVE = new Set(["running", "waiting", "idle"]);
  const known = new Map(); // session id -> last status seen, to notice transitions
  let sessions = [];
  let firstLoad = true;
  let limit = 500;
  let total = 0;
  const filters = { status: "", agent: "", text: "", activeOnly: false };

  const banner = el("div", { id: "attention", class: "attention", role: "status", "aria-live": "assertive" });
  const notifyButton = el("button", { type: "button", onclick: askNotifications });
  const body = el("div", { id: "sessions" });
  const controls = el("div", { class: "controls" },
    select("status", ["", "running", "waiting", "idle", "crashed", "completed", "stopped", "unknown"]),
    select("agent", ["", ...document.body.dataset.agents.split(",")]),
    el("input", { type: "search", placeholder: "filter project, branch, title…",
      oninput: (e) => { filters.text = e.target.value.toLowerCase(); render(); } }),
    el("label", {}, el("input", { type: "checkbox",
      onchange: (e) => { filters.activeOnly = e.target.checked; render(); } }), " active only"),
    notifyButton);
  main.replaceChildren(el("h1", { text: "Sessions now" }), banner, controls, body);
  updateNotifyButton();

  function select(name, values) {
    return el("select", { name, "aria-label": name,
      onchange: (e) => { filters[name] = e.target.value; render(); } },
    values.map((v) => el("option", { value: v, text: v || `any ${name}` })));
  }

  function askNotifications() {
    if (!("Notification" in window)) return;
    Notification.requestPermission().then(updateNotifyButton);
  }

  function updateNotifyButton() {
    const state = "Notification" in window ? Notification.permission : "unsupported";
    notifyButton.textContent = state === "granted" ? "notifications on"
      : state === "denied" ? "notifications blocked" : "notify me when a session needs me";
    notifyButton.disabled = state !== "default";
  }

  async function load() {
    try {
      const data = await api(`/api/sessions?limit=${limit}`);
      sessions = data.items;
      total = data.total;
      for (const s of sessions) {
        const before = known.get(s.id);
        if (!firstLoad && before !== s.status && ATTENTION.has(s.status)) alert(s);
        known.set(s.id, s.status);
      }
      firstLoad = false;
      render();
      document.body.dataset.ready = "1";
    } catch (error) {
      fail(body, error);
    }
  }

  function alert(session) {
    const what = session.status === "waiting" ? "is waiting for you" : "crashed";
    const name = session.title || basename(session.project_dir) || session.session_key;
    banner.classList.remove("flash");
    void banner.offsetWidth;
    banner.classList.add("flash");
    if ("Notification" in window && Notification.permission === "granted") {
      const note = new Notification(`${session.agent} ${what}`, { body: String(name), tag: `avm-${session.id}` });
      note.onclick = () => { window.focus(); location.href = `/sessions/${session.id}`; };
    }
  }

  function matches(s) {
    if (filters.status && s.status !== filters.status) return false;
    if (filters.agent && s.agent !== filters.agent) return false;
    if (filters.activeOnly && !ACTIVE.has(s.status)) return false;
    if (filters.text) {
      const hay = [s.project_dir, s.git_branch, s.title, s.session_key, s.model].join(" ").toLowerCase();
      if (!hay.includes(filters.text)) return false;
    }
    return true;
  }

  function ordered(list) {
    // Parents in activity order, each followed by its subagents; attention first.
    const ids = new Set(list.map((s) => s.id));
    const children = new Map();
    for (const s of list) {
      if (s.parent_session_id && ids.has(s.parent_session_id)) {
        if (!children.has(s.parent_session_id)) children.set(s.parent_session_id, []);
        children.get(s.parent_session_id).push(s);
      }
    }
    const roots = list.filter((s) => !(s.parent_session_id && ids.has(s.parent_session_id)));
    roots.sort((a, b) => Number(ATTENTION.has(b.status)) - Number(ATTENTION.has(a.status)));
    const out = [];
    const visit = (s, depth) => {
      out.push([s, depth]);
      for (const kid of children.get(s.id) || []) visit(kid, depth + 1);
    };
    roots.forEach((s) => visit(s, 0));
    return out;
  }

  function render() {
    const needy = sessions.filter((s) => ATTENTION.has(s.status));
    banner.replaceChildren(...needy.map((s) => el("a", { href: `/sessions/${s.id}`, class: `needs status-${s.status}` },
      badge(s.status), " ", s.agent, " · ", s.title || basename(s.project_dir), " · ", ago(s.last_activity))));
    banner.hidden = needy.length === 0;
    const rows = ordered(sessions.filter(matches));
    body.replaceChildren(el("table", { class: "grid sessions" },
      el("thead", {}, el("tr", {}, ["status", "agent", "project", "branch", "title", "current tool",
        "last activity", "events", "tokens", "cost"].map((h) => el("th", { text: h })))),
      el("tbody", {}, rows.map(([s, depth]) => row(s, depth)))));
    if (!rows.length) body.append(el("p", { class: "muted", text: "No sessions match." }));
    if (total > sessions.length) {
      body.append(el("p", { class: "muted" }, `${sessions.length} most recent of ${total} sessions `,
        el("button", { type: "button", id: "more-sessions", text: "show more",
          onclick: () => { limit = Math.min(5000, limit * 4); load(); } })));
    }
  }

  function row(s, depth) {
    const tool = s.current_tool;
    return el("tr", { class: `session-row row-${s.status} depth-${Math.min(depth, 3)}`,
      dataset: { id: String(s.id), status: s.status } },
    el("td", {}, badge(s.status)),
    el("td", { text: s.agent }),
    el("td", { title: s.project_dir || "" }, depth ? "↳ " : "", basename(s.project_dir)),
    el("td", { text: s.git_branch || "—" }),
    el("td", { class: "title" }, el("a", { href: `/sessions/${s.id}`, text: s.title || s.session_key })),
    el("td", { class: "detail", title: tool ? String(tool.detail || "") : "" },
      tool ? `${tool.tool_name || "tool"} ${tool.detail ? "· " + tool.detail : ""}` : "—"),
    el("td", { title: s.last_activity || "", text: ago(s.last_activity) }),
    el("td", { class: "num", text: String(s.event_count) }),
    el("td", { class: "num", text: tokens(s.total_tokens) }),
    el("td", { class: "num", text: cost(s.cost_usd) }));
  }

  const refresh = throttle(load, 700);
  load();
  stream({
    session: null,
    afterId: null,
    brief: true,
    onEvent: (event) => {
      if (event.event_type === "status_change") {
        const s = sessions.find((x) => x.id === event.session_id);
        const to = event.tool_arguments && event.tool_arguments.to;
        if (s && to) { s.status = to; known.set(s.id, to); if (ATTENTION.has(to)) alert(s); render(); }
      }
      refresh();
    },
    onUpdate: refresh,
  });
  setInterval(render, 10000); // keep "x ago" honest
})();
