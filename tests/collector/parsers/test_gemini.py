"""GeminiParser against the Gemini CLI fixtures, both on-disk forms, restarts and hostile input.

Expected values come from a plain ``json`` scan of each fixture written here, independently of the
parser, and are compared with the parser's records after collapsing them the way the store does
(``store/records.py``): events unique by key (first insert wins) with token counts merged by
maximum, tool results applied in order per call id, session facts upserted.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from msgspec.structs import asdict, replace

from collector.parsers.categories import categorize_command
from collector.parsers.gemini import GeminiParser
from collector.parsers.sources import SourceFile
from store.records import Event, ParseProblem, Record, SessionInfo, ToolResult

ROOT = Path(__file__).resolve().parents[2] / "fixtures" / "gemini"
DOCUMENTS = sorted(p for p in ROOT.rglob("*.json") if p.name != "logs.json")
JSONL = sorted(ROOT.rglob("*.jsonl"))
REAL = ROOT / "legacy-json" / "session-2025-12-01T21-45-5b959dae.json"
TOOL_TYPES = ("file_op", "command", "tool_call")
SOURCE = SourceFile(agent="gemini", path="/g/chats/s.jsonl", session_id="gemini:p/s")
TS = "2026-04-29T21:39:33.155Z"

# The spec, restated from transcript-formats.md §4.4/§6 rather than imported from the parser.
FILE_TOOLS = {
    "read_file": "read",
    "read_many_files": "read",
    "write_file": "write",
    "replace": "edit",
    "edit": "edit",
    "glob": "search",
    "search_file_content": "search",
    "grep_search": "search",
    "list_directory": "search",
}
TERMINAL = {"success": "success", "error": "error", "cancelled": "error"}


# -- helpers: feeding input and collapsing records like the store -----------------------------


def source_for(path: Path) -> SourceFile:
    kind = "jsonl" if path.suffix == ".jsonl" else "json-document"
    return SourceFile(agent="gemini", path=str(path), session_id=f"gemini:{path.stem}", kind=kind)


def split_lines(data: bytes) -> list[tuple[bytes, int]]:
    """Complete lines (``b"\\n"`` only) with their byte offsets, as the tailer hands them over."""
    lines, offset = [], 0
    while (end := data.find(b"\n", offset)) >= 0:
        lines.append((data[offset:end], offset))
        offset = end + 1
    return lines


def feed(parser: GeminiParser, lines: list[tuple[bytes, int]]) -> list[Record]:
    records: list[Record] = []
    for line, offset in lines:
        records.extend(parser.parse_line(line, offset))
    return records


def parse_path(path: Path) -> list[Record]:
    parser = GeminiParser(source_for(path))
    data = path.read_bytes()
    return (
        feed(parser, split_lines(data)) if path.suffix == ".jsonl" else parser.parse_document(data)
    )


def jsonl(*objects: Any) -> list[tuple[bytes, int]]:
    return split_lines(b"".join(json.dumps(o).encode() + b"\n" for o in objects))


@dataclass
class Store:
    """What the store would hold after applying the records in order."""

    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: dict[str, Event] = field(default_factory=dict)
    problems: list[ParseProblem] = field(default_factory=list)

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
        else:
            store.problems.append(record)
    for result in results:  # in order: the last result for a call wins
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
        if value is None or name == "title_fallback":
            continue
        stored = row.get(name)
        if name == "title" and info.title_fallback and stored is not None:
            continue  # a first prompt's title never replaces a stored one
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


def final_messages(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Metadata and the last version of each message, by plain json (no $rewindTo in fixtures)."""
    if path.suffix == ".json":
        document = json.loads(path.read_bytes())
        return document, document["messages"]
    meta: dict[str, Any] = {}
    by_id: dict[str, dict[str, Any]] = {}
    for line, _ in split_lines(path.read_bytes()):
        obj = json.loads(line)
        if "$set" in obj:
            meta.update(obj["$set"])
        elif "id" in obj:
            by_id[obj["id"]] = obj
        else:
            meta.update(obj)
    return meta, list(by_id.values())


