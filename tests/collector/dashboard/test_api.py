"""The JSON API over a store ingested from the fixture transcripts, through the real command."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.collector.dashboard.helpers import Dashboard
from tests.collector.service.daemon_harness import FIXTURES, Instance

EVENT_KEYS = {
    "id", "session_id", "agent_event_id", "event_type", "tool_call_id", "status",
    "timestamp", "tool_name", "file_path", "command", "duration_ms", "exit_code",
}  # fmt: skip
SESSION_KEYS = {
    "id", "session_key", "agent", "title", "project_dir", "git_branch", "model",
    "status", "started_at", "last_activity", "ended_at", "event_count",
    "total_tokens", "tokens", "cost_usd", "current_tool", "parent_session_id",
}  # fmt: skip
TOKENS = ("input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens",
          "reasoning_tokens", "total_tokens")  # fmt: skip


def db(instance: Instance, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    return instance.query(sql, params, strict=True)


def busiest(instance: Instance) -> int:
    return int(
        db(instance, "SELECT session_id FROM events GROUP BY 1 ORDER BY COUNT(*) DESC")[0][0]
    )


class TestSessions:
    def test_lists_every_session_with_counts_and_tokens(
        self, dash: Dashboard, fixture_instance: Instance
    ) -> None:
        """Each stored session is listed once, with its event count and token sum from the store."""
        body = dash.json("/api/sessions?limit=5000")
        stored = dict(db(fixture_instance, "SELECT id, session_key FROM sessions"))
        assert {item["id"]: item["session_key"] for item in body["items"]} == stored
        assert body["total"] == len(stored)
        assert set(body["items"][0]) >= SESSION_KEYS
        sid = busiest(fixture_instance)
        item = next(i for i in body["items"] if i["id"] == sid)
        count = db(fixture_instance, "SELECT COUNT(*) FROM events WHERE session_id = ?", sid)[0][0]
        assert item["event_count"] == count
        usage = db(fixture_instance, "SELECT COALESCE(SUM(input_tokens), 0) FROM events "
                   "WHERE session_id = ? AND event_type = 'usage'", sid)[0][0]  # fmt: skip
        assert item["tokens"]["input_tokens"] == usage

    def test_newest_activity_first(self, dash: Dashboard) -> None:
        """The list is ordered by last activity, newest first."""
        stamps = [
            i["last_activity"] for i in dash.json("/api/sessions")["items"] if i["last_activity"]
        ]
        assert stamps == sorted(stamps, reverse=True)

    @pytest.mark.parametrize("agent", ["claude-code", "codex"])
    def test_agent_filter(self, dash: Dashboard, fixture_instance: Instance, agent: str) -> None:
        """?agent= keeps that agent's sessions, all of them."""
        items = dash.json(f"/api/sessions?agent={agent}&limit=5000")["items"]
        expected = db(fixture_instance, "SELECT COUNT(*) FROM sessions WHERE agent = ?", agent)[0][
            0
        ]
        assert items
        assert len(items) == expected
        assert {i["agent"] for i in items} == {agent}

    def test_status_project_and_since_filters(
        self, dash: Dashboard, fixture_instance: Instance
    ) -> None:
        """?status= (comma list), ?project= (folder or its name) and ?since= filter the list."""
        statuses = {
            i["status"] for i in dash.json("/api/sessions?status=unknown,completed")["items"]
        }
        assert statuses <= {"unknown", "completed"}
        assert dash.json("/api/sessions?status=running")["items"] == []
        folder = db(fixture_instance, "SELECT project_dir FROM sessions "
                    "WHERE project_dir IS NOT NULL LIMIT 1")[0][0]  # fmt: skip
        by_folder = dash.json(f"/api/sessions?project={folder}")["items"]
        by_name = dash.json(f"/api/sessions?project={folder.rstrip('/').split('/')[-1]}")["items"]
        assert by_folder
        assert {i["project_dir"] for i in by_folder} == {folder}
        assert {i["id"] for i in by_folder} <= {i["id"] for i in by_name}
        # Sessions with no transcript time yet count from when they were first seen (now).
        recent = dash.json("/api/sessions?since=1h&limit=5000")["items"]
        assert all(i["last_activity"] is None and i["started_at"] is None for i in recent)
        assert len(dash.json("/api/sessions?since=2000-01-01&limit=5000")["items"]) > 5

    def test_one_session_and_its_subagents(
        self, dash: Dashboard, fixture_instance: Instance
    ) -> None:
        """/api/sessions/{id} is the session item plus its subagents."""
        parent, child = db(fixture_instance, "SELECT parent_session_id, id FROM sessions "
                           "WHERE parent_session_id IS NOT NULL LIMIT 1")[0]  # fmt: skip
        item = dash.json(f"/api/sessions/{parent}")
        assert item["id"] == parent
        assert child in [c["id"] for c in item["children"]]


