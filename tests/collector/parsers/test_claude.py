"""ClaudeParser against the real Claude Code fixtures, the restart contract and hostile input.

Expected values are computed here by a plain ``json`` scan of each fixture, independently of the
parser, and compared with the parser's records after collapsing them the way the store does
(``store/records.py``): events unique by key with token counts merged by maximum, tool results
applied per call id, session facts upserted.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from msgspec.structs import asdict, fields, replace

from collector.parsers import claude as claude_module
from collector.parsers.base import DEFAULT_OPTIONS, ParserOptions
from collector.parsers.categories import categorize_command
from collector.parsers.claude import ClaudeParser
from collector.parsers.claude_decode import TYPED_MIN_BYTES
from collector.parsers.sanitize import cap_json, cut_utf8
from collector.parsers.sources import SourceFile, classify
from store.records import Event, ParseProblem, Record, SessionInfo, ToolResult

ROOT = Path(__file__).resolve().parents[2] / "fixtures" / "claude"
FIXTURES = sorted(ROOT.rglob("*.jsonl"))
TURN1 = ROOT / "incremental" / "codemie-subagents-turn1" / "e9fb405b.jsonl"
TURN2 = ROOT / "incremental" / "codemie-subagents-turn2" / "e9fb405b.jsonl"
TOOL_TYPES = ("file_op", "command", "tool_call")
FILE_OPS = {
    "Read": "read",
    "Write": "write",
    "Edit": "edit",
    "MultiEdit": "edit",
    "NotebookEdit": "edit",
    "Glob": "search",
    "Grep": "search",
}
SURROGATE = re.compile("[\ud800-\udfff]")
TS = "2026-01-14T19:20:13.501Z"


# -- helpers: feeding lines and collapsing records like the store -----------------------------


def source_for(path: Path) -> SourceFile:
    found = classify("claude-code", str(ROOT), str(path))
    assert found is not None
    return found


def split_lines(data: bytes, start: int = 0) -> list[tuple[bytes, int]]:
    """Complete lines (``b"\\n"`` only) with their byte offsets, as the tailer hands them over."""
    lines, offset = [], start
    while (end := data.find(b"\n", offset)) >= 0:
        lines.append((data[offset:end], offset))
        offset = end + 1
    return lines


def feed(parser: ClaudeParser, lines: list[tuple[bytes, int]]) -> list[Record]:
    records: list[Record] = []
    for line, offset in lines:
        records.extend(parser.parse_line(line, offset))
    return records


def parse_path(path: Path, options: ParserOptions = DEFAULT_OPTIONS) -> list[Record]:
    return feed(ClaudeParser(source_for(path), options=options), split_lines(path.read_bytes()))


@dataclass
class Store:
    """What the store would hold after applying the records in order."""

    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: dict[tuple[str, str], Event] = field(default_factory=dict)
    results: dict[tuple[str, str], ToolResult] = field(default_factory=dict)
    problems: list[ParseProblem] = field(default_factory=list)

    def tools(self) -> list[Event]:
        return [e for e in self.events.values() if e.event_type in TOOL_TYPES]

    def of_type(self, event_type: str) -> list[Event]:
        return [e for e in self.events.values() if e.event_type == event_type]


_TOKENS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens")


def collapse(records: list[Record]) -> Store:
    """Apply records as the store does (see store/records.py)."""
    store = Store()
    for record in records:
        if isinstance(record, SessionInfo):
            _merge_session(store.sessions.setdefault(record.session_id, {}), record)
        elif isinstance(record, Event):
            _touch(store.sessions.setdefault(record.session_id, {}), record.timestamp)
            key = (record.session_id, record.agent_event_id)
            old = store.events.get(key)
            store.events[key] = record if old is None else _merge_tokens(old, record)
        elif isinstance(record, ToolResult):
            store.results[(record.session_id, record.tool_call_id)] = record
        else:
            store.problems.append(record)
    return store


def _touch(row: dict[str, Any], stamp: str) -> None:
    """As the store does: event timestamps widen the session's activity span."""
    row["first_seen"] = min(row.get("first_seen") or stamp, stamp)
    row["last_activity"] = max(row.get("last_activity") or stamp, stamp)


def _merge_session(row: dict[str, Any], info: SessionInfo) -> None:
    for name, value in asdict(info).items():
        if value is None:
            continue
        stored = row.get(name)
        if stored is not None and name in ("first_seen", "last_activity"):
            row[name] = min(value, stored) if name == "first_seen" else max(value, stored)
        else:
            row[name] = value


def _merge_tokens(old: Event, new: Event) -> Event:
    merged: dict[str, Any] = {}
    for name in _TOKENS:
        values = [v for v in (getattr(old, name), getattr(new, name)) if v is not None]
        merged[name] = max(values) if values else None
    return replace(old, **merged)


def texts(record: Record) -> list[str]:
    return [v for f in fields(record) if isinstance(v := getattr(record, f.name), str)]


# -- the independent expectation: a plain json scan -------------------------------------------


def absolutize(path: str, cwd: str | None) -> str:
    if path.startswith("/") or not cwd:
        return path
    return posixpath.normpath(posixpath.join(cwd, path))


def file_target(name: str, params: dict[str, Any], cwd: str | None) -> str | None:
    """Documented targets: the file; Glob → pattern under path; Grep → path; searches → cwd."""
    if name == "Glob":
        pattern, base = params.get("pattern"), params.get("path")
        if isinstance(pattern, str) and pattern:
            if base and not pattern.startswith("/"):
                pattern = f"{base.rstrip('/')}/{pattern}"
            return absolutize(pattern, cwd)
        return cwd
    key = {"NotebookEdit": "notebook_path", "Grep": "path"}.get(name, "file_path")
    value = params.get(key)
    if isinstance(value, str) and value:
        return absolutize(value, cwd)
    return cwd if name == "Grep" else None


def child_id(parent: SourceFile, agent_id: str, version: str) -> str:
    major, minor, patch = (int(p) for p in version.split(".")[:3])
    if (major, minor, patch) >= (2, 1, 2):
        return f"{parent.session_id}/agent-{agent_id}"
    return f"claude-code:agent-{agent_id}"


@dataclass
class Expected:
    tools_by_name: Counter[str] = field(default_factory=Counter)
    file_ops: Counter[tuple[str | None, str]] = field(default_factory=Counter)
    commands: Counter[str] = field(default_factory=Counter)
    result_ids: set[str] = field(default_factory=set)
    error_results: int = 0
    durations: int = 0
    exit_codes: Counter[int] = field(default_factory=Counter)
    messages: Counter[str] = field(default_factory=Counter)
    usage_keys: set[str] = field(default_factory=set)
    compactions: int = 0
    turns: int = 0
    sessions: dict[str, str | None] = field(default_factory=dict)  # id → parent
    agent_session_id: str | None = None