def expected_calls(messages: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    calls = {}
    for message in messages:
        previous = message["timestamp"]
        for call in message.get("toolCalls", []):
            name, args = call["name"], call["args"]
            op = FILE_TOOLS.get(name)
            path = args.get("file_path") or args.get("dir_path") or args.get("path")
            shell = name == "run_shell_command"
            status = TERMINAL.get(call.get("status"), "pending")
            if shell and status != "pending" and exit_code(call):
                status = "error"  # a non-zero exit is an error whatever Gemini says
            calls[f"tool:{call['id']}"] = {
                "tool_name": name,
                "event_type": "file_op" if op else "command" if shell else "tool_call",
                "operation": op,
                "file_path": path if op else None,
                "command": args["command"] if shell else None,
                "status": status,
                "exit_code": exit_code(call) if shell else None,
                "duration_ms": max(0, millis(call["timestamp"]) - millis(previous)),
            }
            previous = max(previous, call["timestamp"])
    return calls


def exit_code(call: dict[str, Any]) -> int:
    text = json.dumps(call.get("result"))
    found = re.findall(r"Exit Code: (\d+)", text)
    return int(found[-1]) if found else 0


def expected_usage(messages: list[dict[str, Any]]) -> dict[str, int]:
    totals = {"input": 0, "output": 0, "cached": 0, "reasoning": 0}
    for message in messages:
        tokens = message.get("tokens") or {}
        totals["input"] += tokens.get("input", 0) - tokens.get("cached", 0) + tokens.get("tool", 0)
        totals["output"] += tokens.get("output", 0)  # thoughts are beside the output
        totals["cached"] += tokens.get("cached", 0)
        totals["reasoning"] += tokens.get("thoughts", 0)
    return totals


def actual_usage(store: Store) -> dict[str, int]:
    usage = store.of_type("usage").values()
    return {
        "input": sum(e.input_tokens or 0 for e in usage),
        "output": sum(e.output_tokens or 0 for e in usage),
        "cached": sum(e.cache_read_tokens or 0 for e in usage),
        "reasoning": sum(e.reasoning_tokens or 0 for e in usage),
    }


def tool_results_back(message: dict[str, Any]) -> bool:
    """A user record that only hands tool results back to the model."""
    parts = message.get("content")
    return (message["type"] == "user" and isinstance(parts, list) and bool(parts)
            and all(isinstance(p, dict) and "functionResponse" in p for p in parts))  # fmt: skip


def roles(store: Store) -> list[str]:
    return sorted(
        json.loads(e.tool_arguments or "")["role"] for e in store.of_type("message").values()
    )


FIXTURES = [*DOCUMENTS, *JSONL]


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.relative_to(ROOT).as_posix())
class TestFixtures:
    """Every fixture parses cleanly and agrees with the independent scan."""

    def test_no_problems(self, path: Path) -> None:
        """Real and synthetic files hold nothing the parser has to give up on."""
        assert collapse(parse_path(path)).problems == []

    def test_session(self, path: Path) -> None:
        """One session with the agent's id, start and last update."""
        meta, _ = final_messages(path)
        store = collapse(parse_path(path))
        assert list(store.sessions) == [source_for(path).session_id]
        row = store.sessions[source_for(path).session_id]
        assert row["agent_session_id"] == meta["sessionId"]
        assert row["first_seen"] == meta["startTime"]
        assert row["last_activity"] >= meta["lastUpdated"]

    def test_tool_calls(self, path: Path) -> None:
        """Kind, operation, path, command, final status, exit code and estimated duration."""
        expected = expected_calls(final_messages(path)[1])
        tools = collapse(parse_path(path)).tools()
        actual = {
            k: {n: getattr(e, n) for n in next(iter(expected.values()), {})}
            for k, e in tools.items()
        }
        assert actual == expected
        for event in tools.values():
            if event.command is not None:
                assert event.command_category == categorize_command(event.command)

    def test_messages_and_usage(self, path: Path) -> None:
        """One message per user and model record; tokens of the last version of each."""
        _, messages = final_messages(path)
        store = collapse(parse_path(path))
        kinds = {"user": "user", "gemini": "assistant", "model": "assistant"}
        said = [m for m in messages if m["type"] in kinds and not tool_results_back(m)]
        assert roles(store) == sorted(kinds[m["type"]] for m in said)
        assert actual_usage(store) == expected_usage(messages)


def test_logs_json() -> None:
    """The prompt log is a JSON array: no records, no crash."""
    assert (
        GeminiParser(SOURCE).parse_document((ROOT / "legacy-json" / "logs.json").read_bytes()) == []
    )


# -- the ≥ 0.39 JSONL form: re-appends, $set, $rewindTo ------------------------------------------

META = {"sessionId": "abc", "projectHash": "h", "startTime": TS, "lastUpdated": TS}
USER = {"id": "u1", "timestamp": TS, "type": "user", "content": [{"text": "hello"}]}


