// Usage: tokens and cost per day, agent, model, project and branch (the `usage` report's numbers).
"use strict";

(() => {
  const { el, api, tokens, cost, stream, throttle, section, fail, palette } = AVM;
  const main = document.getElementById("main");
  let since = "30d";
  let chart = null;
  const chartBox = el("div", { id: "usage-daily", class: "chart" });
  const totalsBox = el("div", { id: "usage-totals", class: "facts" });
  const boxes = { agent: el("div", { id: "usage-agent" }), model: el("div", { id: "usage-model" }),
    project: el("div", { id: "usage-project" }), branch: el("div", { id: "usage-branch" }),
    daily: el("div", { id: "usage-days" }) };
  const range = el("select", { id: "since", "aria-label": "period", onchange: (e) => { since = e.target.value; load(); } },
    [["7d", "last 7 days"], ["30d", "last 30 days"], ["90d", "last 90 days"], ["", "all time"]]
      .map(([v, t]) => el("option", { value: v, text: t, selected: v === since })));

  main.replaceChildren(el("h1", { text: "Usage" }), el("div", { class: "controls" }, range), totalsBox,
    section("Tokens per day", chartBox),
    el("div", { class: "columns" }, section("Per agent", boxes.agent), section("Per model", boxes.model)),
    el("div", { class: "columns" }, section("Per project", boxes.project), section("Per branch", boxes.branch)),
    section("Per day", boxes.daily));

  const columns = (key, label) => [
    { label, value: (r) => r[key] || "—" },
    { label: "input", num: true, value: (r) => tokens(r.input_tokens) },
    { label: "output", num: true, value: (r) => tokens(r.output_tokens) },
    { label: "cache write", num: true, value: (r) => tokens(r.cache_creation_tokens) },
    { label: "cache read", num: true, value: (r) => tokens(r.cache_read_tokens) },
    { label: "reasoning", num: true, value: (r) => tokens(r.reasoning_tokens) },
    { label: "total", num: true, value: (r) => tokens(r.total_tokens) },
    { label: "cost", num: true, value: (r) => cost(r.cost_usd) },
  ];
  const KEYS = ["input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens", "reasoning_tokens", "total_tokens"];

  function merge(rows, key) {
    // Sum rows that share a key (reports may split a key by agent); cost stays null if any is.
    const out = new Map();
    for (const r of rows) {
      const k = r[key] ?? "—";
      const m = out.get(k) || { [key]: k, cost_usd: 0, ...Object.fromEntries(KEYS.map((x) => [x, 0])) };
      for (const x of KEYS) m[x] += r[x] || 0;
      m.cost_usd = m.cost_usd === null || r.cost_usd === null || r.cost_usd === undefined ? null : m.cost_usd + r.cost_usd;
      out.set(k, m);
    }
    return [...out.values()].sort((a, b) => b.total_tokens - a.total_tokens);
  }

  async function group(name) {
    const query = new URLSearchParams({ group: name });
    if (since) query.set("since", since);
    return api("/api/usage?" + query.toString());
  }

  function drawDaily(rows) {
    const days = [...new Set(rows.map((r) => r.date))].sort();
    const agents = [...new Set(rows.map((r) => r.agent || "all"))].sort();
    const xs = days.map((d) => Date.parse(d + "T12:00:00") / 1000);
    const series = agents.map((a) => days.map((d) => rows.filter((r) => r.date === d && (r.agent || "all") === a)
      .reduce((s, r) => s + r.total_tokens, 0)));
    if (chart) chart.destroy();
    chartBox.replaceChildren();
    if (!days.length) { chartBox.append(el("p", { class: "muted", text: "No usage in this period." })); return; }
    chart = new uPlot({ width: Math.max(300, chartBox.clientWidth || 900), height: 260,
      scales: { x: { time: true } },
      axes: [{}, { size: 60, values: (u, vals) => vals.map((v) => tokens(v)) }],
      series: [{}, ...agents.map((a, i) => ({ label: a, stroke: palette[i], fill: palette[i] + "33",
        paths: uPlot.paths.bars({ size: [0.6, 60] }), points: { show: false } }))] }, [xs, ...series], chartBox);
  }

  async function load() {
    try {
      const [daily, model, project, branch] = await Promise.all(["daily", "model", "project", "branch"].map(group));
      const t = daily.totals;
      totalsBox.replaceChildren(el("span", { class: "fact" }, "total ", el("strong", { text: tokens(t.total_tokens) })),
        el("span", { class: "fact" }, "cost ", el("strong", { text: cost(t.cost_usd) })),
        el("span", { class: "fact muted", text: `prices: ${daily.pricing.source} ${daily.pricing.version || ""}` }));
      drawDaily(daily.rows);
      boxes.agent.replaceChildren(AVM.table(columns("agent", "agent"), merge(daily.rows, "agent")));
      boxes.model.replaceChildren(AVM.table(columns("model", "model"), merge(model.rows, "model")));
      boxes.project.replaceChildren(AVM.table(columns("project", "project"), merge(project.rows, "project")));
      boxes.branch.replaceChildren(AVM.table(columns("branch", "branch"), merge(branch.rows, "branch")));
      boxes.daily.replaceChildren(AVM.table(columns("date", "date"), merge(daily.rows, "date").sort((a, b) => (a.date < b.date ? 1 : -1))));
      document.body.dataset.ready = "1";
    } catch (error) { fail(boxes.daily, error); }
  }

  load();
  const refresh = throttle(load, 5000);
  stream({ session: null, afterId: null, brief: true, onEvent: (e) => { if (e.event_type === "usage") refresh(); }, onUpdate: () => {} });
})();