def scan(path: Path) -> Expected:
    """What the fixture holds, by reading it with ``json`` and the format reference."""
    source = source_for(path)
    exp = Expected()
    cwd: str | None = None
    seen_tools: set[str] = set()
    sidechain: bool | None = None
    for raw in path.read_bytes().split(b"\n"):
        if not raw:
            continue
        obj = json.loads(raw)
        if obj.get("type") == "summary":
            continue
        cwd = obj.get("cwd") or cwd
        if exp.agent_session_id is None:
            exp.agent_session_id = obj.get("sessionId")
        if sidechain is None and "isSidechain" in obj:
            sidechain = obj["isSidechain"]
            if sidechain and source.parent_session_id is None:
                exp.sessions[source.session_id] = f"claude-code:{obj['sessionId']}"
        _scan_line(obj, cwd, source, exp, seen_tools, top_level=not sidechain)
    exp.sessions.setdefault(source.session_id, source.parent_session_id)
    return exp


def _scan_line(
    obj: dict[str, Any],
    cwd: str | None,
    source: SourceFile,
    exp: Expected,
    seen_tools: set[str],
    *,
    top_level: bool,
) -> None:
    kind: Any = obj.get("type")
    message: Any = obj.get("message")
    if kind == "assistant" and not obj.get("isApiErrorMessage"):
        blocks = message["content"]
        for block in blocks:
            if block["type"] != "tool_use" or block["id"] in seen_tools:
                continue
            seen_tools.add(block["id"])
            exp.tools_by_name[block["name"]] += 1
            if block["name"] in FILE_OPS:
                target = file_target(block["name"], block["input"], cwd)
                exp.file_ops[(target, FILE_OPS[block["name"]])] += 1
            if block["name"] == "Bash":
                exp.commands[block["input"]["command"][: DEFAULT_OPTIONS.args_cap]] += 1
        if any(b["type"] in ("text", "thinking") for b in blocks):
            exp.messages[obj["uuid"]] += 1
        if "usage" in message and message.get("model") != "<synthetic>":
            exp.usage_keys.add(f"usage:{message['id']}:{obj.get('requestId', '')}")
    elif kind == "user":
        content = message["content"]
        results = (
            [b for b in content if b.get("type") == "tool_result"]
            if isinstance(content, list)
            else []
        )
        for block in results:
            _scan_result(block, obj, source, exp, top_level=top_level)
        if not results and obj.get("isCompactSummary"):
            exp.compactions += 1
        elif not results and not obj.get("isMeta") and not _local_command_line(content):
            exp.messages[obj["uuid"]] += 1
    elif kind == "system":
        exp.compactions += obj.get("subtype") == "compact_boundary"
        exp.turns += obj.get("subtype") == "turn_duration"


def _scan_result(
    block: dict[str, Any],
    obj: dict[str, Any],
    source: SourceFile,
    exp: Expected,
    *,
    top_level: bool,
) -> None:
    exp.result_ids.add(block["tool_use_id"])
    detail = obj.get("toolUseResult")
    failed = block.get("is_error") is True or (
        isinstance(detail, str) and detail.startswith("Error")
    )
    exp.error_results += failed
    text = block["content"] if isinstance(block["content"], str) else ""
    if failed and (found := re.match(r"Exit code (\d+)", text)):
        exp.exit_codes[int(found[1])] += 1
    if not isinstance(detail, dict):
        return
    if "durationMs" in detail or "totalDurationMs" in detail:
        exp.durations += 1
    if isinstance(detail.get("exitCode"), int):
        exp.exit_codes[detail["exitCode"]] += 1
    elif detail.get("interrupted") is False and not detail.get("returnCodeInterpretation"):
        exp.exit_codes[0] += not detail.get("backgroundTaskId")
    if "agentId" in detail and top_level and source.parent_session_id is None:
        exp.sessions[child_id(source, detail["agentId"], obj["version"])] = source.session_id


def _local_command_line(content: object) -> bool:
    """A slash command typed in the terminal or its output: not a message (stored as other)."""
    if isinstance(content, list) and len(content) == 1 and isinstance(content[0], dict):
        content = content[0].get("text")
    text = content.lstrip() if isinstance(content, str) else ""
    return text.startswith(("<command-name>", "<command-message>", "<local-command-stdout>",
                            "<local-command-stderr>"))  # fmt: skip


def observed(store: Store, source: SourceFile) -> Expected:
    """The same summary, taken from the collapsed records."""
    got = Expected()
    for event in store.tools():
        got.tools_by_name[event.tool_name or "?"] += 1
        if event.event_type == "file_op":
            got.file_ops[(event.file_path, event.operation or "?")] += 1
        if event.command is not None:
            got.commands[event.command] += 1
    for (_, call_id), result in store.results.items():
        got.result_ids.add(call_id)
        got.error_results += result.status == "error"
        got.durations += result.duration_ms is not None
        if result.exit_code is not None:
            got.exit_codes[result.exit_code] += 1
    for event in store.of_type("message"):
        got.messages[event.agent_event_id] += 1
    got.usage_keys = {e.agent_event_id for e in store.of_type("usage")}
    got.compactions = len(store.of_type("compaction"))
    got.turns = len(store.of_type("turn"))
    got.sessions = {sid: row.get("parent_session_id") for sid, row in store.sessions.items()}
    got.agent_session_id = store.sessions[source.session_id].get("agent_session_id")
    return got


# -- the fixtures ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: str(p.relative_to(ROOT)))
class TestFixtures:
    def test_matches_independent_scan(self, path: Path) -> None:
        """Tool calls, file ops, commands, results, messages, usage and sessions all agree."""
        store = collapse(parse_path(path))
        assert store.problems == []
        assert observed(store, source_for(path)) == scan(path)

    def test_records_are_clean_and_keyed(self, path: Path) -> None:
        """No surrogate reaches a record; events carry offsets and contract timestamps."""
        for record in parse_path(path):
            assert not any(SURROGATE.search(text) for text in texts(record))
            if isinstance(record, Event):
                assert record.source_offset is not None
                assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record.timestamp)
                assert record.agent_event_id

    def test_session_facts(self, path: Path) -> None:
        """The file's own session row carries the envelope facts and a sane time span."""
        source = source_for(path)
        row = collapse(parse_path(path)).sessions[source.session_id]
        assert row["agent"] == "claude-code"
        assert row["transcript_path"] == source.path
        lines = [json.loads(raw) for raw in path.read_bytes().splitlines() if raw.strip()]
        stamps = sorted(o["timestamp"] for o in lines if "timestamp" in o)
        # Activity comes from events (lines that make none, such as hook summaries, do not
        # move it), so the span lies within the file's and starts at its first line.
        assert row["first_seen"] == stamps[0]
        assert stamps[0] <= row["last_activity"] <= stamps[-1]
        cwds = [o["cwd"] for o in lines if o.get("cwd")]
        assert row.get("project_dir") == (cwds[0] if cwds else None)
        versions = [o["version"] for o in lines if o.get("version")]
        assert row.get("agent_version") == (versions[-1] if versions else None)

    def test_deterministic(self, path: Path) -> None:
        """Two runs over the same bytes give the same records."""
        assert parse_path(path) == parse_path(path)


