"""CopilotParser against the Copilot CLI fixtures, the restart contract, quirk 22 and hostile input.

Expected values come from a plain ``json`` scan of each fixture written here, independently of the
parser, and are compared with the parser's records after collapsing them the way the store does
(``store/records.py``): events unique by key (first insert wins) with token counts merged by
maximum, tool results applied in order per call id, session facts upserted.
"""

from __future__ import annotations

import json
import posixpath
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from msgspec.structs import asdict, replace

from collector.parsers.categories import categorize_command
from collector.parsers.copilot import CopilotParser
from collector.parsers.sources import SourceFile, classify
from store.records import Event, ParseProblem, Record, SessionInfo, SessionStatus, ToolResult

ROOT = Path(__file__).resolve().parents[2] / "fixtures" / "copilot"
FIXTURES = sorted(ROOT.rglob("*.jsonl"))
SMALL = ROOT / "schema-coverage" / "jazzyalex-copilot-small.jsonl"
QIAOLEI = ROOT / "qiaolei81-session-demo-EXCERPT.jsonl"
LEGACY = ROOT / "legacy-timeline" / "guideai-copilot-timeline-converted.jsonl"
TOOL_TYPES = ("file_op", "command", "tool_call")
SOURCE = SourceFile(agent="copilot", path="/s/events.jsonl", session_id="copilot:s")
TS = "2026-01-02T03:04:05.678Z"

# The spec, restated from transcript-formats.md §3.4/§6 rather than imported from the parser.
SHELLS = {"bash", "powershell", "shell"}
FILE_TOOLS = {"view": "read", "create": "write", "edit": "edit", "glob": "search", "grep": "search"}
EDITOR = {"view": "read", "create": "write", "str_replace": "edit", "insert": "edit"}
PRIMARY = {  # record types that yield a row keyed by the line's id
    "session.start": "session_start",
    "session.resume": "session_start",
    "session.shutdown": "session_end",
    "session.error": "error",
    "abort": "error",
    "session.compaction_complete": "compaction",
    "session.truncation": "compaction",
    "user.message": "message",
    "assistant.message": "message",
    "tool.execution_start": "tool",
    "user": "message",
    "copilot": "message",
}


# -- helpers: feeding lines and collapsing records like the store -----------------------------


def source_for(path: Path) -> SourceFile:
    found = classify("copilot", str(ROOT), str(path))
    assert found is not None
    return found


def split_lines(data: bytes) -> list[tuple[bytes, int]]:
    """Complete lines (``b"\\n"`` only) with their byte offsets, as the tailer hands them over."""
    lines, offset = [], 0
    while (end := data.find(b"\n", offset)) >= 0:
        lines.append((data[offset:end], offset))
        offset = end + 1
    return lines


def feed(parser: CopilotParser, lines: list[tuple[bytes, int]]) -> list[Record]:
    records: list[Record] = []
    for line, offset in lines:
        records.extend(parser.parse_line(line, offset))
    return records


def parse_path(path: Path) -> list[Record]:
    return feed(CopilotParser(source_for(path)), split_lines(path.read_bytes()))


def jsonl(*objects: Any) -> bytes:
    return b"".join(json.dumps(o).encode() + b"\n" for o in objects)


@dataclass
class Store:
    """What the store would hold after applying the records in order."""

    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: dict[str, Event] = field(default_factory=dict)
    problems: list[ParseProblem] = field(default_factory=list)
    statuses: list[SessionStatus] = field(default_factory=list)

    def tools(self) -> dict[str, Event]:
        return {k: e for k, e in self.events.items() if e.event_type in TOOL_TYPES}

    def of_type(self, event_type: str) -> dict[str, Event]:
        return {k: e for k, e in self.events.items() if e.event_type == event_type}


TOKENS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens")


