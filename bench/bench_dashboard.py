#!/usr/bin/env python3
"""Dashboard benchmark on a store of 1,000,000 events in 2,000 sessions.

What it measures, against the real ``agent-viz-monitor dashboard`` and ``run`` subprocesses:

- API latency over one keep-alive HTTP connection, ``--requests`` each (default 50), after one
  untimed warm-up: ``/api/sessions`` (the Now page's call, 500 newest sessions with their
  totals), and pages of 1,000 events of the 20,000-event session (first page and a middle page,
  ``after_id``). Also the first ``/api/sessions`` after start (the running totals' initial sum).
- The Session page of that 20,000-event session in Debian's Chromium: navigation start to
  ``body[data-ready]`` (every event loaded, timeline drawn, replay and list ready).
- Append → visible: the daemon runs on the same store; a Claude ``Bash`` line is appended to a
  live transcript (``--appends`` times, one at a time, 50 ms apart) while its Session page is
  open; a MutationObserver in the page stamps when the row appears. The reference in the same
  run is the collector alone: append → row committed (seen by a read-only SQLite poll).

    .venv/bin/python bench/bench_dashboard.py [--runs 3] [--requests 50] [--appends 200]
        [--store PATH] [--json]

The seeded store is kept at ``--store`` (default ``$TMPDIR/avm-bench-dashboard-1M.db``) and
copied into each run's HOME, so later invocations skip the ~1 minute of seeding. Goals (issue
14): API p95 <= 100 ms, page interactive <= 1.5 s, append → visible p99 <= 500 ms. Quote the
medians of the runs with the load average printed beside them.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_store import Project
from daemon_home import CLI, DaemonHome, machine_note, percentile

from store import EventStore
from store.records import Event

EVENTS, SESSIONS, BIG = 1_000_000, 2_000, 20_000
CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-gpu",
    "--disable-dev-shm-usage",
]
_CATEGORIES = ("git", "test", "build", "package", "run", "search", "filesystem")


# seeding --------------------------------------------------------------------------------------
def _events(
    rng: random.Random, key: str, count: int, start_ms: int, project: Project
) -> list[Event]:
    out = []
    for i in range(count):
        ms = start_ms + i * 1500
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}Z"
        common: dict[str, Any] = {
            "session_id": key,
            "timestamp": stamp,
            "agent_event_id": f"e{i}-{rng.getrandbits(64):x}",
        }
        kind = rng.random()
        call = f"toolu_{rng.getrandbits(96):024x}"
        if kind < 0.4:
            out.append(_succeeded(common, call, "file_op", "Read", file_path=project.pick(rng),
                                  operation=rng.choice(("read", "edit", "write")),
                                  duration_ms=rng.randrange(5, 500)))  # fmt: skip
        elif kind < 0.7:
            out.append(_succeeded(common, call, "command", "Bash",
                                  command=f"pytest -q tests/test_{i % 50}.py", exit_code=0,
                                  command_category=rng.choice(_CATEGORIES),
                                  duration_ms=rng.randrange(50, 50_000)))  # fmt: skip
        elif kind < 0.85:
            out.append(
                Event(
                    **common,
                    event_type="usage",
                    model="claude-sonnet-4-5",
                    input_tokens=rng.randrange(1, 50),
                    output_tokens=rng.randrange(10, 900),
                    cache_read_tokens=rng.randrange(1000, 90_000),
                )
            )
        else:
            out.append(Event(**common, event_type="message", preview="Let me look at the tests"))
    return out


def _succeeded(
    common: dict[str, Any], call: str, event_type: str, tool_name: str, **fields: Any
) -> Event:
    """A tool call that finished successfully (the draws in ``fields`` keep their order)."""
    return Event(**common, event_type=event_type, tool_name=tool_name, tool_call_id=call,
                 status="success", **fields)  # fmt: skip


def seed(path: Path) -> None:
    """1M events: one 20,000-event session, the rest spread over 1,999 sessions."""
    rng = random.Random(14)
    tmp = path.with_suffix(".tmp")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{tmp}{suffix}").unlink(missing_ok=True)
    started = time.monotonic()
    with EventStore(tmp, manual_checkpoint=True) as store:
        keys = [f"claude-code:{uuid.UUID(int=rng.getrandbits(128))}" for _ in range(SESSIONS)]
        for key in keys:
            store.create_session(
                session_key=key,
                agent="claude-code",
                status="completed",
                project_dir=f"/home/dev/src/{key[-6:]}",
                git_branch="main",
                title=f"bench session {key[-6:]}",
            )
        each = (EVENTS - BIG) // (SESSIONS - 1)
        start = 1_760_000_000_000
        for n, key in enumerate(keys):
            count = BIG if n == 0 else each + (1 if n <= (EVENTS - BIG) % (SESSIONS - 1) else 0)
            project = Project(rng, key)
            for offset in range(0, count, 5000):
                store.insert_events(
                    _events(rng, key, min(5000, count - offset), start + offset * 1500, project)
                )
            start += 60_000
            if n % 100 == 0:
                store.checkpoint("TRUNCATE")
        store.checkpoint("TRUNCATE")
    tmp.rename(path)
    print(
        f"seeded {EVENTS:,} events / {SESSIONS:,} sessions in {time.monotonic() - started:.0f} s",
        file=sys.stderr,
    )


# the dashboard --------------------------------------------------------------------------------
class Dashboard:
    def __init__(self, env: dict[str, str], db: Path) -> None:
        self.proc = subprocess.Popen(
            [str(CLI), "dashboard", "--port", "0", "--db", str(db)],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        found = re.search(r"http://([\d.]+):(\d+)/", self.proc.stdout.readline())
        assert found, "dashboard printed no URL"
        self.host, self.port = found[1], int(found[2])
        self.base = found[0].rstrip("/")
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)

    def get_ms(self, path: str) -> float:
        start = time.perf_counter()
        self.conn.request("GET", path)
        response = self.conn.getresponse()
        body = response.read()
        elapsed = (time.perf_counter() - start) * 1000
        assert response.status == 200, (path, response.status, body[:200])
        return elapsed

    def get(self, path: str) -> Any:
        self.conn.request("GET", path)
        return json.loads(self.conn.getresponse().read())

    def close(self) -> None:
        self.conn.close()
        self.proc.terminate()
        self.proc.wait(15)


def api_run(dash: Dashboard, big: int, requests: int) -> dict[str, float]:
    first = dash.get_ms("/api/sessions")
    ids = [e["id"] for e in dash.get(f"/api/sessions/{big}/events?limit=5000")["items"]]
    middle = ids[len(ids) // 2]
    paths = {
        "sessions": "/api/sessions",
        "events_first": f"/api/sessions/{big}/events?limit=1000",
        "events_middle": f"/api/sessions/{big}/events?limit=1000&after_id={middle}",
    }
    out = {"sessions_first_ms": first}
    for name, path in paths.items():
        dash.get_ms(path)
        times = [dash.get_ms(path) for _ in range(requests)]
        out[f"{name}_p50_ms"] = statistics.median(times)
        out[f"{name}_p95_ms"] = percentile(times, 0.95)
    return out


# the browser ----------------------------------------------------------------------------------
_OBSERVER = """
window.__seen = [];
new MutationObserver((records) => {
  const now = performance.timeOrigin + performance.now();
  for (const r of records) for (const n of r.addedNodes) {
    if (n.nodeType === 1 && n.matches && n.matches('tr.event-row')) {
      const cell = n.querySelector('td.detail');
      if (cell) window.__seen.push([cell.textContent, now]);
    }
  }
}).observe(document.getElementById('events'), {childList: true});
"""


def page_ready_s(browser: Any, url: str) -> float:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    start = time.perf_counter()
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']", timeout=60_000)
    elapsed = time.perf_counter() - start
    page.close()
    return elapsed


def claude_line(session: str, command: str) -> bytes:
    stamp = (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        + f".{int(time.time() * 1000) % 1000:03d}Z"
    )
    block = {
        "type": "tool_use",
        "id": f"toolu_{uuid.uuid4().hex[:20]}",
        "name": "Bash",
        "input": {"command": command, "description": "bench"},
    }
    obj = {
        "type": "assistant",
        "sessionId": session,
        "uuid": str(uuid.uuid4()),
        "parentUuid": None,
        "timestamp": stamp,
        "cwd": "/tmp/bench-live",
        "version": "2.1.14",
        "message": {
            "id": f"msg_{uuid.uuid4().hex}",
            "role": "assistant",
            "content": [block],
            "model": "claude-sonnet-4-5",
            "usage": {"input_tokens": 1, "output_tokens": 1},
        },
        "requestId": f"req_{uuid.uuid4().hex}",
    }
    return (json.dumps(obj) + "\n").encode()


def append_run(home: DaemonHome, browser: Any, dash: Dashboard, appends: int) -> dict[str, float]:
    transcript = home.claude_root / "-tmp-bench-live" / "live.jsonl"
    session = str(uuid.uuid4())
    with transcript.open("ab") as handle:
        handle.write(claude_line(session, "echo warm"))
    reader = sqlite3.connect(f"file:{home.database}?mode=ro", uri=True)
    sid = None
    deadline = time.monotonic() + 60
    while sid is None and time.monotonic() < deadline:
        row = reader.execute(
            "SELECT id FROM sessions WHERE session_key = 'claude-code:live'"
        ).fetchone()
        sid = (
            row[0]
            if row
            and reader.execute(
                "SELECT 1 FROM events WHERE session_id = ? LIMIT 1", (row[0],)
            ).fetchone()
            else None
        )
        time.sleep(0.05)
    assert sid is not None, "the live session was not ingested"
    page = browser.new_page()
    page.goto(f"{dash.base}/sessions/{sid}")
    page.wait_for_selector("body[data-ready='1']")
    page.wait_for_selector("#live.on")
    page.evaluate(_OBSERVER)
    committed, sent = [], {}
    for n in range(appends):
        command = f"echo bench-{n}-{uuid.uuid4().hex[:8]}"
        line = claude_line(session, command)
        sent[command] = time.time()
        start = time.perf_counter()
        with transcript.open("ab") as handle:
            handle.write(line)
        while not reader.execute(
            "SELECT 1 FROM events WHERE command = ? AND session_id = ?", (command, sid)
        ).fetchone():
            time.sleep(0.0005)
        committed.append((time.perf_counter() - start) * 1000)
        time.sleep(0.05)
    time.sleep(1.0)
    seen: dict[str, float] = {}
    for text, at in page.evaluate("window.__seen"):
        seen.setdefault(text, at)  # the first time the row appeared (later redraws re-add it)
    page.close()
    reader.close()
    visible = [seen[c] - sent[c] * 1000 for c in sent if c in seen]
    missing = len(sent) - len(visible)
    return {
        "committed_p50_ms": statistics.median(committed),
        "committed_p99_ms": percentile(committed, 0.99),
        "visible_p50_ms": statistics.median(visible),
        "visible_p95_ms": percentile(visible, 0.95),
        "visible_p99_ms": percentile(visible, 0.99),
        "missing": float(missing),
    }


# main -----------------------------------------------------------------------------------------
def one_run(store: Path, args: argparse.Namespace, browser: Any) -> dict[str, float]:
    home = DaemonHome(prefix="avm-bench-dash-")
    try:
        home.data_dir.mkdir(parents=True, mode=0o700)
        shutil.copyfile(store, home.database)
        home.database.chmod(0o600)
        (home.claude_root / "-tmp-bench-live").mkdir(parents=True)
        dash = Dashboard(home.env, home.database)
        try:
            big = dash.get("/api/sessions?limit=5000")
            big_id = max(big["items"], key=lambda s: s["event_count"])["id"]
            result = api_run(dash, big_id, args.requests)
            ready = [page_ready_s(browser, f"{dash.base}/sessions/{big_id}") for _ in range(3)]
            result["page_ready_s"] = statistics.median(ready)
            home.start()
            result.update(append_run(home, browser, dash, args.appends))
        finally:
            dash.close()
        return result
    finally:
        home.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--appends", type=int, default=200)
    parser.add_argument(
        "--store", type=Path, default=Path(tempfile.gettempdir()) / "avm-bench-dashboard-1M.db"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not args.store.exists():
        seed(args.store)
    from playwright.sync_api import sync_playwright

    flags = [*FLAGS, "--no-sandbox"] if os.geteuid() == 0 else FLAGS
    runs = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=flags)
        for n in range(args.runs):
            runs.append(one_run(args.store, args, browser))
            print(
                f"run {n + 1}: " + ", ".join(f"{k} {v:.1f}" for k, v in runs[-1].items()),
                file=sys.stderr,
            )
        browser.close()
    medians = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
    if args.json:
        print(json.dumps({"medians": medians, "runs": runs, "machine": machine_note()}))
        return
    print(
        f"dashboard on {EVENTS:,} events / {SESSIONS:,} sessions, medians of {len(runs)} runs "
        f"({machine_note()}):"
    )
    print(
        f"  /api/sessions p50 {medians['sessions_p50_ms']:.1f} ms, "
        f"p95 {medians['sessions_p95_ms']:.1f} ms "
        f"(first after start {medians['sessions_first_ms']:.0f} ms)"
    )
    for page in ("events_first", "events_middle"):
        print(
            f"  /events ({page}) p50 {medians[page + '_p50_ms']:.1f} ms, "
            f"p95 {medians[page + '_p95_ms']:.1f} ms"
        )
    print(f"  Session page ({BIG:,} events) interactive {medians['page_ready_s']:.2f} s")
    print(
        f"  append -> visible p50 {medians['visible_p50_ms']:.0f} ms, p95 "
        f"{medians['visible_p95_ms']:.0f} ms, p99 {medians['visible_p99_ms']:.0f} ms "
        f"(collector alone: committed p50 {medians['committed_p50_ms']:.1f} ms, "
        f"p99 {medians['committed_p99_ms']:.1f} ms; missing {medians['missing']:.0f})"
    )


if __name__ == "__main__":
    main()