def subagent_files() -> set[str]:
    """Every subagent transcript in the fixtures whose parent transcript is there too, found
    from the tree itself (``<parent>/subagents/agent-*.jsonl``, or a legacy ``agent-*.jsonl``
    beside the parent named by its ``sessionId``), not from the parser under test."""
    found = set()
    for path in ROOT.rglob("agent-*.jsonl"):
        if path.parent.name == "subagents":
            parent, folder = path.parent.parent.name, path.parent.parent.parent
        else:
            ids = [json.loads(line).get("sessionId") for line in path.read_bytes().split(b"\n")
                   if line.strip().startswith(b"{")]  # fmt: skip
            parent, folder = next((i for i in ids if i), ""), path.parent
        if parent and (folder / f"{parent}.jsonl").exists():
            found.add(str(path))
    return found


class TestSubagentLinks:
    def test_child_sessions_point_at_real_files(self) -> None:
        """A child announced by its parent has the id and path discovery gives that file."""
        children = [
            record
            for path in FIXTURES
            for record in parse_path(path)
            if isinstance(record, SessionInfo) and record.parent_tool_call_id is not None
        ]
        existing = [c for c in children if Path(c.transcript_path).exists()]
        on_disk = subagent_files()
        assert len(on_disk) == len(list(ROOT.rglob("agent-*.jsonl")))  # each has its parent here
        announced = {c.transcript_path for c in existing}
        assert announced <= on_disk
        # The rest name their parent themselves (legacy agents the parent never announced).
        self_named = {
            path
            for path in on_disk - announced
            for record in parse_path(Path(path))
            if isinstance(record, SessionInfo) and record.parent_session_id is not None
        }
        assert announced | self_named == on_disk
        for child in existing:
            found = source_for(Path(child.transcript_path))
            assert found.session_id == child.session_id
            assert found.parent_session_id in (None, child.parent_session_id)
            assert child.title

    def test_sidecar_title_and_path_parent(self) -> None:
        """A new-layout subagent takes its parent from the path and its title from the sidecar."""
        path = next(p for p in FIXTURES if p.name == "agent-a36efb2a1231c41e2.jsonl")
        sidecar = json.loads(path.with_suffix(".meta.json").read_text())
        parser = ClaudeParser(source_for(path), sidecar=sidecar)
        row = collapse(feed(parser, split_lines(path.read_bytes()))).sessions
        assert row[source_for(path).session_id]["title"] == "Round 2: alice comparison"
        assert row[source_for(path).session_id]["parent_session_id"] == (
            "claude-code:ef958aa1-0e93-49f0-bb71-150f63befcd1"
        )

    def test_legacy_sibling_parent_from_session_id(self) -> None:
        """A legacy ``agent-*.jsonl`` names its parent only through ``sessionId``."""
        path = ROOT / "legacy-agent-layout" / "-src-deep-manifest" / "agent-c8d9b115.jsonl"
        row = collapse(parse_path(path)).sessions["claude-code:agent-c8d9b115"]
        assert row["parent_session_id"] == "claude-code:a7da6a22-facc-4fcd-8bab-f83c87862004"

    def test_agent_progress_announces_child_early(self) -> None:
        """A running subagent's progress line links it before the Task result arrives."""
        parser = ClaudeParser(main_source())
        line = {
            "type": "progress",
            "uuid": "p1",
            "timestamp": TS,
            "version": "2.1.40",
            "sessionId": "s",
            "isSidechain": False,
            "parentToolUseID": "toolu_1",
            "data": {"type": "agent_progress", "agentId": "a22b0b3973014b318"},
        }
        records = parser.parse_line(dumps(line), 0) + parser.parse_line(dumps(line), 99)
        children = [r for r in records if isinstance(r, SessionInfo) and r.parent_tool_call_id]
        assert [(c.session_id, c.parent_tool_call_id) for c in children] == [
            ("claude-code:s/agent-a22b0b3973014b318", "toolu_1")
        ]
        assert children[0].transcript_path == "/p/-enc/s/subagents/agent-a22b0b3973014b318.jsonl"


# -- restart contract ------------------------------------------------------------------------


def restart_at(path: Path, source: SourceFile, cut: int) -> list[Record]:
    """Parse up to byte ``cut``, rebuild the parser from a JSON round trip of state(), go on."""
    data = path.read_bytes()
    first = ClaudeParser(source)
    records = feed(first, split_lines(data[:cut]))
    state = json.loads(json.dumps(first.state()))
    return records + feed(ClaudeParser(source, state=state), split_lines(data, cut))