def collapse(records: list[Record]) -> Store:
    """Apply records as the store does; results update every row with their call id."""
    store = Store()
    results: list[ToolResult] = []
    for record in records:
        if isinstance(record, SessionInfo):
            merge_session(store.sessions.setdefault(record.session_id, {}), record)
        elif isinstance(record, Event):
            touch(store.sessions.setdefault(record.session_id, {}), record.timestamp)
            old = store.events.get(record.agent_event_id)
            store.events[record.agent_event_id] = record if old is None else max_tokens(old, record)
        elif isinstance(record, ToolResult):
            results.append(record)
        elif isinstance(record, SessionStatus):
            store.statuses.append(record)
        else:
            store.problems.append(record)
    for result in results:  # in order: a result for a row stored later waits, then applies
        for key, event in store.events.items():
            if event.tool_call_id == result.tool_call_id and event.event_type in TOOL_TYPES:
                store.events[key] = apply_result(event, result)
    return store


def touch(row: dict[str, Any], stamp: str) -> None:
    """As the store does: event timestamps widen the session's activity span."""
    row["first_seen"] = min(row.get("first_seen") or stamp, stamp)
    row["last_activity"] = max(row.get("last_activity") or stamp, stamp)


def merge_session(row: dict[str, Any], info: SessionInfo) -> None:
    for name, value in asdict(info).items():
        if value is None:
            continue
        stored = row.get(name)
        if stored is not None and name == "first_seen":
            row[name] = min(value, stored)
        elif stored is not None and name == "last_activity":
            row[name] = max(value, stored)
        else:
            row[name] = value


def max_tokens(old: Event, new: Event) -> Event:
    merged: dict[str, Any] = {}
    for name in TOKENS:
        counts = [c for c in (getattr(old, name), getattr(new, name)) if c is not None]
        merged[name] = max(counts, default=None)
    return replace(old, **merged)


def apply_result(event: Event, result: ToolResult) -> Event:
    duration = result.duration_ms
    if duration is None:
        duration = millis(result.timestamp) - millis(event.timestamp)
    return replace(event, status=result.status, duration_ms=duration, exit_code=result.exit_code)


def millis(ts: str) -> int:
    return int(datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp() * 1000)


# -- the independent scan ------------------------------------------------------------------------


def scan(path: Path) -> dict[str, Any]:
    """What a fixture holds, by plain json: rows by key, tool calls, results and token totals."""
    objs = [json.loads(line) for line, _ in split_lines(path.read_bytes())]
    keys: dict[str, str] = {}  # first line wins a key, as in the store
    calls: dict[str, dict[str, Any]] = {}
    finals: dict[str, dict[str, Any]] = {}
    started: dict[str, str] = {}
    cwd = None
    for obj in objs:
        kind, data = obj["type"], obj.get("data", {})
        if kind == "session.start":
            cwd = data.get("context", {}).get("cwd")
        if kind in PRIMARY and obj["id"] not in keys:
            keys[obj["id"]] = kind
            if kind == "tool.execution_start":
                calls[obj["id"]] = expected_call(data["toolName"], data["arguments"], cwd, data)
        if kind.startswith("tool_call_"):
            key = f"tool:{obj['callId']}"
            calls.setdefault(key, expected_call(obj["name"], obj["arguments"], cwd, obj))
            keys.setdefault(key, kind)
        if kind == "tool.execution_start":
            started.setdefault(data["toolCallId"], obj["timestamp"])
        if kind == "tool.execution_complete":
            own = data.get("toolTelemetry", {}).get("metrics", {}).get("durationMs")
            since = started.get(data["toolCallId"])
            finals[data["toolCallId"]] = {
                "status": "success" if data["success"] else "error",
                "duration_ms": own if own is not None else elapsed(since, obj["timestamp"]),
            }
        if kind == "tool_call_completed":
            code = re.findall(r"<exited with exit code (\d+)>", obj["result"].get("log", ""))
            finals[obj["callId"]] = {
                "status": "success" if obj["result"]["type"] == "success" else "error",
                "exit_code": int(code[-1]) if code else None,
                "duration_ms": 0,  # one entry records both call and result
            }
    return {"objs": objs, "keys": keys, "calls": calls, "finals": finals}


