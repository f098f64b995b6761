"""The event stream: row ids as SSE ids, resume without gaps or repeats, filters, completions,
and survival of daemon and dashboard restarts — with the real daemon writing."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import orjson
import pytest

from tests.collector.dashboard.helpers import SSE, ClaudeSession, Dashboard
from tests.collector.service.daemon_harness import Instance, expect


def _ids(instance: Instance, sql: str, *params: object) -> list[int]:
    return [int(r[0]) for r in instance.query(sql, params, strict=True)]


class TestResume:
    def test_ids_are_row_ids_in_commit_order(
        self, dash: Dashboard, fixture_instance: Instance
    ) -> None:
        """From Last-Event-ID N the stream sends rows N+1, N+2, … each with its row id."""
        stored = _ids(fixture_instance, "SELECT id FROM events ORDER BY id")
        start = stored[-30]
        sse = SSE(dash, last_id=start)
        try:
            messages = sse.take(29)
        finally:
            sse.close()
        assert [int(m["id"]) for m in messages] == stored[-29:]
        assert all(m["event"] == "event" for m in messages)
        assert [orjson.loads(m["data"])["id"] for m in messages] == stored[-29:]

    def test_reconnect_with_last_event_id_has_no_gap_and_no_repeat(
        self, dash: Dashboard, fixture_instance: Instance
    ) -> None:
        stored = _ids(fixture_instance, "SELECT id FROM events ORDER BY id")
        first = SSE(dash, "?after_id=0")
        try:
            got = [int(m["id"]) for m in first.take(40)]
        finally:
            first.close()
        second = SSE(dash, "?after_id=0", last_id=got[-1])  # the header wins over the query
        try:
            got += [int(m["id"]) for m in second.take(40)]
        finally:
            second.close()
        assert got == stored[:80]

    def test_brief_fields(self, dash: Dashboard, fixture_instance: Instance) -> None:
        """``fields=brief`` carries what a sessions list needs, not the arguments or raw data."""
        sse = SSE(dash, "?fields=brief&after_id=0")
        try:
            messages = sse.take(20)
        finally:
            sse.close()
        for message in messages:
            item = orjson.loads(message["data"])
            assert item["id"] == int(message["id"])
            assert set(item) - {"tool_arguments"} == {"id", "session_id", "event_type",
                                                     "tool_name", "status", "timestamp",
                                                     "tool_call_id"}  # fmt: skip
            assert "raw_data" not in item

    def test_session_filter(self, dash: Dashboard, fixture_instance: Instance) -> None:
        sid = _ids(
            fixture_instance, "SELECT session_id FROM events GROUP BY 1 ORDER BY COUNT(*) DESC"
        )[0]
        rows = _ids(fixture_instance, "SELECT id FROM events WHERE session_id = ? ORDER BY id", sid)
        sse = SSE(dash, f"?session={sid}&after_id=0")
        try:
            messages = sse.take(25)
        finally:
            sse.close()
        assert [int(m["id"]) for m in messages] == rows[:25]
        assert {orjson.loads(m["data"])["session_id"] for m in messages} == {sid}


@pytest.fixture
def live(home: Instance) -> Iterator[tuple[Instance, ClaudeSession]]:
    """A running daemon with one live Claude transcript already ingested."""
    project = home.claude / "-tmp-live-project"
    project.mkdir(parents=True)
    session = ClaudeSession(project / "live.jsonl")
    call, line = session.call("echo warmup")
    session.append(line, session.result(call))
    daemon = home.start()
    home.wait_ready(daemon)
    expect(lambda: home.query("SELECT 1 FROM events WHERE tool_call_id = ? AND status = 'success'",
                              (call,)), 20)  # fmt: skip
    return home, session


def _next_event(sse: SSE, kind: str) -> dict[str, object]:
    for message in sse.messages():
        if message.get("event") == kind:
            return {**orjson.loads(message["data"]), "_id": message.get("id")}
    raise AssertionError("stream ended")


class TestLive:
    def test_completion_is_sent_again_as_an_update(
        self, live: tuple[Instance, ClaudeSession]
    ) -> None:
        """A tool call arrives pending; its result completes the row in place and the stream
        sends the row again as ``update`` without an id (the resume cursor does not move back)."""
        home, session = live
        dash = Dashboard(home)
        sse = SSE(dash)
        try:
            call, line = session.call("sleep 1 && echo done")
            session.append(line)
            first = _next_event(sse, "event")
            while first["tool_call_id"] != call:
                first = _next_event(sse, "event")
            assert first["status"] == "pending"
            assert first["_id"] == str(first["id"])
            session.append(session.result(call, "done"))
            update = _next_event(sse, "update")
            assert update["id"] == first["id"]
            assert update["status"] == "success"
            assert update["_id"] is None
        finally:
            sse.close()
            assert dash.stop() == 0

    def test_calls_pending_before_the_stream_opened_are_updated_too(
        self, live: tuple[Instance, ClaudeSession]
    ) -> None:
        """A page loads a pending call through the API, then opens its stream: the call's
        completion reaches it as an update."""
        home, session = live
        call, line = session.call("sleep 5")
        session.append(line)
        row = expect(lambda: home.query("SELECT id, session_id FROM events WHERE tool_call_id = ? "
                                        "AND status = 'pending'", (call,)), 20)[0]  # fmt: skip
        dash = Dashboard(home)
        sse = SSE(dash, f"?session={row[1]}")
        try:
            session.append(session.result(call, "slept"))
            update = _next_event(sse, "update")
            assert update["id"] == row[0]
            assert update["status"] == "success"
        finally:
            sse.close()
            assert dash.stop() == 0

    def test_stream_survives_daemon_and_dashboard_restarts(
        self, live: tuple[Instance, ClaudeSession]
    ) -> None:
        """The open stream keeps delivering after the daemon restarts; after the dashboard
        restarts, Last-Event-ID resumes with the rows committed while it was down."""
        home, session = live
        dash = Dashboard(home)
        sse = SSE(dash)
        try:
            home.procs[0].send_signal(signal.SIGTERM)
            assert home.procs[0].wait(20) == 0
            call, line = session.call("echo after daemon restart")
            session.append(line)
            home.wait_ready(home.start())
            event = _next_event(sse, "event")
            while event["tool_call_id"] != call:
                event = _next_event(sse, "event")
            last = int(str(event["_id"]))
        finally:
            sse.close()
            assert dash.stop() == 0
        missed, line = session.call("echo while the dashboard was down")
        session.append(line)
        expect(lambda: home.query("SELECT 1 FROM events WHERE tool_call_id = ?", (missed,)), 20)
        dash = Dashboard(home)
        sse = SSE(dash, last_id=last)
        try:
            resumed = _next_event(sse, "event")
            assert int(str(resumed["_id"])) == last + 1
            ids = [int(r[0]) for r in home.query("SELECT id FROM events WHERE id > ? ORDER BY id",
                                                  (last,), strict=True)]  # fmt: skip
            rest = [resumed] + [_next_event(sse, "event") for _ in ids[1:]]
            assert [int(str(e["_id"])) for e in rest] == ids
            assert missed in [e["tool_call_id"] for e in rest]
        finally:
            sse.close()
            assert dash.stop() == 0
