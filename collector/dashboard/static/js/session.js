// Session: timeline, events with durations, files (tree + heatmap), command stats, usage over
// time and a replay slider. Events arrive live from the stream; completions update in place.
"use strict";

(() => {
  const { el, api, tokens, cost, duration, time, basename, badge, detail, stream, throttle, section, fail, palette, timeRange } = AVM;
  const main = document.getElementById("main");
  const id = Number(location.pathname.split("/").filter(Boolean).pop());
  const events = new Map(); // row id -> event
  let ordered = []; // events by time
  let replayAt = null; // index into ordered, null = live (follow the end)
  let playing = null;
  let listLimit = 300;
  let chart = null;
  let usageChart = null;

  const head = el("div", { class: "session-head" });
  const timeline = el("div", { id: "timeline", class: "chart" });
  const lanesLegend = el("div", { class: "legend" });
  const slider = el("input", { id: "replay", type: "range", min: "0", max: "0", value: "0", step: "1",
    "aria-label": "replay position", oninput: () => seek(Number(slider.value)) });
  const playButton = el("button", { id: "play", type: "button", text: "▶ play", onclick: togglePlay });
  const speed = el("select", { id: "speed", "aria-label": "replay speed" },
    ["1", "4", "16", "64"].map((v) => el("option", { value: v, text: `${v} events/s` })));
  const replayInfo = el("div", { id: "replay-event", class: "replay-event" });
  const replayCount = el("span", { id: "replay-count", class: "muted" });
  const list = el("tbody", { id: "events" });
  const more = el("button", { type: "button", text: "show older", onclick: () => { listLimit += 500; renderList(); } });
  const heatmap = el("div", { id: "heatmap", class: "heatmap" });
  const tree = el("div", { id: "file-tree", class: "tree" });
  const commands = el("div", { id: "command-stats" });
  const usage = el("div", { id: "usage-chart", class: "chart" });

  main.replaceChildren(head,
    section("Timeline", lanesLegend, timeline),
    section("Replay",
      el("div", { class: "controls" },
        el("button", { type: "button", text: "◀", title: "previous event", id: "step-back", onclick: () => step(-1) }),
        playButton,
        el("button", { type: "button", text: "▶|", title: "next event", id: "step-forward", onclick: () => step(1) }),
        speed,
        el("button", { type: "button", text: "live", id: "to-live", onclick: () => seek(null) }),
        replayCount),
      slider, replayInfo),
    el("div", { class: "columns" },
      section("Files (heatmap: size = activity, colour = last operation, fading with age)", heatmap),
      section("File tree", tree)),
    el("div", { class: "columns" },
      section("Commands", commands),
      section("Tokens over time", usage)),
    section("Events", el("div", { class: "scroll" }, el("table", { class: "grid events" },
      el("thead", {}, el("tr", {}, ["time", "type", "tool", "detail", "status", "duration"].map((h) => el("th", { text: h })))),
      list)), more));

  // ---- lanes of the timeline: one per command category, file operation and event type ----
  function lane(e) {
    if (e.event_type === "command") return "cmd: " + (e.command_category || "other");
    if (e.event_type === "file_op") return "file: " + (e.operation || "other");
    if (e.event_type === "tool_call") return "tool";
    return e.event_type;
  }
  const laneColor = new Map();
  function colorOf(name) {
    if (!laneColor.has(name)) laneColor.set(name, palette[laneColor.size % palette.length]);
    return laneColor.get(name);
  }

  function reorder() {
    ordered = [...events.values()].sort((a, b) => (a.timestamp < b.timestamp ? -1 : a.timestamp > b.timestamp ? 1 : a.id - b.id));
  }

  function drawTimeline() {
    const laneOf = ordered.map(lane);
    const lanes = [...new Set(laneOf)].sort();
    lanes.forEach(colorOf);
    const position = new Map(lanes.map((name, index) => [name, index]));
    const xs = ordered.map((e) => Date.parse(e.timestamp) / 1000);
    const series = lanes.map(() => new Array(ordered.length).fill(null));
    laneOf.forEach((name, i) => { const index = position.get(name); series[index][i] = index; });
    const width = Math.max(300, timeline.clientWidth || 900);
    const opts = {
      width, height: Math.max(140, 28 * lanes.length + 60),
      legend: { show: false },
      cursor: { drag: { x: true, y: false } },
      scales: { x: { time: true, range: timeRange }, y: { range: [-0.5, Math.max(0.5, lanes.length - 0.5)] } },
      axes: [{}, { size: 110, splits: () => lanes.map((_, i) => i), values: (u, vals) => vals.map((v) => lanes[v] ?? "") }],
      series: [{}, ...lanes.map((name) => ({ label: name, stroke: colorOf(name), fill: colorOf(name), paths: () => null,
        points: { show: true, size: 7, stroke: colorOf(name), fill: colorOf(name) } }))],
      hooks: { draw: [drawReplayLine] },
    };
    if (chart) chart.destroy();
    chart = xs.length ? new uPlot(opts, [xs, ...series], timeline) : null;
    lanesLegend.replaceChildren(...lanes.map((name) => el("span", { class: "key" },
      el("i", { class: "swatch", dataset: { color: colorOf(name) } }), name)));
    lanesLegend.querySelectorAll(".swatch").forEach((s) => { s.style.background = s.dataset.color; });
  }

  function drawReplayLine(u) {
    if (replayAt === null || !ordered[replayAt]) return;
    const x = u.valToPos(Date.parse(ordered[replayAt].timestamp) / 1000, "x", true);
    const ctx = u.ctx;
    ctx.save();
    ctx.strokeStyle = "#111827";
    ctx.lineWidth = 2 * devicePixelRatio;
    ctx.beginPath();
    ctx.moveTo(x, u.bbox.top);
    ctx.lineTo(x, u.bbox.top + u.bbox.height);
    ctx.stroke();
    ctx.restore();
  }

  // ---- event list: newest first, duration bars, outcome ----
  function eventRow(e) {
    const bar = el("span", { class: "bar" });
    if (e.duration_ms !== null && e.duration_ms !== undefined) {
      bar.style.width = Math.min(100, (Math.log10(e.duration_ms + 1) / Math.log10(600001)) * 100) + "%";
    }
    return el("tr", { class: `event-row type-${e.event_type} st-${e.status || "none"}`, dataset: { id: String(e.id) } },
      el("td", { class: "when", title: e.timestamp, text: new Date(e.timestamp).toLocaleTimeString() }),
      el("td", { text: e.event_type }),
      el("td", { text: e.tool_name || "" }),
      el("td", { class: "detail", title: String(detail(e)) , text: detail(e) }),
      el("td", {}, e.status ? badge(e.status) : ""),
      el("td", { class: "duration" }, ["file_op", "command", "tool_call"].includes(e.event_type)
        ? [el("span", { class: "bar-track" }, bar), " ", duration(e.duration_ms)] : ""));
  }

  function renderList() {
    const visible = replayAt === null ? ordered : ordered.slice(0, replayAt + 1);
    const newest = visible.slice(-listLimit).reverse();
    list.replaceChildren(...newest.map(eventRow));
    more.hidden = visible.length <= listLimit;
  }

  // ---- files: heatmap from the events up to the replay position ----
  function renderHeatmap() {
    const upto = replayAt === null ? ordered : ordered.slice(0, replayAt + 1);
    const files = new Map();
    for (const e of upto) {
      if (e.event_type !== "file_op" || !e.file_path) continue;
      const f = files.get(e.file_path) || { path: e.file_path, count: 0, last: null, lastOp: null };
      f.count += 1;
      f.last = e.timestamp;
      f.lastOp = e.operation;
      files.set(e.file_path, f);
    }
    const ref = upto.length ? Date.parse(upto[upto.length - 1].timestamp) : Date.now();
    const max = Math.max(1, ...[...files.values()].map((f) => f.count));
    const tiles = [...files.values()].sort((a, b) => b.count - a.count).slice(0, 400).map((f) => {
      const tile = el("div", { class: `tile op-${f.lastOp || "read"}`, title: `${f.path}\n${f.count} operations, last ${f.lastOp}` },
        el("span", { text: basename(f.path) }), el("small", { text: String(f.count) }));
      const age = (ref - Date.parse(f.last)) / 1000;
      tile.style.opacity = String(Math.max(0.3, 1 - age / 60));
      tile.style.flexBasis = (70 + 110 * (f.count / max)) + "px";
      return tile;
    });
    heatmap.replaceChildren(...tiles);
    if (!tiles.length) heatmap.append(el("p", { class: "muted", text: "No file operations yet." }));
  }

  function treeNode(node) {
    const counts = `r${node.reads} w${node.writes} e${node.edits} d${node.deletes}`;
    const label = el("span", { class: `node ${node.type}` }, node.name, " ", el("small", { class: "muted", text: counts }));
    if (node.type === "file") return el("li", {}, label);
    return el("li", {}, el("details", { open: true }, el("summary", {}, label),
      el("ul", {}, node.children.map(treeNode))));
  }

  async function loadTree() {
    try {
      const root = await api(`/api/sessions/${id}/file-tree`);
      tree.replaceChildren(root.children.length ? el("ul", {}, treeNode(root)) : el("p", { class: "muted", text: "No files." }));
    } catch (error) { fail(tree, error); }
  }

  async function loadCommands() {
    try {
      const data = await api(`/api/sessions/${id}/command-stats`);
      commands.replaceChildren(data.items.length ? AVM.table([
        { label: "category", value: (r) => r.command_category },
        { label: "count", num: true, value: (r) => r.count },
        { label: "p50", num: true, value: (r) => duration(r.p50_duration) },
        { label: "p95", num: true, value: (r) => duration(r.p95_duration) },
        { label: "failure rate", num: true, value: (r) => (r.failure_rate === null ? "—" : (100 * r.failure_rate).toFixed(0) + "%") },
      ], data.items) : el("p", { class: "muted", text: "No commands." }));
    } catch (error) { fail(commands, error); }
  }

  async function loadUsage() {
    try {
      const data = await api(`/api/sessions/${id}/usage`);
      if (usageChart) { usageChart.destroy(); usageChart = null; }
      usage.replaceChildren();
      if (!data.items.length) { usage.append(el("p", { class: "muted", text: "No token usage recorded." })); return; }
      let sum = 0;
      const xs = [], ys = [];
      for (const r of data.items) {
        sum += r.input_tokens + r.output_tokens + r.cache_creation_tokens + r.cache_read_tokens;
        xs.push(Date.parse(r.timestamp) / 1000);
        ys.push(sum);
      }
      usageChart = new uPlot({ width: Math.max(300, usage.clientWidth || 500), height: 220, legend: { show: false },
        scales: { x: { time: true, range: timeRange } },
        axes: [{}, { size: 60, values: (u, vals) => vals.map((v) => tokens(v)) }],
        series: [{}, { label: "tokens (cumulative)", stroke: "#3b82f6", fill: "rgba(59,130,246,0.15)" }] }, [xs, ys], usage);
    } catch (error) { fail(usage, error); }
  }

  // ---- replay ----
  function seek(index) {
    replayAt = index === null || index >= ordered.length - 1 ? null : Math.max(0, index);
    slider.max = String(Math.max(0, ordered.length - 1));
    slider.value = String(replayAt === null ? Math.max(0, ordered.length - 1) : replayAt);
    const current = ordered[replayAt === null ? ordered.length - 1 : replayAt];
    const position = replayAt === null ? ordered.length : replayAt + 1;
    replayCount.textContent = `event ${position} of ${ordered.length}${replayAt === null ? " (live)" : ""}`;
    replayInfo.replaceChildren(...(current ? [
      el("span", { class: "when", text: time(current.timestamp) }), " ",
      el("strong", { text: current.event_type }), " ",
      el("span", { text: current.tool_name || "" }), " ",
      el("span", { class: "detail", text: detail(current) }), " ",
      current.status ? badge(current.status) : ""] : [el("span", { class: "muted", text: "No events." })]));
    renderList();
    renderHeatmap();
    if (chart) chart.redraw(false, false);
  }

  function step(delta) {
    const at = replayAt === null ? ordered.length - 1 : replayAt;
    seek(Math.min(ordered.length - 1, Math.max(0, at + delta)));
  }

  function togglePlay() {
    if (playing) { clearInterval(playing); playing = null; playButton.textContent = "▶ play"; return; }
    if (replayAt === null) seek(0);
    playButton.textContent = "❚❚ pause";
    playing = setInterval(() => {
      if (replayAt === null || replayAt >= ordered.length - 1) { togglePlay(); return; }
      step(1);
    }, 1000 / Number(speed.value));
  }

  // ---- header ----
  function renderHead(s) {
    const kids = (s.children || []).map((c) => el("a", { href: `/sessions/${c.id}`, class: "chip", text: c.title || c.session_key }));
    head.replaceChildren(...[
      el("h1", {}, s.title || s.session_key),
      el("div", { class: "facts" },
        badge(s.status), " ",
        fact("agent", s.agent), fact("project", s.project_dir), fact("branch", s.git_branch),
        fact("model", s.model), fact("started", time(s.started_at)), fact("last activity", time(s.last_activity)),
        fact("ended", s.ended_at ? time(s.ended_at) : null), fact("events", s.event_count),
        fact("tokens", tokens(s.total_tokens)), fact("cost", cost(s.cost_usd)),
        s.parent_session_id ? el("a", { href: `/sessions/${s.parent_session_id}`, text: "parent session" }) : null),
      kids.length ? el("div", { class: "facts" }, "subagents: ", kids) : null].filter(Boolean));
  }
  function fact(label, value) {
    if (value === null || value === undefined || value === "") return null;
    return el("span", { class: "fact" }, el("small", { class: "muted", text: label + " " }), String(value));
  }

  // ---- loading and live updates ----
  const redrawAll = throttle(() => { reorder(); drawTimeline(); seek(replayAt); }, 250);
  const refreshHead = throttle(async () => { try { renderHead(await api(`/api/sessions/${id}`)); } catch (e) { /* keep */ } }, 1000);
  const refreshTree = throttle(loadTree, 1000);
  const refreshCommands = throttle(loadCommands, 1000);
  const refreshUsage = throttle(loadUsage, 1000);

  function take(e, isUpdate) {
    const had = events.has(e.id);
    events.set(e.id, e);
    if (!had && replayAt === null) {
      // Show a new event at once; the ordered views follow on the next redraw.
      list.prepend(eventRow(e));
    } else if (isUpdate) {
      const old = list.querySelector(`tr[data-id="${e.id}"]`);
      if (old) old.replaceWith(eventRow(e));
    }
    redrawAll();
    refreshHead();
    if (e.event_type === "file_op") refreshTree();
    if (e.event_type === "command") refreshCommands();
    if (e.event_type === "usage") refreshUsage();
  }

  async function recheckPending() {
    const pending = [...events.values()].filter((e) => e.status === "pending").map((e) => e.id);
    if (!pending.length) return;
    let after = Math.min(...pending) - 1;
    for (;;) {
      const page = await api(`/api/sessions/${id}/events?after_id=${after}&limit=5000&fields=compact`);
      for (const e of page.items) {
        const known = events.get(e.id);
        if (known && known.status !== e.status) take(e, true);
      }
      if (page.next_after_id === null) break;
      after = page.next_after_id;
    }
  }

  async function load() {
    const PAGE = 10000;
    const first = api(`/api/sessions/${id}/events?after_id=0&limit=${PAGE}&fields=compact`); // in parallel
    first.catch(() => {});
    let session;
    try {
      session = await api(`/api/sessions/${id}`);
    } catch (error) { fail(main, error); return; }
    renderHead(session);
    let after = 0;
    let streamFrom = null;
    for (;;) {
      const page = await (after === 0 ? first : api(`/api/sessions/${id}/events?after_id=${after}&limit=${PAGE}&fields=compact`));
      if (streamFrom === null) streamFrom = page.stream_from;
      for (const e of page.items) events.set(e.id, e);
      if (page.next_after_id === null) break;
      after = page.next_after_id;
    }
    reorder();
    drawTimeline();
    seek(null);
    document.body.dataset.ready = "1";
    stream({ session: id, afterId: streamFrom, onEvent: (e) => take(e, false), onUpdate: (e) => take(e, true),
      onReopen: () => { recheckPending().catch(() => {}); } });
    loadTree();
    loadCommands();
    loadUsage();
  }
  load();
})();