def elapsed(start: str | None, end: str) -> int | None:
    try:
        return None if start is None else millis(end) - millis(start)
    except ValueError:  # the synthetic fixture's "[trimmed for fixture]" times
        return None


def expected_call(name: str, args: Any, cwd: str | None, data: dict[str, Any]) -> dict[str, Any]:
    if isinstance(args, str):
        args = json.loads(args)
    op = EDITOR.get(args.get("command")) if name == "str_replace_editor" else FILE_TOOLS.get(name)
    path = args.get("path") or args.get("file_path")
    if path and not path.startswith("/") and cwd:
        path = posixpath.normpath(posixpath.join(cwd, path))
    if op == "search" and not path:
        path = cwd
    kind = "command" if name in SHELLS else "file_op" if op else "tool_call"
    return {
        "tool_name": name,
        "event_type": kind,
        "operation": op,
        "file_path": path if op else None,
        "command": args.get("command") if kind == "command" else None,
        "tool_call_id": data.get("toolCallId") or data.get("callId"),
    }


def output_totals(objs: list[dict[str, Any]]) -> dict[str, int]:
    """Output tokens per model: a segment's shutdown total, else the sum of its messages."""
    totals: dict[str, int] = {}
    segment: dict[str, int] = {}
    model = None
    for obj in objs:
        kind, data = obj["type"], obj.get("data", {})
        model = data.get("selectedModel") or data.get("newModel") or model
        if kind in ("session.start", "session.resume"):
            add(totals, segment)
            segment = {}
        if kind == "assistant.message" and data.get("outputTokens"):
            name = data.get("model") or model or ""
            segment[name] = segment.get(name, 0) + data["outputTokens"]
        if kind == "session.shutdown":
            reported = shutdown_output(data, model)
            add(totals, {m: max(n, segment.get(m, 0)) for m, n in reported.items()})
            add(totals, {m: n for m, n in segment.items() if m not in reported})
            segment = {}
    add(totals, segment)
    return {m: n for m, n in totals.items() if n}


def shutdown_output(data: dict[str, Any], model: str | None) -> dict[str, int]:
    usage = {
        m: v["usage"]["outputTokens"]
        for m, v in data.get("modelMetrics", {}).items()
        if isinstance(v, dict) and "usage" in v
    }
    if usage:
        return usage
    details = data.get("tokenDetails", {})
    name = data.get("currentModel") or model or ""
    return {name: details.get("output", {}).get("tokenCount", 0)}


def add(totals: dict[str, int], more: dict[str, int]) -> None:
    for name, count in more.items():
        totals[name] = totals.get(name, 0) + count


def output_by_model(store: Store) -> dict[str, int]:
    totals: dict[str, int] = {}
    for event in store.of_type("usage").values():
        add(totals, {event.model or "": event.output_tokens or 0})
    return {m: n for m, n in totals.items() if n}


# -- fixtures ------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.relative_to(ROOT).as_posix())
class TestFixtures:
    """Every fixture parses cleanly and agrees with the independent scan."""

    def test_no_problems(self, path: Path) -> None:
        """Real and synthetic files hold no line the parser has to give up on."""
        assert collapse(parse_path(path)).problems == []

    def test_one_session(self, path: Path) -> None:
        """All segments of a file stay one session, keyed by the path."""
        store = collapse(parse_path(path))
        assert list(store.sessions) == [source_for(path).session_id]

    def test_rows_by_key(self, path: Path) -> None:
        """One row per record the spec maps, keyed by the line's id (first wins)."""
        expected = scan(path)["keys"]
        store = collapse(parse_path(path))
        primary = {k for k, e in store.events.items() if e.event_type != "usage"}
        assert primary == set(expected)
        for key, kind in expected.items():
            mapped = PRIMARY.get(kind, "tool")
            actual = store.events[key].event_type
            assert actual in TOOL_TYPES if mapped == "tool" else actual == mapped, key

    def test_tool_calls(self, path: Path) -> None:
        """Name, kind, operation, absolute path and command of every tool call."""
        expected = scan(path)["calls"]
        tools = collapse(parse_path(path)).tools()
        actual = {
            k: {n: getattr(e, n) for n in next(iter(expected.values()), {})}
            for k, e in tools.items()
        }
        assert actual == expected
        for event in tools.values():
            if event.command is not None:
                assert event.command_category == categorize_command(event.command)
            assert event.file_path is None or event.file_path.startswith("/")

    def test_results(self, path: Path) -> None:
        """Each completed call carries its last result; the others stay pending."""
        found = scan(path)
        tools = collapse(parse_path(path)).tools()
        for event in tools.values():
            final = found["finals"].get(event.tool_call_id)
            assert event.status == (final["status"] if final else "pending"), event
            if final and "exit_code" in final:
                assert event.exit_code == final["exit_code"]
            if final:
                assert event.duration_ms == final["duration_ms"], event

    def test_output_tokens(self, path: Path) -> None:
        """Usage rows add up to the shutdown totals without counting a token twice (quirk 21)."""
        store = collapse(parse_path(path))
        assert output_by_model(store) == output_totals(scan(path)["objs"])