class TestSessionViews:
    def test_events_pages_cover_the_session_without_gaps(
        self, dash: Dashboard, fixture_instance: Instance
    ) -> None:
        """Paging with after_id returns every row of the session once, in id order."""
        sid = busiest(fixture_instance)
        ids: list[int] = []
        after = 0
        while True:
            page = dash.json(f"/api/sessions/{sid}/events?after_id={after}&limit=50")
            ids += [e["id"] for e in page["items"]]
            assert set(page["items"][0]) >= EVENT_KEYS if page["items"] else True
            if page["next_after_id"] is None:
                break
            after = page["next_after_id"]
        stored = [
            r[0]
            for r in db(
                fixture_instance, "SELECT id FROM events WHERE session_id = ? ORDER BY id", sid
            )
        ]
        assert ids == stored

    def test_compact_fields(self, dash: Dashboard, fixture_instance: Instance) -> None:
        """fields=compact: the same rows without raw data and arguments."""
        sid = busiest(fixture_instance)
        full = dash.json(f"/api/sessions/{sid}/events?limit=200")["items"]
        compact = dash.json(f"/api/sessions/{sid}/events?limit=200&fields=compact")["items"]
        assert [e["id"] for e in compact] == [e["id"] for e in full]
        assert all("raw_data" not in e and "tool_arguments" not in e for e in compact)
        assert set(compact[0]) >= EVENT_KEYS
        for small, big in zip(compact, full, strict=True):
            assert small.items() <= big.items()

    def test_event_filters(self, dash: Dashboard, fixture_instance: Instance) -> None:
        """event_type, tool_name and status narrow the page."""
        sid, tool = db(fixture_instance, "SELECT session_id, tool_name FROM events "
                       "WHERE event_type = 'command' LIMIT 1")[0]  # fmt: skip
        items = dash.json(f"/api/sessions/{sid}/events?event_type=command&tool_name={tool}")[
            "items"
        ]
        assert items
        assert {(e["event_type"], e["tool_name"]) for e in items} == {("command", tool)}
        errors = dash.json(f"/api/sessions/{sid}/events?status=error&limit=5000")["items"]
        assert all(e["status"] == "error" for e in errors)

    def test_file_activity_tree_and_command_stats(
        self, dash: Dashboard, fixture_instance: Instance
    ) -> None:
        """The views for one session, the tree's sums matching them, commands with percentiles."""
        sid = db(fixture_instance, "SELECT session_id FROM events WHERE event_type = 'file_op' "
                 "GROUP BY 1 ORDER BY COUNT(*) DESC")[0][0]  # fmt: skip
        files = dash.json(f"/api/sessions/{sid}/file-activity")["items"]
        assert files
        assert {
            "file_path",
            "reads",
            "writes",
            "edits",
            "deletes",
            "last_modified",
        } <= set(files[0])
        tree = dash.json(f"/api/sessions/{sid}/file-tree")
        assert {"name", "type", "children", "reads", "writes", "edits", "deletes",
                "last_modified"} <= set(tree)  # fmt: skip
        for key in ("reads", "writes", "edits", "deletes"):
            assert tree[key] == sum(f[key] for f in files)
        leaves = []
        stack = [tree]
        while stack:
            node = stack.pop()
            if node["type"] == "file":
                leaves.append(node["path"])
            stack.extend(node["children"])
        assert sorted(leaves) == sorted("/" + f["file_path"].strip("/") for f in files)
        sid = db(fixture_instance, "SELECT session_id FROM events WHERE event_type = 'command' "
                 "GROUP BY 1 ORDER BY COUNT(*) DESC")[0][0]  # fmt: skip
        stats = dash.json(f"/api/sessions/{sid}/command-stats")["items"]
        assert stats
        assert {"command_category", "count", "p50_duration", "p95_duration", "failure_rate"} <= set(
            stats[0]
        )
        for row in stats:
            if row["p50_duration"] is not None:
                assert row["p50_duration"] <= row["p95_duration"]