def gemini(calls: list[dict[str, Any]], tokens: dict[str, int] | None = None) -> dict[str, Any]:
    message = {
        "id": "g1",
        "timestamp": "2026-04-29T21:39:35.000Z",
        "type": "gemini",
        "content": "",
        "model": "gemini-3",
        "toolCalls": calls,
    }
    return message | ({"tokens": tokens} if tokens else {})


def shell(status: str, ts: str = "2026-04-29T21:39:36.000Z", **extra: Any) -> dict[str, Any]:
    return {
        "id": "c1",
        "name": "run_shell_command",
        "args": {"command": "pytest -x"},
        "status": status,
        "timestamp": ts,
        **extra,
    }


class TestUpserts:
    """Records re-appended under one id: the last write wins through results and max tokens."""

    def test_reappended_until_terminal(self) -> None:
        """Pending first, then the terminal version completes the same row; tokens attach late."""
        lines = jsonl(
            META,
            USER,
            gemini([shell("executing")]),
            gemini([shell("success")], {"input": 10, "output": 5, "cached": 4}),
            gemini(
                [
                    shell("success"),
                    {
                        "id": "c2",
                        "name": "read_file",
                        "args": {"file_path": "/a"},
                        "status": "error",
                        "timestamp": "2026-04-29T21:39:37.000Z",
                    },
                ],
                {"input": 10, "output": 5, "cached": 4},
            ),
        )
        store = collapse(feed(GeminiParser(SOURCE), lines))
        assert {k: e.status for k, e in store.tools().items()} == {
            "tool:c1": "success",
            "tool:c2": "error",
        }
        assert store.events["tool:c1"].exit_code == 0
        assert store.events["tool:c1"].duration_ms == 1000
        usage = store.events["usage:g1"]
        assert (usage.input_tokens, usage.output_tokens, usage.cache_read_tokens) == (6, 5, 4)
        assert len(store.of_type("message")) == 2

    def test_last_status_wins(self) -> None:
        """A call shown cancelled and later successful ends successful."""
        lines = jsonl(META, gemini([shell("cancelled")]), gemini([shell("success")]))
        assert collapse(feed(GeminiParser(SOURCE), lines)).events["tool:c1"].status == "success"

    def test_nonzero_exit(self) -> None:
        """``Exit Code: N`` in the output is the exit code, and a non-zero one an error (as the
        other agents' shell calls are), although Gemini marks the call itself a success."""
        result = [{"functionResponse": {"response": {"output": "Output: x\nExit Code: 2"}}}]
        lines = jsonl(META, gemini([shell("success", result=result)]))
        row = collapse(feed(GeminiParser(SOURCE), lines)).events["tool:c1"]
        assert (row.status, row.exit_code, row.command_category) == (
            "error",
            2,
            categorize_command("pytest -x"),
        )

    def test_set_patch(self) -> None:
        """``$set`` moves last activity, names the session, and a messages checkpoint counts."""
        lines = jsonl(
            META,
            {
                "$set": {
                    "lastUpdated": "2026-04-30T00:00:00.000Z",
                    "summary": "Fix tests",
                    "messages": [USER],
                }
            },
        )
        store = collapse(feed(GeminiParser(SOURCE), lines))
        row = store.sessions["gemini:p/s"]
        assert (row["last_activity"], row["title"]) == ("2026-04-30T00:00:00.000Z", "Fix tests")
        assert "u1" in store.events

    def test_rewind(self) -> None:
        """A rewind is marked; a call still open at that moment can never finish: error."""
        lines = jsonl(
            META, USER, gemini([shell("executing")]), {"$rewindTo": "u1"}, {**USER, "id": "u2"}
        )
        store = collapse(feed(GeminiParser(SOURCE), lines))
        assert store.events["tool:c1"].status == "error"
        marker = next(iter(store.of_type("other").values()))
        assert json.loads(marker.tool_arguments or "") == {"rewind_to": "u1"}
        assert {"u1", "u2", "g1"} <= set(store.events)

    def test_session_context_is_not_a_prompt(self) -> None:
        """Injected ``<session_context>`` user records yield no message."""
        context = {**USER, "id": "ctx", "content": [{"text": "<session_context>\ncwd: /x"}]}
        store = collapse(feed(GeminiParser(SOURCE), jsonl(META, context, USER)))
        assert set(store.of_type("message")) == {"u1"}

    def test_relative_paths_use_the_sidecar_cwd(self) -> None:
        """Gemini records no cwd; a sidecar's project root resolves relative paths."""
        call = {
            "id": "c9",
            "name": "write_file",
            "args": {"file_path": "hello.md"},
            "status": "success",
            "timestamp": TS,
        }
        parser = GeminiParser(SOURCE, sidecar={"project_root": "/proj"})
        row = collapse(feed(parser, jsonl(META, gemini([call])))).events["tool:c9"]
        assert (row.file_path, row.operation) == ("/proj/hello.md", "write")

    def test_error_message(self) -> None:
        """``type: error`` records are errors."""
        record = {"id": "e1", "timestamp": TS, "type": "error", "content": "quota exceeded"}
        store = collapse(feed(GeminiParser(SOURCE), jsonl(META, record)))
        assert store.events["e1"].event_type == "error"