class TestSessionFacts:
    """What session.start, resume, model changes and shutdown say about the session."""

    def test_real_start(self) -> None:
        """cwd, branch, version and agent session id come from session.start."""
        path = ROOT / "session-state" / "049410b4-c1df-44ee-87a5-caa1c349091e" / "events.jsonl"
        row = collapse(parse_path(path)).sessions["copilot:049410b4-c1df-44ee-87a5-caa1c349091e"]
        assert row["agent_session_id"] == "049410b4-c1df-44ee-87a5-caa1c349091e"
        assert row["project_dir"] == "/work"
        assert row["git_branch"] == "master"
        assert row["agent_version"] == "1.0.78"
        assert row["model"] == "qwen3:0.6b"
        assert row["first_seen"] == "2026-08-05T20:40:13.471Z"  # startTime, before the line
        assert row["last_activity"] == "2026-08-05T20:41:27.949Z"

    def test_resume_keeps_the_project(self) -> None:
        """A resume in another directory moves the cwd, not the session's project."""
        text = jsonl(
            {
                "type": "session.start",
                "id": "a",
                "timestamp": TS,
                "data": {"sessionId": "x", "context": {"cwd": "/one"}},
            },
            {
                "type": "session.resume",
                "id": "b",
                "timestamp": TS,
                "data": {"context": {"cwd": "/two"}},
            },
            {
                "type": "tool.execution_start",
                "id": "c",
                "timestamp": TS,
                "data": {"toolCallId": "t", "toolName": "view", "arguments": {"path": "f.py"}},
            },
        )
        store = collapse(feed(CopilotParser(SOURCE), split_lines(text)))
        assert store.sessions["copilot:s"]["project_dir"] == "/one"
        assert store.events["c"].file_path == "/two/f.py"
        assert [e.event_type for e in store.events.values()].count("session_start") == 2

    def test_qiaolei_residual(self) -> None:
        """The excerpt lost a message; the shutdown's residual restores its output tokens."""
        usage = collapse(parse_path(QIAOLEI)).of_type("usage")
        shutdown = [e for k, e in usage.items() if k.count(":") == 2]
        opus = next(e for e in shutdown if e.model == "claude-opus-4.7-1m-internal")
        assert (opus.input_tokens, opus.output_tokens) == (8, 521 - 333 - 63)
        assert (opus.cache_read_tokens, opus.cache_creation_tokens) == (54064, 27594)

    def test_errors_and_compaction(self) -> None:
        """session.error and abort are errors; truncation and compaction are compactions."""
        errors = [r for r in parse_path(SMALL) if isinstance(r, Event) and r.event_type == "error"]
        assert [json.loads(e.tool_arguments or "")["errorType"] for e in errors] == [
            "query",
            "abort",
        ]
        text = jsonl(
            {
                "type": "session.compaction_complete",
                "id": "k",
                "timestamp": TS,
                "data": {"success": True, "preCompactionTokens": 9},
            }
        )
        compaction = collapse(feed(CopilotParser(SOURCE), split_lines(text))).events["k"]
        assert compaction.event_type == "compaction"
        assert json.loads(compaction.tool_arguments or "")["preCompactionTokens"] == 9

    def test_messages_carry_sizes_only(self) -> None:
        """A message row says who and how long, never the text."""
        store = collapse(parse_path(SMALL))
        row = store.events["e7"]
        assert json.loads(row.tool_arguments or "") == {"role": "user", "chars": 14}
        assert "List the files" not in (row.raw_data or "") + (row.tool_arguments or "")

    def test_exit_code_marker(self) -> None:
        """A shell result's ``<exited with exit code N>`` marker becomes the exit code."""
        text = jsonl(
            {
                "type": "tool.execution_start",
                "id": "a",
                "timestamp": TS,
                "data": {"toolCallId": "t", "toolName": "bash", "arguments": {"command": "false"}},
            },
            {
                "type": "tool.execution_complete",
                "id": "b",
                "timestamp": TS,
                "data": {
                    "toolCallId": "t",
                    "success": True,
                    "result": {"content": "\n<exited with exit code 1>"},
                },
            },
        )
        row = collapse(feed(CopilotParser(SOURCE), split_lines(text))).events["a"]
        assert (row.event_type, row.command, row.exit_code, row.status) == (
            "command",
            "false",
            1,
            "success",
        )

    def test_legacy_document(self) -> None:
        """A whole history-session-state document reads like the converted timeline lines."""
        objs = [json.loads(line) for line, _ in split_lines(LEGACY.read_bytes())]
        document = json.dumps({"sessionId": "x", "timeline": objs}).encode()
        from_document = collapse(CopilotParser(source_for(LEGACY)).parse_document(document))
        from_lines = collapse(parse_path(LEGACY))
        assert from_document.events == {
            k: replace(e, source_offset=0) for k, e in from_lines.events.items()
        }

    def test_non_timeline_document(self) -> None:
        """A JSONL parser asked for a document returns nothing, or a problem for bad bytes."""
        parser = CopilotParser(SOURCE)
        assert parser.parse_document(b'{"a": 1}') == []
        assert [type(r) for r in parser.parse_document(b"{nope")] == [ParseProblem]

    def test_missing_timestamp(self) -> None:
        """A row with no time at all, and none seen before, is a problem, not a guess."""
        line = json.dumps({"type": "user.message", "id": "u", "data": {"content": "hi"}})
        records = CopilotParser(SOURCE).parse_line(line.encode(), 0)
        assert [(type(r), getattr(r, "reason", "")) for r in records] == [
            (ParseProblem, "missing timestamp")
        ]