class TestUsage:
    @pytest.mark.parametrize("group", ["daily", "weekly", "monthly", "model", "project", "branch",
                                       "session"])  # fmt: skip
    def test_shape_and_totals(self, dash: Dashboard, group: str) -> None:
        """The usage document: group, rows with token columns, totals equal to the rows' sums."""
        body = dash.json(f"/api/usage?group={group}")
        assert body["group"] == group
        assert {"rows", "totals", "pricing"} <= set(body)
        assert body["rows"]
        for row in body["rows"]:
            assert set(TOKENS) | {"cost_usd"} <= set(row)
            assert row["total_tokens"] >= row["input_tokens"] + row["output_tokens"]
        for key in TOKENS:
            assert body["totals"][key] == sum(r[key] for r in body["rows"])

    def test_same_total_in_every_group(self, dash: Dashboard) -> None:
        """Grouping differently never changes the total."""
        totals = {dash.json(f"/api/usage?group={g}")["totals"]["total_tokens"]
                  for g in ("daily", "model", "project")}  # fmt: skip
        assert len(totals) == 1
        assert totals.pop() > 0

    def test_since_and_until_forms_filter(self, dash: Dashboard) -> None:
        """``since``/``until`` take the CLI's forms and narrow the report to those days."""
        days = [row["date"] for row in dash.json("/api/usage?group=daily")["rows"]]
        first, last = min(days), max(days)
        assert first < last
        narrowed = dash.json(f"/api/usage?group=daily&since={last}&until={last}")["rows"]
        assert {row["date"] for row in narrowed} == {last}
        assert dash.json("/api/usage?group=daily&since=1d")["rows"] == []  # fixtures are older


class TestErrors:
    @pytest.mark.parametrize(("path", "word"), [
        ("/api/sessions?status=bogus", "status"),
        ("/api/sessions?agent=vim", "agent"),
        ("/api/sessions?limit=0", "limit"),
        ("/api/sessions?limit=abc", "limit"),
        ("/api/sessions?since=whenever", "since"),
        ("/api/sessions?stauts=running", "stauts"),
        ("/api/sessions/abc", "session id"),
        ("/api/sessions/1/events?after_id=-1", "after_id"),
        ("/api/sessions/1/events?limit=20001", "limit"),
        ("/api/sessions/1/events?fields=some", "fields"),
        ("/api/usage?group=hourly", "group"),
        ("/api/usage?since=soon", "since"),
        ("/api/events/stream?session=x", "session"),
        ("/api/events/stream?after_id=1.5", "after_id"),
        ("/api/events/stream?fields=everything", "fields"),
    ])  # fmt: skip
    def test_bad_parameter_is_400_with_a_message(
        self, dash: Dashboard, path: str, word: str
    ) -> None:
        status, body, _ = dash.get(path)
        assert status == 400
        assert word in body["error"]

    @pytest.mark.parametrize("suffix", ["", "/events", "/file-activity", "/file-tree",
                                        "/command-stats"])  # fmt: skip
    def test_unknown_session_is_404(self, dash: Dashboard, suffix: str) -> None:
        status, body, _ = dash.get(f"/api/sessions/999999{suffix}")
        assert status == 404
        assert "999999" in body["error"]

    def test_stream_of_unknown_session_is_404(self, dash: Dashboard) -> None:
        assert dash.get("/api/events/stream?session=999999")[0] == 404


class TestSecurity:
    @pytest.mark.parametrize("host", ["evil.example:{port}", "evil.example", "127.0.0.1:1",
                                      "localhost.evil.example:{port}"])  # fmt: skip
    def test_foreign_host_header_is_refused(self, dash: Dashboard, host: str) -> None:
        """DNS rebinding: a Host that is not ours is refused before any route runs."""
        status, _, _ = dash.get("/api/sessions", {"Host": host.format(port=dash.port)})
        assert 400 <= status < 500

    @pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "[::1]"])
    def test_loopback_names_with_the_port_are_served(self, dash: Dashboard, host: str) -> None:
        assert dash.get("/healthz", {"Host": f"{host}:{dash.port}"})[0] == 200

    def test_no_cors_and_a_strict_content_policy(self, dash: Dashboard) -> None:
        """Other origins get no CORS grant; pages allow only this origin's scripts."""
        _, _, head = dash.get("/api/sessions", {"Origin": "http://evil.example"})
        assert not any(k.lower().startswith("access-control-") for k in head)
        _, page, head = dash.get("/")
        csp = {k.lower(): v for k, v in head.items()}["content-security-policy"]
        assert "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert "<script>" not in page  # no inline script

    def test_writes_are_refused(self, dash: Dashboard) -> None:
        import urllib.error
        import urllib.request

        request = urllib.request.Request(dash.base + "/api/sessions", data=b"{}", method="POST")
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(request, timeout=5)
        caught.value.close()
        assert caught.value.code == 405

    def test_pages_and_assets_are_served(self, dash: Dashboard) -> None:
        for path in ("/", "/usage", "/sessions/1", "/static/vendor/uplot/uPlot.iife.min.js",
                     "/static/vendor/uplot/LICENSE", "/static/js/session.js"):  # fmt: skip
            assert dash.get(path)[0] == 200, path