@pytest.mark.parametrize("path", JSONL, ids=lambda p: p.name)
def test_restart_equivalence(path: Path) -> None:
    """Head, a parser rebuilt from ``state()`` (through JSON), tail == the whole file, any cut."""
    lines = split_lines(path.read_bytes())
    whole = feed(GeminiParser(source_for(path)), lines)
    for cut in range(len(lines) + 1):
        head = GeminiParser(source_for(path))
        first = feed(head, lines[:cut])
        state = json.loads(json.dumps(head.state()))
        rest = feed(GeminiParser(source_for(path), state=state), lines[cut:])
        assert first + rest == whole, cut
        assert collapse(first + rest) == collapse(whole)


# -- the ≤ 0.38 whole-file form ------------------------------------------------------------------


def earlier_version(document: dict[str, Any], count: int) -> dict[str, Any]:
    """The file as it was after ``count`` messages, the last one still running its tools."""
    smaller = copy.deepcopy(document)
    smaller["messages"] = smaller["messages"][:count]
    last = smaller["messages"][-1]
    for call in last.get("toolCalls", [])[1:]:
        call["status"] = "executing"
    last.pop("tokens", None)
    smaller["lastUpdated"] = last["timestamp"]
    return smaller


class TestWholeFile:
    """Every rewrite is re-read whole; natural keys make that idempotent."""

    @pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: p.name)
    def test_twice_is_once(self, path: Path) -> None:
        """The same document parsed again (same parser or a new one) adds nothing."""
        data = path.read_bytes()
        parser = GeminiParser(source_for(path))
        first = parser.parse_document(data)
        again = first + parser.parse_document(data) + parser.parse_document(data)
        assert collapse(again) == collapse(first)
        fresh = GeminiParser(source_for(path)).parse_document(data)
        assert collapse(first + fresh) == collapse(first)

    @pytest.mark.parametrize("count", [2, 5, 10, 11])
    def test_growing_file(self, count: int) -> None:
        """An earlier rewrite, then the final one, collapse to what the final one gives."""
        document = json.loads(REAL.read_bytes())
        parser = GeminiParser(source_for(REAL))
        small = parser.parse_document(json.dumps(earlier_version(document, count)).encode())
        final = parser.parse_document(REAL.read_bytes())
        assert set(collapse(small).events) <= set(collapse(final).events)
        assert collapse(small + final) == collapse(
            GeminiParser(source_for(REAL)).parse_document(REAL.read_bytes())
        )

    def test_half_written(self) -> None:
        """A rewrite caught half-way is one problem; the next complete read recovers."""
        data = REAL.read_bytes()
        parser = GeminiParser(source_for(REAL))
        assert [type(r) for r in parser.parse_document(data[: len(data) // 2])] == [ParseProblem]
        assert collapse(parser.parse_document(data)).problems == []


# -- hostile input -------------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
STAMPS = st.sampled_from([TS, "9999-12-31T23:59:59-01:00", 1.7e12, ""]) | JSON
CALLS = st.lists(
    st.fixed_dictionaries(
        {},
        optional={
            "id": JSON | st.sampled_from(["c1", "c2"]),
            "name": st.sampled_from([*FILE_TOOLS, "run_shell_command", "web_fetch"]) | JSON,
            "args": JSON
            | st.fixed_dictionaries(
                {}, optional={"file_path": JSON, "command": JSON, "paths": JSON}
            ),
            "status": st.sampled_from([*TERMINAL, "executing"]) | JSON,
            "timestamp": STAMPS,
            "result": JSON,
            "resultDisplay": JSON,
        },
    ),
    max_size=3,
)
MESSAGES = st.fixed_dictionaries(
    {
        "id": JSON | st.sampled_from(["m1", "m2"]),
        "type": st.sampled_from(["user", "gemini", "model", "error", "info"]) | JSON,
    },
    optional={
        "timestamp": STAMPS,
        "content": JSON,
        "model": JSON,
        "tokens": JSON
        | st.dictionaries(st.sampled_from(["input", "output", "cached", "thoughts"]), JSON),
        "toolCalls": CALLS | JSON,
    },
)
RECORDS = (
    MESSAGES
    | JSON
    | st.builds(
        lambda v: {"$set": v},
        JSON | st.fixed_dictionaries({"messages": st.lists(MESSAGES, max_size=2)}),
    )
    | st.builds(lambda v: {"$rewindTo": v}, JSON)
    | st.fixed_dictionaries({"sessionId": JSON, "startTime": STAMPS, "lastUpdated": STAMPS})
)
LINES = st.lists(
    st.binary(max_size=60).map(lambda b: b.replace(b"\n", b""))
    | RECORDS.map(lambda v: json.dumps(v).encode()),
    max_size=10,
)


def run(lines: list[bytes]) -> tuple[list[Record], dict[str, Any]]:
    parser = GeminiParser(SOURCE)
    return feed(parser, [(line, i) for i, line in enumerate(lines)]), parser.state()


def internal_errors(records: list[Record]) -> list[Record]:
    return [r for r in records if isinstance(r, ParseProblem) and r.reason.startswith("parser")]


class TestHostileInput:
    """Arbitrary bytes and JSON never raise, never crash inside, and parse deterministically."""

    @settings(max_examples=300, deadline=None)
    @given(LINES)
    @example([json.dumps(gemini([{"status": "success", "name": []}])).encode()])
    def test_lines(self, lines: list[bytes]) -> None:
        """No exception, no internal error, the same records twice, a JSON-able state."""
        records, state = run(lines)
        assert internal_errors(records) == []
        assert run(lines) == (records, state)
        json.dumps(state)

    @settings(max_examples=200, deadline=None)
    @given(LINES, st.integers(min_value=0, max_value=10))
    def test_any_split(self, lines: list[bytes], cut: int) -> None:
        """Restart equivalence holds for arbitrary input too."""
        whole, _ = run(lines)
        head, state = run(lines[:cut])
        parser = GeminiParser(SOURCE, state=json.loads(json.dumps(state)))
        tail = feed(parser, [(line, i + cut) for i, line in enumerate(lines[cut:])])
        assert head + tail == whole

    @settings(max_examples=300, deadline=None)
    @given(
        st.binary(max_size=200)
        | JSON.map(lambda v: json.dumps(v).encode())
        | st.fixed_dictionaries(
            {"sessionId": JSON, "messages": st.lists(MESSAGES, max_size=4) | JSON}
        ).map(lambda v: json.dumps(v).encode())
    )
    def test_documents(self, data: bytes) -> None:
        """parse_document never raises and gives the same records each time."""
        records = GeminiParser(SOURCE).parse_document(data)
        assert internal_errors(records) == []
        assert records == GeminiParser(SOURCE).parse_document(data)

    @settings(max_examples=100, deadline=None)
    @given(JSON, JSON)
    def test_any_state(self, state: Any, sidecar: Any) -> None:
        """A damaged saved state or sidecar is ignored field by field, never fatal."""
        parser = GeminiParser(
            SOURCE,
            state=state if isinstance(state, dict) else None,
            sidecar=sidecar if isinstance(sidecar, dict) else None,
        )
        assert internal_errors(feed(parser, jsonl(META, USER))) == []
        json.dumps(parser.state())


class TestFunctionResponses:
    """A user message of ``functionResponse`` parts is the tool results going back to the
    model (the calls' rows already hold them): no user message."""

    def test_results_not_a_prompt(self) -> None:
        response = {"id": "c1", "name": "run_shell_command", "response": {"output": "ok"}}
        failed = {"id": "c2", "name": "run_shell_command", "response": {"error": "boom"}}
        parts = [{"functionResponse": response}, {"functionResponse": failed}]
        back = {"id": "u2", "timestamp": TS, "type": "user", "content": parts}
        records = feed(GeminiParser(SOURCE), jsonl(META, back))
        assert [r for r in records if isinstance(r, Event | ToolResult)] == []

    def test_text_beside_a_response_is_a_message(self) -> None:
        mixed = {"id": "u2", "timestamp": TS, "type": "user",
                 "content": [{"text": "also"}, {"functionResponse": {"id": "c1"}}]}  # fmt: skip
        records = feed(GeminiParser(SOURCE), jsonl(META, mixed))
        assert [r.event_type for r in records if isinstance(r, Event)] == ["message"]