# -- restart equivalence -------------------------------------------------------------------------


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_restart_equivalence(path: Path) -> None:
    """Head, a parser rebuilt from ``state()`` (through JSON), tail == the whole file at once."""
    lines = split_lines(path.read_bytes())
    whole = feed(CopilotParser(source_for(path)), lines)
    for cut in sorted({1, len(lines) // 3, len(lines) // 2, len(lines) - 1}):
        head = CopilotParser(source_for(path))
        first = feed(head, lines[:cut])
        state = json.loads(json.dumps(head.state()))
        rest = feed(CopilotParser(source_for(path), state=state), lines[cut:])
        assert first + rest == whole, cut
        assert collapse(first + rest) == collapse(whole)


# -- quirk 22: events split by literal newlines --------------------------------------------------


def split_event(obj: dict[str, Any]) -> list[bytes]:
    """The event as Copilot writes it when a string holds a literal newline (quirk 22)."""
    return json.dumps(obj).replace("\\n", "\n").encode().split(b"\n")


START = {
    "type": "tool.execution_start",
    "id": "s1",
    "timestamp": TS,
    "data": {"toolCallId": "t1", "toolName": "bash", "arguments": {"command": "echo a\nb\nc"}},
}
AFTER = {"type": "user.message", "id": "u2", "timestamp": TS, "data": {"content": "next"}}


def with_offsets(parts: list[bytes]) -> list[tuple[bytes, int]]:
    return split_lines(b"".join(p + b"\n" for p in parts))


class TestSplitEvents:
    """Quirk 22: join a failed line with the next; report fragments that never complete."""

    def test_recovered(self) -> None:
        """A three-way split event is one row at the fragment's offset, with no problem."""
        parts = [
            json.dumps(AFTER | {"id": "u1"}).encode(),
            *split_event(START),
            json.dumps(AFTER).encode(),
        ]
        lines = with_offsets(parts)
        records = feed(CopilotParser(SOURCE), lines)
        store = collapse(records)
        assert store.problems == []
        assert store.events["s1"].command == "echo a\nb\nc"
        assert store.events["s1"].source_offset == lines[1][1]
        assert set(store.events) == {"u1", "s1", "u2"}

    def test_carriage_return(self) -> None:
        """A CRLF inside the string leaves a raw ``\\r`` on the first part; still recovered."""
        text = json.dumps(START).replace("\\n", "\r\n", 1).replace("\\r\\n", "\r\n")
        lines = split_lines(text.encode() + b"\n")
        store = collapse(feed(CopilotParser(SOURCE), lines))
        assert store.problems == []
        assert store.events["s1"].command == "echo a\r\nb\nc"

    def test_garbage_fragment(self) -> None:
        """A truncated event yields one problem at its offset; the next line parses."""
        lines = with_offsets(
            [b'{"type":"user.message","data":{"content":"trunc', json.dumps(AFTER).encode()]
        )
        store = collapse(feed(CopilotParser(SOURCE), lines))
        assert [(p.offset, p.reason.startswith("invalid JSON")) for p in store.problems] == [
            (0, True)
        ]
        assert set(store.events) == {"u2"}

    def test_truncated_then_concatenated(self) -> None:
        """copilot-cli#4098: a cut event with a whole one glued on is one problem, no crash."""
        glued = b'{"type":"user.message","id":"x","data":{"con' + json.dumps(AFTER).encode()
        lines = with_offsets([glued, json.dumps(AFTER | {"id": "u3"}).encode()])
        store = collapse(feed(CopilotParser(SOURCE), lines))
        assert len(store.problems) == 1
        assert set(store.events) == {"u3"}

    def test_plain_garbage_is_immediate(self) -> None:
        """A line that cannot start an event is reported at once, not held."""
        parser = CopilotParser(SOURCE)
        assert [type(r) for r in parser.parse_line(b"hello", 0)] == [ParseProblem]
        assert parser.state()["pending"] is None

    def test_restart_inside_a_split_event(self) -> None:
        """The held fragment travels in ``state()``; the rebuilt parser completes the event."""
        lines = with_offsets(split_event(START))
        head = CopilotParser(SOURCE)
        assert feed(head, lines[:2]) == []
        state = json.loads(json.dumps(head.state()))
        assert state["pending"]["offset"] == 0
        rest = feed(CopilotParser(SOURCE, state=state), lines[2:])
        assert collapse(rest).events["s1"].command == "echo a\nb\nc"

    def test_bounded(self) -> None:
        """A fragment is dropped as a problem after 64 lines; state stays small; parsing goes on."""
        parts = [
            b'{"type":"user.message","data":{"content":"',
            *([b"x" * 100] * 80),
            json.dumps(AFTER).encode(),
        ]
        parser = CopilotParser(SOURCE)
        records: list[Record] = []
        for line, offset in with_offsets(parts):
            records.extend(parser.parse_line(line, offset))
            assert len(json.dumps(parser.state())) < 20_000
        store = collapse(records)
        assert store.problems[0].offset == 0
        assert len(store.problems) == 1 + 80 - 63
        assert set(store.events) == {"u2"}

    def test_raw_line_separator(self) -> None:
        """A raw U+2028 inside a string is not a line break: the line parses as it is."""
        line = json.dumps(AFTER | {"data": {"content": "a\u2028b"}}, ensure_ascii=False).encode()
        store = collapse(CopilotParser(SOURCE).parse_line(line, 0))
        assert json.loads(store.events["u2"].tool_arguments or "")["chars"] == 3


# -- hostile input -------------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
TYPES = st.sampled_from(
    [
        *PRIMARY,
        "tool.execution_complete",
        "session.model_change",
        "tool_call_requested",
        "tool_call_completed",
        "hook.start",
    ]
)
EVENTS = st.fixed_dictionaries(
    {
        "type": TYPES,
        "data": JSON
        | st.dictionaries(
            st.sampled_from(
                [
                    "toolCallId",
                    "toolName",
                    "arguments",
                    "success",
                    "outputTokens",
                    "modelMetrics",
                    "context",
                    "content",
                    "model",
                    "result",
                    "sessionId",
                ]
            ),
            JSON,
            max_size=6,
        ),
    },
    optional={
        "id": JSON,
        "timestamp": st.sampled_from([TS, "0001-01-01T00:00:00+01:00", 17]) | JSON,
        "callId": JSON,
        "arguments": JSON,
        "name": JSON,
        "result": JSON,
    },
)
LINES = st.lists(
    st.binary(max_size=60).map(lambda b: b.replace(b"\n", b""))
    | JSON.map(lambda v: json.dumps(v).encode())
    | EVENTS.map(lambda v: json.dumps(v).encode()),
    max_size=12,
)


def run(lines: list[bytes], state: dict[str, Any] | None = None) -> tuple[list[Record], Any]:
    parser = CopilotParser(SOURCE, state=state)
    records = feed(parser, [(line, i) for i, line in enumerate(lines)])
    return records, parser.state()


class TestHostileInput:
    """Arbitrary bytes and JSON never raise, never crash inside, and parse deterministically."""

    @settings(max_examples=300, deadline=None)
    @given(LINES)
    def test_lines(self, lines: list[bytes]) -> None:
        """No exception, no internal error, the same records twice, a JSON-able state."""
        records, state = run(lines)
        assert not [
            r
            for r in records
            if isinstance(r, ParseProblem) and r.reason.startswith("parser error")
        ]
        assert run(lines) == (records, state)
        json.dumps(state)

    @settings(max_examples=200, deadline=None)
    @given(LINES, st.integers(min_value=0, max_value=12))
    def test_any_split(self, lines: list[bytes], cut: int) -> None:
        """Restart equivalence holds for arbitrary input too."""
        whole, _ = run(lines)
        head, state = run(lines[:cut])
        parser = CopilotParser(SOURCE, state=json.loads(json.dumps(state)))
        tail = feed(parser, [(line, i + cut) for i, line in enumerate(lines[cut:])])
        assert head + tail == whole

    @settings(max_examples=200, deadline=None)
    @given(
        st.binary(max_size=200)
        | JSON.map(lambda v: json.dumps(v).encode())
        | st.lists(EVENTS, max_size=5).map(lambda t: json.dumps({"timeline": t}).encode())
    )
    def test_documents(self, data: bytes) -> None:
        """parse_document never raises either."""
        records = CopilotParser(SOURCE).parse_document(data)
        assert records == CopilotParser(SOURCE).parse_document(data)
        assert not [
            r
            for r in records
            if isinstance(r, ParseProblem) and r.reason.startswith("parser error")
        ]

    @settings(max_examples=100, deadline=None)
    @given(JSON)
    def test_any_state(self, state: Any) -> None:
        """A damaged saved state is ignored field by field, never fatal."""
        parser = CopilotParser(SOURCE, state=state if isinstance(state, dict) else None)
        records = parser.parse_line(json.dumps(AFTER).encode(), 0)
        fresh = CopilotParser(SOURCE).parse_line(json.dumps(AFTER).encode(), 0)
        errors = [r for r in records if isinstance(r, ParseProblem)]
        assert not [r for r in errors if r.reason.startswith("parser error")]
        # The line's own events come out whatever the state held (no field of it is trusted).
        assert {type(r) for r in fresh} <= {type(r) for r in records}
        saved = parser.state()
        assert json.loads(json.dumps(saved)) == saved
        assert CopilotParser(SOURCE, state=saved).state() == saved  # a sane state round-trips