class TestCommand:
    def test_non_loopback_host_needs_a_token(self, fixture_instance: Instance) -> None:
        done = fixture_instance.run("dashboard", "--host", "0.0.0.0", "--port", "0")
        assert done.returncode == 2
        assert "--token" in done.stderr

    def test_token_is_required_then_accepted(self, fixture_instance: Instance) -> None:
        """With a token: 401 without it; Bearer, ?token= (trading it for a cookie) and the
        cookie itself are accepted."""
        token = "t0ken-for-the-dashboard-test"
        dash = Dashboard(fixture_instance, "--token", token)
        try:
            assert dash.get("/api/sessions")[0] == 401
            assert dash.get("/api/sessions", {"Authorization": f"Bearer {token}"})[0] == 200
            assert dash.get("/api/sessions", {"Cookie": f"avm_token={token}"})[0] == 200
            assert (
                dash.get("/api/sessions", {"Authorization": "Bearer wrong-token-here!"})[0] == 401
            )
            assert dash.url.endswith(f"?token={token}")
        finally:
            assert dash.stop() == 0

    def test_sigint_exits_0(self, fixture_instance: Instance) -> None:
        import signal

        dash = Dashboard(fixture_instance)
        assert dash.get("/healthz")[0] == 200
        assert dash.stop(signal.SIGINT) == 0

    def test_missing_database_is_503_until_it_exists(self, home: Instance) -> None:
        """A dashboard started before the daemon ever ran answers, and says why."""
        dash = Dashboard(home)
        try:
            status, body, _ = dash.get("/api/sessions")
            assert status == 503
            assert "does not exist" in body["error"]
            assert dash.get("/healthz")[0] == 503
        finally:
            assert dash.stop() == 0

    def test_a_replaced_database_is_read_anew(self, home: Instance) -> None:
        """The database deleted and created again (another file): the running dashboard serves
        the new one, totals included, instead of the old file it had open."""
        project = home.claude / "-work-a"
        project.mkdir(parents=True)
        fixtures = sorted((FIXTURES / "claude").glob("drm-*.jsonl"))
        shutil.copy(fixtures[0], project / fixtures[0].name)
        assert home.run("run", "--once").returncode == 0
        dash = Dashboard(home)
        try:
            before = dash.json("/api/sessions")["items"]
            assert [i["session_key"] for i in before] == [f"claude-code:{fixtures[0].stem}"]
            for suffix in ("", "-wal", "-shm"):
                Path(f"{home.database}{suffix}").unlink(missing_ok=True)
            (project / fixtures[0].name).unlink()
            shutil.copy(fixtures[1], project / fixtures[1].name)
            assert home.run("run", "--once").returncode == 0
            expected = home.query("SELECT COUNT(*) FROM events", strict=True)[0][0]
            after = dash.json("/api/sessions")["items"]
            assert [i["session_key"] for i in after] == [f"claude-code:{fixtures[1].stem}"]
            assert after[0]["event_count"] == expected
        finally:
            assert dash.stop() == 0

    def test_never_writes_the_database(self, dash: Dashboard, fixture_instance: Instance) -> None:
        """After every endpoint has run, the store's change counter has not moved."""
        before = _change_counter(fixture_instance)
        for path in ("/api/sessions", "/api/sessions/1", "/api/sessions/1/events",
                     "/api/usage?group=model", "/healthz"):  # fmt: skip
            dash.get(path)
        assert _change_counter(fixture_instance) == before


def _change_counter(instance: Instance) -> bytes:
    conn = sqlite3.connect(f"file:{instance.database}?mode=ro", uri=True)
    try:
        conn.execute("PRAGMA wal_checkpoint")  # read-only: reports, changes nothing
        return instance.database.read_bytes()[24:28] + bytes(
            str(conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]), "ascii"
        )
    finally:
        conn.close()