class TestRestart:
    def test_turn1_is_a_prefix_of_turn2(self) -> None:
        """The fixture premise: the live file only grew between the two captures."""
        assert TURN2.read_bytes().startswith(TURN1.read_bytes())

    def test_turn1_then_new_bytes_equals_turn2_whole(self) -> None:
        """Parsing turn1, then turn2's new bytes with a rebuilt parser, equals turn2 in one go."""
        source = source_for(TURN2)
        whole = feed(ClaudeParser(source), split_lines(TURN2.read_bytes()))
        resumed = restart_at(TURN2, source, len(TURN1.read_bytes()))
        assert collapse(resumed) == collapse(whole)
        assert resumed == whole  # the state is complete: not even a redundant SessionInfo

    @pytest.mark.parametrize("path", FIXTURES[::3], ids=lambda p: p.name)
    def test_any_line_boundary(self, path: Path) -> None:
        """Restarting at any of several line boundaries gives the same records."""
        data, source = path.read_bytes(), source_for(path)
        whole = feed(ClaudeParser(source), split_lines(data))
        ends = [offset + len(line) + 1 for line, offset in split_lines(data)]
        for cut in ends[:: max(1, len(ends) // 7)]:
            assert restart_at(path, source, cut) == whole

    def test_state_is_json(self) -> None:
        """state() survives json round trips and is a copy, not a live view."""
        parser = ClaudeParser(source_for(TURN2))
        feed(parser, split_lines(TURN1.read_bytes()))
        state = parser.state()
        frozen = json.dumps(state, sort_keys=True)
        feed(parser, split_lines(TURN2.read_bytes(), len(TURN1.read_bytes())))
        assert json.dumps(state, sort_keys=True) == frozen
        assert state["cwd"] == "/Users/User/repo/codemie-ai/codemie-code"
        assert state["agent_session_id"] == "e9fb405b-169f-40eb-9396-7e75076f045d"

    @pytest.mark.parametrize("junk", [None, {}, {"cwd": 3, "tasks": [1], "last_usage": "x"}])
    def test_bad_state_is_ignored(self, junk: Any) -> None:
        """A damaged state falls back to defaults instead of failing the file."""
        parser = ClaudeParser(source_for(TURN1), state=junk)
        assert collapse(feed(parser, split_lines(TURN1.read_bytes()))).problems == []


# -- tokens ----------------------------------------------------------------------------------


def hand_totals(path: Path) -> dict[str, int]:
    """Group assistant lines by message.id and take the maximum of each field (§1.10)."""
    groups: dict[str, dict[str, int]] = {}
    names = {
        "input_tokens": "input_tokens",
        "output_tokens": "output_tokens",
        "cache_read_input_tokens": "cache_read_tokens",
        "cache_creation_input_tokens": "cache_creation_tokens",
    }
    for raw in path.read_bytes().splitlines():
        obj = json.loads(raw)
        if obj.get("type") != "assistant" or "usage" not in obj["message"]:
            continue
        group = groups.setdefault(obj["message"]["id"], dict.fromkeys(names.values(), 0))
        for source_name, name in names.items():
            group[name] = max(group[name], obj["message"]["usage"].get(source_name, 0))
    return {name: sum(g[name] for g in groups.values()) for name in names.values()}


def stored_totals(path: Path) -> dict[str, int]:
    usage = collapse(parse_path(path)).of_type("usage")
    return {name: sum(getattr(e, name) or 0 for e in usage) for name in _TOKENS}


def naive_output_sum(path: Path) -> int:
    lines = [json.loads(raw) for raw in path.read_bytes().splitlines()]
    return sum(
        o["message"]["usage"]["output_tokens"] for o in lines if o.get("type") == "assistant"
    )


class TestTokens:
    def test_split_messages_with_request_id(self) -> None:
        """Every message.id of this file spans ≥ 2 lines; totals equal the per-id maxima."""
        path = ROOT / "hg-coderabbit-cb2e607c.jsonl"
        lines = [json.loads(raw) for raw in path.read_bytes().splitlines()]
        ids = Counter(o["message"]["id"] for o in lines if o.get("type") == "assistant")
        assert min(ids.values()) >= 2
        assert all("requestId" in o for o in lines if o.get("type") == "assistant")
        assert stored_totals(path) == hand_totals(path)
        assert stored_totals(path)["output_tokens"] < naive_output_sum(path)

    @pytest.mark.parametrize(
        "name", ["codemie-session-3fe1b6bc.jsonl", "codemie-session-624a4a58-compaction.jsonl"]
    )
    def test_bedrock_without_request_id(self, name: str) -> None:
        """Bedrock lines have no requestId: the key falls back to message.id alone (quirk 2)."""
        path = ROOT / name
        lines = [json.loads(raw) for raw in path.read_bytes().splitlines()]
        assert not any("requestId" in o for o in lines if o.get("type") == "assistant")
        assert stored_totals(path) == hand_totals(path)
        assert stored_totals(path)["output_tokens"] < naive_output_sum(path)

    def test_all_fixtures_match_hand_totals(self) -> None:
        """No fixture mixes requestId presence within a message, so totals match everywhere."""
        for path in FIXTURES:
            assert stored_totals(path) == hand_totals(path), path.name


# -- single-line behaviour -------------------------------------------------------------------


def main_source() -> SourceFile:
    return SourceFile(agent="claude-code", path="/p/-enc/s.jsonl", session_id="claude-code:s")


def dumps(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def envelope(kind: str, **extra: Any) -> dict[str, Any]:
    base = {
        "type": kind,
        "uuid": "u1",
        "timestamp": TS,
        "cwd": "/work/repo",
        "sessionId": "s",
        "version": "2.1.7",
        "isSidechain": False,
    }
    return base | extra


def tool_use(name: str, params: Any, call_id: str = "toolu_1") -> dict[str, Any]:
    message = {
        "id": "msg_1",
        "model": "claude-x",
        "content": [{"type": "tool_use", "id": call_id, "name": name, "input": params}],
    }
    return envelope("assistant", message=message)


def tool_result(detail: Any, content: Any = "ok", **block: Any) -> dict[str, Any]:
    result = {"type": "tool_result", "tool_use_id": "toolu_1", "content": content} | block
    return envelope("user", message={"content": [result]}, toolUseResult=detail)


def events_of(*objs: dict[str, Any]) -> list[Event]:
    parser = ClaudeParser(main_source())
    records = feed(parser, [(dumps(o), i * 1000) for i, o in enumerate(objs)])
    return [r for r in records if isinstance(r, Event)]


def result_of(obj: dict[str, Any]) -> ToolResult:
    records = ClaudeParser(main_source()).parse_line(dumps(obj), 0)
    (result,) = [r for r in records if isinstance(r, ToolResult)]
    return result


class TestToolCalls:
    @pytest.mark.parametrize(
        ("name", "params", "operation", "target"),
        [
            ("Read", {"file_path": "src/a.py"}, "read", "/work/repo/src/a.py"),
            ("Write", {"file_path": "/abs/b.py", "content": "x"}, "write", "/abs/b.py"),
            ("Edit", {"file_path": "../c.py"}, "edit", "/work/c.py"),
            ("MultiEdit", {"file_path": "d.py", "edits": []}, "edit", "/work/repo/d.py"),
            ("NotebookEdit", {"notebook_path": "n.ipynb"}, "edit", "/work/repo/n.ipynb"),
            ("Glob", {"pattern": "**/*.ts"}, "search", "/work/repo/**/*.ts"),
            ("Glob", {"pattern": "*.md", "path": "/docs"}, "search", "/docs/*.md"),
            ("Grep", {"pattern": "TODO", "path": "lib"}, "search", "/work/repo/lib"),
            ("Grep", {"pattern": "TODO"}, "search", "/work/repo"),
            ("Read", {"file_path": 7}, "read", None),
        ],
    )
    def test_file_tools(
        self, name: str, params: dict[str, Any], operation: str, target: str | None
    ) -> None:
        """File tools become file_op rows with the operation and an absolute target."""
        (event,) = events_of(tool_use(name, params))[:1]
        assert (event.event_type, event.operation, event.file_path) == (
            "file_op",
            operation,
            target,
        )
        assert (event.agent_event_id, event.tool_call_id, event.status) == (
            "toolu_1",
            "toolu_1",
            "pending",
        )
        assert json.loads(event.tool_arguments or "") == params

    def test_bash_is_a_categorised_command(self) -> None:
        """Bash rows carry the command and its category."""
        (event,) = events_of(tool_use("Bash", {"command": "git status", "description": "x"}))[:1]
        assert (event.event_type, event.command) == ("command", "git status")
        assert event.command_category == categorize_command("git status")

    @pytest.mark.parametrize("name", ["BashOutput", "KillShell", "TodoWrite", "mcp__x__y", "LS"])
    def test_other_tools(self, name: str) -> None:
        """Everything else is a plain tool_call (BashOutput has no command of its own)."""
        (event,) = events_of(tool_use(name, {"bash_id": "b1"}))[:1]
        assert (event.event_type, event.tool_name, event.command) == ("tool_call", name, None)

    def test_large_input_is_capped_like_cap_json(self) -> None:
        """A 1 MB Write content is cut before dumping, with the same text cap_json gives."""
        params = {"file_path": "/a", "content": "é" * 1_000_000}
        (event,) = events_of(tool_use("Write", params))[:1]
        assert event.tool_arguments == cap_json(params, DEFAULT_OPTIONS.args_cap)

    def test_tool_use_without_id_keys_on_line(self) -> None:
        """A tool_use block without id still gets a stable key: the line uuid and block index."""
        obj = tool_use("Read", {"file_path": "/a"})
        del obj["message"]["content"][0]["id"]
        (event,) = events_of(obj)[:1]
        assert (event.agent_event_id, event.tool_call_id) == ("u1:0", None)


class TestToolResults:
    def test_bash_success_exits_zero(self) -> None:
        """A plain Bash success means exit 0: Bash turns any other code into an error."""
        detail = {"stdout": "x", "stderr": "", "interrupted": False, "isImage": False}
        result = result_of(tool_result(detail))
        assert (result.status, result.exit_code, result.duration_ms) == ("success", 0, None)

    @pytest.mark.parametrize(
        "extra", [{"returnCodeInterpretation": "No matches found"}, {"backgroundTaskId": "b1"}]
    )
    def test_bash_exit_code_unknown(self, extra: dict[str, Any]) -> None:
        """An accepted non-zero code or a background start leaves the exit code unknown."""
        detail = {"stdout": "", "stderr": "", "interrupted": False} | extra
        assert result_of(tool_result(detail)).exit_code is None

    def test_bash_failure_exit_code(self) -> None:
        """A failed Bash states its code only in the text."""
        result = result_of(
            tool_result("Error: Exit code 127\nnope", content="Exit code 127\nnope", is_error=True)
        )
        assert (result.status, result.exit_code) == ("error", 127)

    def test_interrupted_is_error(self) -> None:
        detail = {"stdout": "", "stderr": "", "interrupted": True}
        assert result_of(tool_result(detail)).status == "error"

    def test_string_error_without_flag(self) -> None:
        """``toolUseResult`` as an ``Error: …`` string marks failure even without is_error."""
        assert result_of(tool_result("Error: File has not been read yet")).status == "error"

    @pytest.mark.parametrize(
        ("detail", "millis"),
        [
            ({"durationMs": 12, "filenames": []}, 12),
            ({"totalDurationMs": 3400, "agentId": "ab12"}, 3400),
            ({"durationSeconds": 1.5, "results": []}, 1500),
            ({"durationMs": True}, None),
            ({"durationMs": -1}, None),
        ],
    )
    def test_durations(self, detail: dict[str, Any], millis: int | None) -> None:
        """The tool's own duration is used where Claude Code records one."""
        assert result_of(tool_result(detail)).duration_ms == millis

    def test_bash_output_exit_code(self) -> None:
        detail = {"shellId": "b1", "status": "completed", "exitCode": 2, "stdout": ""}
        assert result_of(tool_result(detail)).exit_code == 2

    def test_several_results_share_no_detail(self) -> None:
        """With two results on one line, toolUseResult cannot be attributed to either."""
        blocks = [
            {"type": "tool_result", "tool_use_id": "t1", "content": "a"},
            {"type": "tool_result", "tool_use_id": "t2", "content": "b", "is_error": True},
        ]
        obj = envelope("user", message={"content": blocks}, toolUseResult={"durationMs": 5})
        records = ClaudeParser(main_source()).parse_line(dumps(obj), 0)
        results = [
            (r.tool_call_id, r.status, r.duration_ms) for r in records if isinstance(r, ToolResult)
        ]
        assert results == [("t1", "success", None), ("t2", "error", None)]


class TestLineKinds:
    def test_user_prompt_is_sized_not_stored(self) -> None:
        """A prompt becomes a message with its size; the raw line is kept capped."""
        (event,) = events_of(envelope("user", message={"role": "user", "content": "hello"}))
        assert (event.event_type, event.agent_event_id) == ("message", "u1")
        assert json.loads(event.tool_arguments or "") == {"role": "user", "chars": 5}
        assert event.raw_data is not None
        assert len(event.raw_data) <= DEFAULT_OPTIONS.raw_cap + 1

    def test_meta_lines_are_not_prompts(self) -> None:
        assert events_of(envelope("user", isMeta=True, message={"content": "caveat"})) == []

    def test_compact_summary_and_boundary(self) -> None:
        """Both halves of a compaction are compaction events, never prompts (quirk 4)."""
        boundary = envelope(
            "system",
            subtype="compact_boundary",
            compactMetadata={"trigger": "auto", "preTokens": 155979},
        )
        summary = envelope("user", uuid="u2", isCompactSummary=True, message={"content": "..."})
        events = events_of(boundary, summary)
        assert [e.event_type for e in events] == ["compaction", "compaction"]
        assert json.loads(events[0].tool_arguments or "")["pre_tokens"] == 155979

    def test_assistant_text_and_thinking(self) -> None:
        """Thinking is counted inside the line's message event, next to the visible text."""
        message = {
            "id": "m",
            "model": "x",
            "content": [
                {"type": "thinking", "thinking": "abc", "signature": "s"},
                {"type": "text", "text": "hello"},
            ],
        }
        (event,) = [
            e
            for e in events_of(envelope("assistant", message=message))
            if e.event_type == "message"
        ]
        assert json.loads(event.tool_arguments or "") == {
            "role": "assistant",
            "chars": 5,
            "thinking_chars": 3,
        }
        assert event.model == "x"

    def test_usage_repeats_are_not_resent(self) -> None:
        """The same usage on consecutive lines is sent once; a grown count is sent again."""

        def line(uuid: str, out: int) -> dict[str, Any]:
            usage = {"input_tokens": 3, "output_tokens": out, "cache_read_input_tokens": 10}
            message = {
                "id": "msg_9",
                "model": "x",
                "usage": usage,
                "content": [{"type": "text", "text": "a"}],
            }
            return envelope("assistant", uuid=uuid, message=message, requestId="req_1")

        usage = [
            e
            for e in events_of(line("a", 8), line("b", 8), line("c", 1703))
            if e.event_type == "usage"
        ]
        assert [(e.agent_event_id, e.output_tokens) for e in usage] == [
            ("usage:msg_9:req_1", 8),
            ("usage:msg_9:req_1", 1703),
        ]
        assert (
            usage[0].input_tokens,
            usage[0].cache_read_tokens,
            usage[0].cache_creation_tokens,
        ) == (3, 10, None)

    def test_api_errors(self) -> None:
        """Synthetic API error messages and api_error system lines are errors, not usage."""
        synthetic = envelope(
            "assistant",
            isApiErrorMessage=True,
            error="rate_limit",
            message={
                "id": "m",
                "model": "<synthetic>",
                "usage": {},
                "content": [{"type": "text", "text": "API Error"}],
            },
        )
        system = envelope(
            "system", uuid="u2", subtype="api_error", retryAttempt=2, error={"status": 529}
        )
        events = events_of(synthetic, system)
        assert [e.event_type for e in events] == ["error", "error"]
        assert json.loads(events[1].tool_arguments or "")["retryAttempt"] == 2

    def test_turn_duration(self) -> None:
        (event,) = events_of(envelope("system", subtype="turn_duration", durationMs=162419))
        assert (event.event_type, event.duration_ms) == ("turn", 162419)

    @pytest.mark.parametrize(
        "kind",
        [
            "file-history-snapshot",
            "queue-operation",
            "permission-mode",
            "last-prompt",
            "attachment",
            "progress",
            "never-seen-before",
        ],
    )
    def test_bookkeeping_lines_make_no_events(self, kind: str) -> None:
        assert events_of(envelope(kind, data={"type": "hook_progress"})) == []

    def test_hook_error_attachment(self) -> None:
        obj = envelope("attachment", attachment={"type": "hook_blocking_error", "hookName": "x"})
        assert [e.event_type for e in events_of(obj)] == ["error"]

    def test_summary_lines_are_ignored(self) -> None:
        """Summaries describe other sessions: no record at all, not even session facts."""
        obj = {"type": "summary", "summary": "t", "leafUuid": "x", "timestamp": TS}
        assert ClaudeParser(main_source()).parse_line(dumps(obj), 0) == []

    def test_titles(self) -> None:
        """A /rename title wins over a later generated one."""
        parser = ClaudeParser(main_source())
        lines = [
            {"type": "custom-title", "customTitle": "mine"},
            {"type": "ai-title", "aiTitle": "ai"},
        ]
        records = feed(parser, [(dumps(o), i) for i, o in enumerate(lines)])
        assert collapse(records).sessions["claude-code:s"]["title"] == "mine"


class TestEdges:
    def test_parse_document_is_unused(self) -> None:
        """Claude transcripts are JSONL: the whole-document entry point yields nothing."""
        assert ClaudeParser(main_source()).parse_document(b'{"type": "user"}') == []

    def test_result_without_call_id_is_skipped(self) -> None:
        """A tool_result that names no call cannot complete one."""
        obj = tool_result({"durationMs": 1})
        del obj["message"]["content"][0]["tool_use_id"]
        records = ClaudeParser(main_source()).parse_line(dumps(obj), 0)
        assert not [r for r in records if isinstance(r, ToolResult | ParseProblem)]

    def test_exit_code_from_list_content(self) -> None:
        """The ``Exit code N`` text may sit in the first block of a list content."""
        content = [{"type": "text", "text": "Exit code 2\nboom"}]
        assert result_of(tool_result(None, content=content, is_error=True)).exit_code == 2

    def test_bash_without_command(self) -> None:
        (event,) = events_of(tool_use("Bash", {"description": "x"}))[:1]
        assert (event.event_type, event.command, event.command_category) == ("command", None, None)

    def test_float_token_counts(self) -> None:
        usage = {"input_tokens": 3.0, "output_tokens": -1, "cache_read_input_tokens": True}
        message = {"id": "m", "model": "x", "usage": usage, "content": []}
        (event,) = events_of(envelope("assistant", message=message))
        assert (event.input_tokens, event.output_tokens, event.cache_read_tokens) == (3, None, None)

    @pytest.mark.parametrize("version", ["x.y", "", None])
    def test_unknown_version_announces_no_child(self, version: str | None) -> None:
        """Without a version the child's file layout is unknown, so no child is guessed."""
        obj = tool_result({"agentId": "a1b2c3", "totalDurationMs": 5})
        obj["version"] = version
        records = ClaudeParser(main_source()).parse_line(dumps(obj), 0)
        assert [r.session_id for r in records if isinstance(r, SessionInfo)] == ["claude-code:s"]

    def test_task_titles_are_bounded(self) -> None:
        """Descriptions of calls that never finish do not grow the state without end."""
        parser = ClaudeParser(main_source())
        for i in range(100):
            obj = tool_use("Task", {"description": f"job {i}"}, call_id=f"toolu_{i}")
            parser.parse_line(dumps(obj), i)
        assert len(parser.state()["tasks"]) == 64
        assert "toolu_99" in parser.state()["tasks"]

    @pytest.mark.parametrize(
        ("sidecar", "title"),
        [({"agentType": "Explore"}, "Explore"), ({"description": 5}, None), (None, None)],
    )
    def test_sidecar_variants(self, sidecar: dict[str, Any] | None, title: str | None) -> None:
        parser = ClaudeParser(main_source(), sidecar=sidecar)
        (info,) = parser.parse_line(dumps({"type": "queue-operation", "timestamp": TS}), 0)
        assert isinstance(info, SessionInfo)
        assert info.title == title

    def test_deeply_nested_input(self) -> None:
        """Nesting beyond the shrink depth is still capped by cap_json."""
        value: Any = "x" * 5000
        for _ in range(40):
            value = [value]
        (event,) = events_of(tool_use("mcp__deep", {"v": value}))[:1]
        assert len(event.tool_arguments or "") == DEFAULT_OPTIONS.args_cap + 1


class TestSessionFacts:
    def test_several_session_ids_stay_one_session(self) -> None:
        """A resumed file with a new sessionId is still the file's session (quirk 6)."""
        objs = [
            envelope("user", message={"content": "a"}),
            envelope("user", uuid="u2", sessionId="other", message={"content": "b"}),
        ]
        parser = ClaudeParser(main_source())
        store = collapse(feed(parser, [(dumps(o), i * 100) for i, o in enumerate(objs)]))
        assert list(store.sessions) == ["claude-code:s"]
        assert store.sessions["claude-code:s"]["agent_session_id"] == "s"

    def test_facts_are_sent_once(self) -> None:
        """Unchanged facts are not repeated, nor is an advancing timestamp alone: the store
        derives activity from the events' timestamps."""
        parser = ClaudeParser(main_source())
        first = parser.parse_line(dumps(envelope("user", message={"content": "a"})), 0)
        again = parser.parse_line(dumps(envelope("user", uuid="u2", message={"content": "b"})), 9)
        later = envelope(
            "user", uuid="u3", timestamp="2026-01-14T19:21:00.000Z", message={"content": "c"}
        )
        moved = parser.parse_line(dumps(later), 20)
        infos = [r for r in first + again + moved if isinstance(r, SessionInfo)]
        assert len(infos) == 1
        assert [r.timestamp for r in moved if isinstance(r, Event)] == [later["timestamp"]]

    def test_synthetic_model_is_not_the_session_model(self) -> None:
        message = {"id": "m", "model": "<synthetic>", "content": []}
        records = ClaudeParser(main_source()).parse_line(
            dumps(envelope("assistant", isApiErrorMessage=True, message=message)), 0
        )
        assert all(r.model is None for r in records if isinstance(r, SessionInfo))

    def test_missing_timestamp_before_any(self) -> None:
        """An event line with no time and none seen before is reported, not invented."""
        obj = envelope("user", message={"content": "a"})
        del obj["timestamp"]
        records = ClaudeParser(main_source()).parse_line(dumps(obj), 0)
        assert [r.reason for r in records if isinstance(r, ParseProblem)] == ["missing timestamp"]


# -- hostile input ---------------------------------------------------------------------------


class TestHostileLines:
    def test_lone_surrogates_are_replaced(self) -> None:
        r"""``\udcb2`` escapes decode through the slow path and reach no record."""
        obj = envelope("user", message={"content": "bin \udcb2 and \ud83d half"})
        line = json.dumps(obj).encode()
        assert b"\\udcb2" in line
        records = ClaudeParser(main_source()).parse_line(line, 0)
        (event,) = [r for r in records if isinstance(r, Event)]
        assert json.loads(event.tool_arguments or "")["chars"] == 16
        assert not any(SURROGATE.search(t) for r in records for t in texts(r))

    def test_surrogates_in_tool_input_and_path(self) -> None:
        obj = tool_use("Read", {"file_path": "/tmp/\udcb2.txt"})
        (event,) = events_of(obj)[:1]
        assert event.file_path == "/tmp/\ufffd.txt"
        assert "\\ud" not in (event.tool_arguments or "")

    @pytest.mark.parametrize(
        ("line", "reason"),
        [
            (b'{"type":"user","x":"\x00"}', "NUL byte in line"),
            (b'{"type":"user","x":"\xff\xfe"}', "invalid UTF-8 at byte 20"),
            (b"[1, 2]", "not a JSON object (list)"),
            (b"", "empty line"),
            (b'{"type":"assistant","message":{"content":[{"ty', "invalid JSON"),
        ],
    )
    def test_bad_lines_are_problems(self, line: bytes, reason: str) -> None:
        (problem,) = ClaudeParser(main_source()).parse_line(line, 42)
        assert isinstance(problem, ParseProblem)
        assert (problem.offset, problem.reason) == (42, reason)

    def test_truncated_line_then_valid_line(self) -> None:
        """A crash-truncated line costs only itself; the next line parses normally."""
        good = dumps(envelope("user", message={"content": "after the crash"}))
        data = good[:37] + b"\n" + good + b"\n"
        records = feed(ClaudeParser(main_source()), split_lines(data))
        assert [type(r).__name__ for r in records] == ["ParseProblem", "SessionInfo", "Event"]
        assert records[2].source_offset == 38  # type: ignore[union-attr]

    def test_nul_escape_inside_strings(self) -> None:
        r"""A ``\u0000`` escape is legal JSON; the NUL never reaches a plain-text field."""
        (event,) = events_of(tool_use("Bash", {"command": "echo a\u0000b"}))[:1]
        assert event.command == "echo a\ufffdb"

    @pytest.mark.parametrize("typed", [False, True], ids=["general", "typed"])
    def test_nul_escapes_in_every_string_read_in_place(self, typed: bool) -> None:
        r"""The hot paths clean decoded strings in place (``_NUL_ONLY``): a ``\u0000`` in any
        of them (model, ids, tool name, command, target, text, request id, call id) comes out
        as U+FFFD, on the general and the typed (large tool result) decoding alike."""
        nul = "a\u0000b"
        message = {
            "id": f"msg{nul}",
            "model": f"claude{nul}",
            "content": [
                {"type": "text", "text": f"said {nul}"},
                {"type": "tool_use", "id": f"toolu{nul}", "name": f"Tool{nul}", "input": {}},
                {"type": "tool_use", "id": "toolu_2", "name": "Bash",
                 "input": {"command": f"echo {nul}"}},
                {"type": "tool_use", "id": "toolu_3", "name": "Read",
                 "input": {"file_path": f"/tmp/{nul}"}},
            ],
            "usage": {"input_tokens": 1, "output_tokens": 2},
        }  # fmt: skip
        answer = envelope("assistant", uuid=f"u{nul}", requestId=f"req{nul}", message=message)
        padding = "x" * (TYPED_MIN_BYTES if typed else 0)
        result = tool_result({"stdout": padding}, content=padding, tool_use_id=f"toolu{nul}")
        prompt = envelope("user", uuid="u2", message={"content": f"asked {nul}"})
        parser = ClaudeParser(main_source())
        lines = [dumps(answer), dumps(result), dumps(prompt)]
        records = feed(parser, [(line, i * 10_000) for i, line in enumerate(lines)])
        assert b"\\u0000" in lines[1]
        assert (len(lines[1]) >= TYPED_MIN_BYTES) is typed
        found = [t for r in records for t in texts(r)]
        assert not [t for t in found if "\x00" in t]
        clean = "a\ufffdb"
        events = {e.agent_event_id: e for e in records if isinstance(e, Event)}
        assert events[f"usage:msg{clean}:req{clean}"].model == f"claude{clean}"
        assert events[f"u{clean}"].preview == f"said {clean}"
        assert events["toolu_2"].command == f"echo {clean}"
        assert events["toolu_3"].file_path == f"/tmp/{clean}"
        assert events[f"toolu{clean}"].tool_name == f"Tool{clean}"
        assert events["u2"].preview == f"asked {clean}"
        (done,) = [r for r in records if isinstance(r, ToolResult)]
        assert done.tool_call_id == f"toolu{clean}"

    def test_unexpected_failure_becomes_a_problem(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Whatever goes wrong inside, parse_line answers with a ParseProblem."""

        def boom(command: str) -> str:
            raise ValueError(command)

        monkeypatch.setattr(claude_module, "categorize_command", boom)
        (problem,) = [
            r
            for r in ClaudeParser(main_source()).parse_line(
                dumps(tool_use("Bash", {"command": "ls"})), 5
            )
            if isinstance(r, ParseProblem)
        ]
        assert problem.reason == "parser error: ValueError"


# -- properties ------------------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(exclude_categories=()), max_size=12)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
tool_names = st.sampled_from(["Read", "Write", "Glob", "Grep", "Bash", "Task", "NotebookEdit", "X"])
param_keys = st.sampled_from(
    ["file_path", "notebook_path", "pattern", "path", "command", "description"]
)
blocks = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["tool_use", "tool_result", "text", "thinking", "image"])
        | json_values
    },
    optional={
        "id": st.text(max_size=6) | json_values,
        "name": tool_names | json_values,
        "input": st.dictionaries(param_keys, st.text(max_size=8) | json_values) | json_values,
        "tool_use_id": st.text(max_size=6) | json_values,
        "is_error": json_values,
        "content": json_values,
        "text": st.text(max_size=8) | json_values,
        "thinking": json_values,
    },
)
detail_keys = st.sampled_from(
    [
        "durationMs",
        "totalDurationMs",
        "durationSeconds",
        "exitCode",
        "interrupted",
        "stdout",
        "agentId",
        "success",
        "returnCodeInterpretation",
    ]
)
claude_lines = st.fixed_dictionaries(
    {
        "type": st.sampled_from(
            [
                "user",
                "assistant",
                "system",
                "progress",
                "attachment",
                "custom-title",
                "ai-title",
                "summary",
            ]
        )
        | json_values
    },
    optional={
        "uuid": st.text(max_size=6) | json_values,
        "timestamp": st.sampled_from([TS, "2025-01-01T00:00:00Z", "nope"]) | json_values,
        "sessionId": st.text(max_size=6) | json_values,
        "cwd": st.sampled_from(["/w", "rel"]) | json_values,
        "version": st.sampled_from(["2.1.7", "2.0.1", "x.y"]) | json_values,
        "isSidechain": json_values,
        "isMeta": json_values,
        "isCompactSummary": json_values,
        "isApiErrorMessage": json_values,
        "requestId": json_values,
        "subtype": st.sampled_from(["compact_boundary", "turn_duration", "api_error"])
        | json_values,
        "message": st.fixed_dictionaries(
            {},
            optional={
                "id": json_values,
                "model": json_values,
                "content": st.lists(blocks, max_size=3) | json_values,
                "usage": st.dictionaries(
                    st.sampled_from(["input_tokens", "output_tokens"]), json_values
                ),
            },
        )
        | json_values,
        "toolUseResult": st.dictionaries(detail_keys, json_values) | json_values,
        "data": st.fixed_dictionaries({"type": st.just("agent_progress"), "agentId": json_values}),
        "parentToolUseID": json_values,
        "attachment": json_values,
        "compactMetadata": json_values,
        "durationMs": json_values,
        "customTitle": json_values,
    },
)


def run_twice(lines: list[bytes]) -> list[Record]:
    runs = []
    for _ in range(2):
        parser = ClaudeParser(main_source(), options=ParserOptions(args_cap=64, raw_cap=32))
        runs.append(feed(parser, [(line, i) for i, line in enumerate(lines)]))
    assert runs[0] == runs[1]
    for record in runs[0]:
        assert not any(SURROGATE.search(text) for text in texts(record))
    return runs[0]


class TestProperties:
    @settings(max_examples=300, deadline=None)
    @given(st.lists(st.binary(max_size=200), max_size=5))
    def test_arbitrary_bytes(self, lines: list[bytes]) -> None:
        """Arbitrary bytes never raise and give the same records twice."""
        run_twice(lines)

    @settings(max_examples=300, deadline=None)
    @given(st.lists(json_values, max_size=5))
    def test_arbitrary_json(self, values: list[Any]) -> None:
        """Any JSON value as a line never raises."""
        run_twice([json.dumps(v).encode() for v in values])

    @settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(claude_lines, max_size=6))
    def test_claude_shaped_json(self, objs: list[dict[str, Any]]) -> None:
        """Claude-shaped lines with wrong-typed fields never reach the catch-all guard."""
        records = run_twice([json.dumps(o).encode() for o in objs])
        assert not [
            r
            for r in records
            if isinstance(r, ParseProblem) and r.reason.startswith("parser error")
        ]

    @settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(claude_lines, max_size=6), st.integers(0, 6))
    def test_restart_anywhere(self, objs: list[dict[str, Any]], cut: int) -> None:
        """Resuming from state() at any line gives the same records as one pass."""
        lines = [(json.dumps(o).encode(), i) for i, o in enumerate(objs)]
        whole = feed(ClaudeParser(main_source()), lines)
        first = ClaudeParser(main_source())
        head = feed(first, lines[:cut])
        resumed = ClaudeParser(main_source(), state=json.loads(json.dumps(first.state())))
        assert head + feed(resumed, lines[cut:]) == whole

    @settings(max_examples=300, deadline=None)
    @given(json_values, st.integers(1, 40))
    def test_shrink_keeps_cap_json_text(self, value: Any, cap: int) -> None:
        """Cutting before dumping yields exactly the text cap_json gives for the whole value."""
        assert cap_json(claude_module._shrink(value, cap, 0), cap) == cap_json(value, cap)


def cut_whole(text: str, limit: int) -> str:
    """The reference cut: decode everything, then keep ``limit`` characters."""
    return text if len(text) <= limit else text[:limit] + "…"


# Mixed widths (1, 2, 3 and 4 UTF-8 bytes) so every branch of cut_utf8 is reached.
wide_text = st.text(st.sampled_from('ab{}"é—😀\u2028') | st.characters(exclude_categories=("Cs",)))


class TestCutting:
    """Cutting before decoding gives exactly the text of decoding everything and then cutting."""

    @settings(max_examples=400, deadline=None)
    @given(wide_text, st.integers(1, 40))
    def test_cut_utf8(self, text: str, limit: int) -> None:
        """Any UTF-8 text, any limit: the first characters and the ellipsis, as a full decode."""
        assert cut_utf8(text.encode(), limit) == cut_whole(text, limit)

    @pytest.mark.parametrize(
        ("text", "limit"),
        [
            pytest.param("a" * 20 + "—", 10, id="ascii-head"),
            pytest.param("—" + "a" * 40, 30, id="first-guess-suffices"),
            pytest.param("a" * 29 + "—" * 3, 30, id="first-guess-short"),
            pytest.param("a" * 9 + "—" * 10, 10, id="guess-suffices"),
            pytest.param("é" * 30, 10, id="beyond-the-guess"),
            pytest.param("😀" * 20, 5, id="four-byte-characters"),
            pytest.param("—a" * 3, 10, id="short-but-wide"),
            pytest.param("😀" * 10, 10, id="exactly-limit-characters"),
            pytest.param("😀" * 11, 10, id="one-over"),
        ],
    )
    def test_cut_utf8_table(self, text: str, limit: int) -> None:
        """Each way through cut_utf8 against the full decode."""
        assert cut_utf8(text.encode(), limit) == cut_whole(text, limit)

    @settings(max_examples=300, deadline=None)
    @given(json_values, st.integers(1, 40))
    def test_cap_json(self, value: Any, limit: int) -> None:
        """cap_json's text is the whole dump cut, on the orjson path and the fallback alike."""
        try:
            whole = orjson.dumps(value, default=str).decode()
        except TypeError:  # lone surrogates, huge integers
            dumped = json.dumps(value, default=str, ensure_ascii=False)
            whole = SURROGATE.sub("\ufffd", dumped).replace("\x00", "\ufffd")
        assert cap_json(value, limit) == cut_whole(whole, limit)

    @settings(max_examples=300, deadline=None)
    @given(wide_text.filter(lambda t: "\x00" not in t), st.integers(1, 40))
    def test_raw_prefix(self, text: str, cap: int) -> None:
        """A decodable line's raw prefix is its text cut (JSON lines carry no raw NUL)."""
        assert claude_module._raw_prefix(text.encode(), cap) == cut_whole(text, cap)

    def test_event_field_order_is_checked(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Events are built positionally, so a reordered Event refuses to load the module."""
        claude_module._check_event_fields()  # the real Event passes

        class Reordered(msgspec.Struct):
            agent_event_id: str
            session_id: str

        monkeypatch.setattr(claude_module, "Event", Reordered)
        with pytest.raises(ImportError, match="_EVENT_FIELDS"):
            claude_module._check_event_fields()


class TestLocalCommands:
    """Slash commands typed in the terminal, and their output, are not user messages."""

    @pytest.mark.parametrize(
        ("content", "args"),
        [
            ("<command-name>/exit</command-name>\n  <command-message>exit</command-message>\n"
             "  <command-args></command-args>", {"kind": "local_command", "name": "/exit"}),
            ("<command-message>clear</command-message>\n<command-name>/clear</command-name>",
             {"kind": "local_command", "name": "/clear"}),
            ("<local-command-stdout>See ya!</local-command-stdout>",
             {"kind": "local_command_stdout", "chars": 7}),
            ([{"type": "text", "text": "<local-command-stderr>no</local-command-stderr>"}],
             {"kind": "local_command_stderr", "chars": 2}),
        ],
    )  # fmt: skip
    def test_stored_as_what_they_are(self, content: Any, args: dict[str, Any]) -> None:
        (event,) = events_of(envelope("user", message={"role": "user", "content": content}))
        assert event.event_type == "other"
        assert json.loads(event.tool_arguments or "{}") == args

    def test_a_prompt_mentioning_them_is_a_message(self) -> None:
        content = "why does <command-name>/exit</command-name> show up?"
        (event,) = events_of(envelope("user", message={"role": "user", "content": content}))
        assert event.event_type == "message"
