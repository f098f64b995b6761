"""CodexParser against the real Codex fixtures, the restart contract and hostile input.

Expected values are computed here by a plain ``json`` scan of each fixture (and a plain regex over
patch text), independently of the parser, and compared with the parser's records after
collapsing them the way the store does (``store/records.py``): events unique by key with
token counts merged by maximum, tool results applied in order per call id (non-None fields win),
session facts upserted.
"""

from __future__ import annotations

import json
import posixpath
import re
import shlex
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from msgspec.structs import asdict, replace

from collector.parsers.base import DEFAULT_OPTIONS, ParserOptions
from collector.parsers.codex import CodexParser
from collector.parsers.sources import SourceFile, classify
from store.records import Event, ParseProblem, Record, SessionInfo, ToolResult

ROOT = Path(__file__).resolve().parents[2] / "fixtures" / "codex"
FIXTURES = sorted(ROOT.rglob("*.jsonl"))
REAL = [p for p in FIXTURES if "schema-coverage" not in p.parts]
TOKENS_FIXTURE = ROOT / "codemie-rollout-2026-05-11T11-26-55.jsonl"
TOOL_TYPES = ("file_op", "command", "tool_call")
SHELL_TOOLS = {"shell", "exec_command", "shell_command", "container.exec", "local_shell_call"}
TOKEN_FIELDS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens")
PATCH_FILE = re.compile(r"^\*\*\* (Add|Update|Delete) File: (.+?)\s*$")
PATCH_MOVE = re.compile(r"^\*\*\* Move to: (.+?)\s*$")
TS = "2026-05-11T08:27:17.490Z"
UUID = "019e1625-789d-76c0-80ab-3724b5ddb799"


# -- helpers: feeding lines and collapsing records like the store -----------------------------


def source_for(path: Path) -> SourceFile:
    found = classify("codex", str(ROOT), str(path))
    assert found is not None
    return found


SYNTHETIC = SourceFile(
    agent="codex",
    path=f"/h/.codex/sessions/2026/05/11/rollout-2026-05-11T11-26-55-{UUID}.jsonl",
    session_id=f"codex:{UUID}",
)


def split_lines(data: bytes) -> list[tuple[bytes, int]]:
    """Complete lines (``b"\\n"`` only) with their byte offsets, as the tailer hands them over."""
    lines, offset = [], 0
    while (end := data.find(b"\n", offset)) >= 0:
        lines.append((data[offset:end], offset))
        offset = end + 1
    return lines


def feed(parser: CodexParser, lines: list[tuple[bytes, int]]) -> list[Record]:
    records: list[Record] = []
    for line, offset in lines:
        records.extend(parser.parse_line(line, offset))
    return records


def parse_path(path: Path, options: ParserOptions = DEFAULT_OPTIONS) -> list[Record]:
    return feed(CodexParser(source_for(path), options=options), split_lines(path.read_bytes()))


def parse_objects(objects: list[Any], source: SourceFile = SYNTHETIC) -> list[Record]:
    """Records for synthetic lines (offsets as if written one after another)."""
    parser = CodexParser(source)
    records: list[Record] = []
    offset = 0
    for obj in objects:
        line = obj if isinstance(obj, bytes) else orjson.dumps(obj)
        records.extend(parser.parse_line(line, offset))
        offset += len(line) + 1
    return records


@dataclass
class Store:
    """What the store would hold after applying the records in order."""

    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: dict[tuple[str, str], Event] = field(default_factory=dict)
    problems: list[ParseProblem] = field(default_factory=list)

    def of_type(self, *types: str) -> list[Event]:
        return [e for e in self.events.values() if e.event_type in types]

    def calls(self) -> dict[str, list[Event]]:
        found: dict[str, list[Event]] = {}
        for event in self.of_type(*TOOL_TYPES):
            if event.tool_call_id is not None:
                found.setdefault(event.tool_call_id, []).append(event)
        return found


def collapse(records: list[Record]) -> Store:
    """Apply records as the store does (see store/records.py).

    Results are applied after all events, in order: the store keeps a result whose call row is
    not stored yet and applies it when the row arrives, which ends in the same rows.
    """
    store = Store()
    results: list[ToolResult] = []
    for record in records:
        if isinstance(record, SessionInfo):
            _merge_session(store.sessions.setdefault(record.session_id, {}), record)
        elif isinstance(record, Event):
            _touch(store.sessions.setdefault(record.session_id, {}), record.timestamp)
            key = (record.session_id, record.agent_event_id)
            old = store.events.get(key)
            store.events[key] = record if old is None else _merge_tokens(old, record)
        elif isinstance(record, ToolResult):
            results.append(record)
        else:
            store.problems.append(record)
    for result in results:
        for key, event in store.events.items():
            if event.tool_call_id == result.tool_call_id and event.session_id == result.session_id:
                store.events[key] = _apply(event, result)
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
    for name in TOKEN_FIELDS:
        values = [v for v in (getattr(old, name), getattr(new, name)) if v is not None]
        merged[name] = max(values) if values else None
    return replace(old, **merged)


def _apply(event: Event, result: ToolResult) -> Event:
    changes: dict[str, Any] = {"status": result.status}
    if result.duration_ms is not None:
        changes["duration_ms"] = result.duration_ms
    if result.exit_code is not None:
        changes["exit_code"] = result.exit_code
    return replace(event, **changes)


# -- the independent expectation: a plain json scan -------------------------------------------


def rows(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(offset, decoded line) for every line, with the stdlib decoder."""
    return [(offset, json.loads(line)) for line, offset in split_lines(path.read_bytes())]


def payloads(path: Path, outer: str, *inner: str) -> list[tuple[int, dict[str, Any]]]:
    found: list[tuple[int, dict[str, Any]]] = []
    for offset, obj in rows(path):
        payload = obj.get("payload")
        if obj.get("type") != outer or not isinstance(payload, dict):
            continue
        if not inner or payload.get("type") in inner:
            found.append((offset, payload))
    return found


def maybe_json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def call_name(payload: dict[str, Any]) -> str:
    name = str(payload.get("name") or payload["type"])
    namespace = payload.get("namespace")
    if namespace:
        return f"{namespace}{name}" if namespace.endswith("__") else f"{namespace}.{name}"
    return name


def expected_calls(path: Path) -> Counter[str]:
    """Tool name of every call line (one per line, however many events it gives)."""
    names: Counter[str] = Counter()
    for _, p in payloads(path, "response_item", "function_call", "custom_tool_call"):
        names[call_name(p)] += 1
    names["local_shell_call"] += len(payloads(path, "response_item", "local_shell_call"))
    for _, p in payloads(path, "response_item", "web_search_call", "tool_search_call"):
        names[p["type"].removesuffix("_call")] += 1
    names["image_generation"] += len(payloads(path, "response_item", "image_generation_call"))
    return +names


def expected_commands(path: Path) -> Counter[str]:
    commands: Counter[str] = Counter()
    for _, p in payloads(path, "response_item", "function_call", "custom_tool_call"):
        if p.get("namespace") or p.get("name") not in SHELL_TOOLS:
            continue
        args = maybe_json(p.get("arguments", p.get("input")))
        cmd = args.get("command", args.get("cmd")) if isinstance(args, dict) else None
        if isinstance(cmd, str):
            commands[cmd] += 1
        elif isinstance(cmd, list) and cmd:
            is_wrapped = len(cmd) >= 3 and cmd[0].split("/")[-1] in ("bash", "zsh", "sh")
            commands[cmd[2] if is_wrapped else shlex.join(cmd)] += 1
    return commands


def patch_ops(text: str, cwd: str) -> set[tuple[str, str]]:
    """(absolute path, operation) per file of an apply_patch text, by plain regex.

    A move is a delete of the old path and a write of the new one; a pair is counted once.
    """
    kinds = {"Add": "write", "Update": "edit", "Delete": "delete"}
    ops: list[tuple[str, str]] = []
    for line in text.split("\n"):
        if found := PATCH_FILE.match(line):
            ops.append((posixpath.normpath(posixpath.join(cwd, found[2])), kinds[found[1]]))
        elif (moved := PATCH_MOVE.match(line)) and ops and ops[-1][1] == "edit":
            old = ops.pop()[0]
            ops += [(old, "delete"), (posixpath.normpath(posixpath.join(cwd, moved[1])), "write")]
    return set(ops)


def expected_file_ops(path: Path) -> Counter[tuple[str, str]]:
    cwd = payloads(path, "session_meta")[0][1]["cwd"]
    ops: Counter[tuple[str, str]] = Counter()
    for _, p in payloads(path, "response_item", "custom_tool_call", "function_call"):
        if p.get("name") == "apply_patch":
            text = maybe_json(p.get("input", p.get("arguments")))
            ops.update(patch_ops(text if isinstance(text, str) else text["input"], cwd))
    return ops


def exec_ends(path: Path) -> dict[str, tuple[int, int]]:
    """call id → (exit code, duration ms) from ``exec_command_end``."""
    return {
        p["call_id"]: (
            p["exit_code"],
            p["duration"]["secs"] * 1000 + p["duration"]["nanos"] // 10**6,
        )
        for _, p in payloads(path, "event_msg", "exec_command_end")
    }


def shell_results(path: Path) -> dict[str, tuple[int, int]]:
    """call id → (exit code, duration ms) from shell-era JSON outputs with ``metadata``."""
    found = {}
    for _, p in payloads(path, "response_item", "function_call_output", "custom_tool_call_output"):
        out = maybe_json(p.get("output"))
        if isinstance(out, dict) and isinstance(out.get("metadata"), dict):
            meta = out["metadata"]
            found[p["call_id"]] = (meta["exit_code"], round(meta["duration_seconds"] * 1000))
    return found


def token_totals(path: Path) -> list[dict[str, int]]:
    """Every non-null ``total_token_usage``, in file order."""
    return [
        p["info"]["total_token_usage"]
        for _, p in payloads(path, "event_msg", "token_count")
        if p.get("info")
    ]


def expected_messages(path: Path) -> int:
    """Human prompts and assistant answers: the events, plus response items with no mirror."""
    events = payloads(path, "event_msg", "user_message", "agent_message")
    said = {(p["type"], p["message"].strip()) for _, p in events}
    extra = 0
    for _, p in payloads(path, "response_item", "message"):
        text = "".join(c.get("text", "") for c in p["content"] if isinstance(c, dict))
        if p["role"] == "assistant" and ("agent_message", text.strip()) not in said:
            extra += 1
    return len(events) + extra


# -- every fixture ------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=FIXTURES, ids=lambda p: p.name)
def fixture_path(request: pytest.FixtureRequest) -> Path:
    path: Path = request.param
    return path


class TestFixtures:
    """Each fixture, parsed whole, against the plain-json expectation."""

    def test_no_problems(self, fixture_path: Path) -> None:
        """No line of a real or schema-coverage file is rejected or trips the parser."""
        problems = [r for r in parse_path(fixture_path) if isinstance(r, ParseProblem)]
        assert problems == []

    def test_tool_calls_by_name(self, fixture_path: Path) -> None:
        """Every call line gives tool events under its name (a patch gives one per file)."""
        store = collapse(parse_path(fixture_path))
        by_line = {e.source_offset: e.tool_name for e in store.of_type(*TOOL_TYPES)}
        assert Counter(by_line.values()) == expected_calls(fixture_path)

    def test_commands(self, fixture_path: Path) -> None:
        """Shell calls become ``command`` events with the command text and a category."""
        commands = collapse(parse_path(fixture_path)).of_type("command")
        assert Counter(e.command for e in commands) == expected_commands(fixture_path)
        assert all(e.command_category for e in commands)

    def test_apply_patch_file_ops(self, fixture_path: Path) -> None:
        """One ``file_op`` per patched file, absolute, with the operation from the patch."""
        ops = collapse(parse_path(fixture_path)).of_type("file_op")
        got = Counter((e.file_path, e.operation) for e in ops)
        assert got == expected_file_ops(fixture_path)
        assert all(e.tool_call_id for e in ops)

    def test_exec_command_end_results(self, fixture_path: Path) -> None:
        """The call row of every ``exec_command_end`` ends with its exit code and duration."""
        calls = collapse(parse_path(fixture_path)).calls()
        for call_id, (code, duration) in exec_ends(fixture_path).items():
            if call_id not in calls:
                continue  # schema-coverage lines with no call
            for event in calls[call_id]:
                assert (event.exit_code, event.duration_ms) == (code, duration), call_id
                assert event.status == ("success" if code == 0 else "error")

    def test_shell_output_results(self, fixture_path: Path) -> None:
        """Shell-era outputs ``{"output","metadata"}`` complete their call row."""
        calls = collapse(parse_path(fixture_path)).calls()
        for call_id, (code, duration) in shell_results(fixture_path).items():
            for event in calls[call_id]:
                assert (event.exit_code, event.duration_ms) == (code, duration), call_id
                assert event.status == ("success" if code == 0 else "error")

    def test_messages(self, fixture_path: Path) -> None:
        """One message per prompt and answer; sizes only, never the text itself."""
        messages = collapse(parse_path(fixture_path)).of_type("message")
        assert len(messages) == expected_messages(fixture_path)
        for event in messages:
            args = json.loads(event.tool_arguments or "")
            assert set(args) == {"role", "chars"}
            assert event.raw_data is not None
            assert len(event.raw_data) <= DEFAULT_OPTIONS.raw_cap + 1

    def test_session_facts(self, fixture_path: Path) -> None:
        """The file's own session_meta and the latest turn_context model end in the session."""
        meta = payloads(fixture_path, "session_meta")[0][1]
        contexts = payloads(fixture_path, "turn_context")
        store = collapse(parse_path(fixture_path))
        (session,) = store.sessions.values()
        assert session["agent_session_id"] == meta["id"]
        assert session["project_dir"] == meta["cwd"]
        assert session["agent_version"] == meta["cli_version"]
        assert session.get("git_branch") == (meta.get("git") or {}).get("branch")
        if contexts:
            assert session["model"] == contexts[-1][1]["model"]
        stamps = sorted(o["timestamp"] for _, o in rows(fixture_path) if o["timestamp"][0] == "2")
        # Activity comes from events; lines that make none do not move it.
        assert session["first_seen"] == stamps[0]
        assert stamps[0] <= session["last_activity"] <= stamps[-1]
        assert len(store.of_type("session_start")) == 1

    def test_turns(self, fixture_path: Path) -> None:
        """task_started / task_complete become ``turn`` events, with the recorded duration."""
        turns = collapse(parse_path(fixture_path)).of_type("turn")
        expected = payloads(fixture_path, "event_msg", "task_started", "task_complete")
        assert len(turns) == len(expected)
        durations = sorted(p["duration_ms"] for _, p in expected if "duration_ms" in p)
        assert sorted(e.duration_ms for e in turns if e.duration_ms is not None) == durations


@pytest.mark.parametrize("path", REAL, ids=lambda p: p.name)
def test_usage_sums_to_final_total(path: Path) -> None:
    """Usage deltas add up to the file's final cumulative total, each new total counted once."""
    totals = token_totals(path)
    usage = collapse(parse_path(path)).of_type("usage")
    distinct = [t for i, t in enumerate(totals) if i == 0 or t != totals[i - 1]]
    assert len(usage) == len(distinct)
    final = totals[-1] if totals else {}
    inputs = sum(
        (e.input_tokens or 0) + (e.cache_read_tokens or 0) + (e.cache_creation_tokens or 0)
        for e in usage
    )
    assert inputs == final.get("input_tokens", 0)
    assert sum(e.cache_read_tokens or 0 for e in usage) == final.get("cached_input_tokens", 0)
    assert sum(e.output_tokens or 0 for e in usage) == final.get("output_tokens", 0)


def hand_totals(path: Path) -> tuple[int, int, dict[str, int]]:
    """(token_count lines, distinct consecutive totals, last total) by a plain walk."""
    count, distinct, last = 0, 0, {"input_tokens": 0, "cached_input_tokens": 0, "output_tokens": 0}
    previous = None
    for _, p in payloads(path, "event_msg", "token_count"):
        count += 1
        if p["info"] is None:
            continue
        total = p["info"]["total_token_usage"]
        if total != previous:
            distinct += 1
        previous = last = total
    return count, distinct, last


@pytest.mark.parametrize(
    ("name", "lines", "distinct"),
    [
        ("codemie-rollout-2026-05-11T11-26-55.jsonl", 66, 66),
        ("guideai-codex-0.45-sample.jsonl", 339, 169),
    ],
)
def test_token_dedup_on_real_fixture(name: str, lines: int, distinct: int) -> None:
    """Deltas add up to the last cumulative total computed by hand; re-emits count nothing.

    The 0.125 file has 66 token_count lines, each with a new total; the 0.45 file repeats 169
    of its 339 and has one ``info: null``.
    """
    path = ROOT / name
    count, changed, final = hand_totals(path)
    assert (count, changed) == (lines, distinct)
    usage = collapse(parse_path(path)).of_type("usage")
    assert len(usage) == distinct
    inputs = sum((e.input_tokens or 0) + (e.cache_read_tokens or 0) for e in usage)
    assert inputs == final["input_tokens"]
    assert sum(e.cache_read_tokens or 0 for e in usage) == final["cached_input_tokens"]
    assert sum(e.output_tokens or 0 for e in usage) == final["output_tokens"]
    assert len({e.model for e in usage}) == 1


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_restart_equivalence(path: Path) -> None:
    """Stopping anywhere and resuming from ``state()`` gives exactly the records of one run."""
    lines = split_lines(path.read_bytes())
    whole = feed(CodexParser(source_for(path)), lines)
    step = max(1, len(lines) // 10)
    for cut in range(0, len(lines) + 1, step):
        head_parser = CodexParser(source_for(path))
        head = feed(head_parser, lines[:cut])
        state = orjson.loads(orjson.dumps(head_parser.state()))  # survives a JSON round trip
        tail = feed(CodexParser(source_for(path), state=state), lines[cut:])
        assert head + tail == whole, f"cut at line {cut}"
        assert collapse(head + tail) == collapse(whole)


def test_reread_is_idempotent() -> None:
    """Reading the file twice (a re-read from byte 0) adds no rows."""
    records = parse_path(TOKENS_FIXTURE)
    assert collapse(records + parse_path(TOKENS_FIXTURE)) == collapse(records)


# -- focused behaviour --------------------------------------------------------------------------


def line(kind: str, payload: dict[str, Any], ts: str = TS) -> dict[str, Any]:
    return {"timestamp": ts, "type": kind, "payload": payload}


def meta(**extra: Any) -> dict[str, Any]:
    return line("session_meta", {"id": UUID, "cwd": "/repo", "cli_version": "0.125.0", **extra})


def tokens(total: int, inp: int, cached: int, out: int, ts: str = TS) -> dict[str, Any]:
    usage = {
        "input_tokens": inp,
        "cached_input_tokens": cached,
        "output_tokens": out,
        "reasoning_output_tokens": 0,
        "total_tokens": total,
    }
    info = {"total_token_usage": usage, "last_token_usage": usage}
    return line("event_msg", {"type": "token_count", "info": info}, ts)


def call(name: str, arguments: Any, call_id: str = "c1", **extra: Any) -> dict[str, Any]:
    raw = arguments if isinstance(arguments, str) else json.dumps(arguments)
    payload = {"type": "function_call", "name": name, "arguments": raw, "call_id": call_id}
    return line("response_item", {**payload, **extra})


def output(text: Any, call_id: str = "c1") -> dict[str, Any]:
    payload = {"type": "function_call_output", "call_id": call_id, "output": text}
    return line("response_item", payload)


def events_of(records: list[Record], *types: str) -> list[Event]:
    return [r for r in records if isinstance(r, Event) and (not types or r.event_type in types)]


class TestTokens:
    """Quirk 15 and §2.7: deltas of cumulative totals, once each."""

    def test_repeats_and_null_info_are_skipped(self) -> None:
        """A re-emitted total and ``info: null`` give no usage."""
        null = line("event_msg", {"type": "token_count", "info": None, "rate_limits": {}})
        records = parse_objects([meta(), tokens(110, 100, 0, 10), null, tokens(110, 100, 0, 10)])
        assert len(events_of(records, "usage")) == 1

    def test_delta_splits_cached_input(self) -> None:
        """``input_tokens`` is the uncached part of the delta; cached goes to cache_read."""
        records = parse_objects([meta(), tokens(110, 100, 0, 10), tokens(330, 300, 150, 30)])
        second = events_of(records, "usage")[1]
        assert (second.input_tokens, second.cache_read_tokens, second.output_tokens) == (
            50,
            150,
            20,
        )
        assert second.agent_event_id == "usage:330:300:150:30"

    def test_fork_replay_is_not_counted(self) -> None:
        """A fork's copied burst only moves the baseline; the child's own usage counts."""
        fork = "2026-05-11T09:00:00.000Z"
        records = parse_objects(
            [
                meta(forked_from_id="parent-uuid"),
                line("session_meta", {"id": "parent-uuid", "cwd": "/repo"}, fork),
                tokens(110, 100, 0, 10, "2026-05-11T09:00:00.001Z"),
                tokens(550, 500, 0, 50, "2026-05-11T09:00:00.002Z"),
                tokens(660, 600, 0, 60, "2026-05-11T09:00:06.000Z"),
                tokens(770, 700, 0, 70, "2026-05-11T09:00:06.100Z"),
            ]
        )
        usage = events_of(records, "usage")
        assert [u.output_tokens for u in usage] == [10, 10]
        (info,) = [r for r in records if isinstance(r, SessionInfo) and r.parent_session_id]
        assert info.parent_session_id == "codex:parent-uuid"

    def test_counter_restart_counts_from_zero(self) -> None:
        """Totals that go down start a new count (a restarted counter) instead of a negative."""
        records = parse_objects([meta(), tokens(550, 500, 0, 50), tokens(110, 100, 0, 10)])
        assert [u.output_tokens for u in events_of(records, "usage")] == [50, 10]


class TestTools:
    """Calls, outputs and the unified-exec process bookkeeping."""

    def test_unified_exec_finishes_through_write_stdin(self) -> None:
        """A command running past its first chunk is completed by the poll that saw it exit."""
        records = parse_objects(
            [
                meta(),
                call("exec_command", {"cmd": "npm test", "workdir": "/repo"}, "e1"),
                output(
                    "Chunk ID: a\nWall time: 1.0 seconds\nProcess running with session ID 7\n", "e1"
                ),
                call("write_stdin", {"session_id": 7, "chars": ""}, "w1"),
                output("Chunk ID: b\nWall time: 0.5 seconds\nProcess exited with code 2\n", "w1"),
            ]
        )
        calls = collapse(records).calls()
        (command,) = calls["e1"]
        assert (command.event_type, command.command) == ("command", "npm test")
        assert (command.status, command.exit_code) == ("error", 2)
        (poll,) = calls["w1"]
        assert (poll.event_type, poll.status, poll.exit_code) == ("tool_call", "success", None)

    def test_failed_outputs_are_errors(self) -> None:
        """Codex's own failure texts mark the call as an error."""
        for text in (
            "failed in sandbox: boom",
            "apply_patch verification failed: nope",
            "write_stdin failed: stdin is closed",
        ):
            records = parse_objects([meta(), call("shell", {"command": ["ls"]}), output(text)])
            (result,) = [r for r in records if isinstance(r, ToolResult)]
            assert result.status == "error", text

    def test_plain_outputs_are_success(self) -> None:
        """Ordinary text, structured content and 'no error' phrasing are successes."""
        for text in ("Plan updated", "No error found", [{"type": "input_text", "text": "x"}]):
            records = parse_objects([meta(), call("update_plan", {"plan": []}), output(text)])
            (result,) = [r for r in records if isinstance(r, ToolResult)]
            assert result.status == "success", text

    def test_patch_through_shell_argv(self) -> None:
        """``["apply_patch", patch]`` run by the shell tool becomes file ops, not a command."""
        patch = "*** Begin Patch\n*** Add File: a.py\n+x\n*** Delete File: /abs/b.py\n*** End Patch"
        records = parse_objects([meta(), call("shell", {"command": ["apply_patch", patch]})])
        ops = events_of(records, "file_op")
        assert {(e.file_path, e.operation) for e in ops} == {
            ("/repo/a.py", "write"),
            ("/abs/b.py", "delete"),
        }
        assert len({e.agent_event_id for e in ops}) == 2
        assert not events_of(records, "command")

    def test_double_encoded_arguments(self) -> None:
        """Arguments that are a JSON string of a JSON string are still read (quirk 20)."""
        raw = json.dumps(json.dumps({"cmd": "git status"}))
        records = parse_objects([meta(), call("exec_command", raw)])
        (command,) = events_of(records, "command")
        assert command.command == "git status"

    def test_bash_lc_is_unwrapped(self) -> None:
        """``["bash", "-lc", script]`` shows the script."""
        records = parse_objects([meta(), call("shell", {"command": ["bash", "-lc", "ls -la"]})])
        assert events_of(records, "command")[0].command == "ls -la"

    def test_namespaced_tool_name(self) -> None:
        """MCP-style namespaces prefix the name and never make a shell tool."""
        records = parse_objects([meta(), call("exec_command", {"cmd": "x"}, namespace="mcp__s__")])
        (event,) = events_of(records, "tool_call")
        assert event.tool_name == "mcp__s__exec_command"

    def test_result_without_call_and_call_without_result(self) -> None:
        """Either half of a pair alone is fine (quirk 16)."""
        end = line(
            "event_msg",
            {
                "type": "exec_command_end",
                "call_id": "x",
                "exit_code": 0,
                "duration": {"secs": 1, "nanos": 5_000_000},
            },
        )
        records = parse_objects([meta(), end, call("shell", {"command": ["ls"]}, "y")])
        (result,) = [r for r in records if isinstance(r, ToolResult)]
        assert (result.tool_call_id, result.duration_ms) == ("x", 1005)
        assert events_of(records, "command")[0].status == "pending"

    def test_user_shell_command_is_complete(self) -> None:
        """``!cmd`` typed by the user has only its end event: one finished command."""
        end = {
            "type": "exec_command_end",
            "call_id": "u1",
            "source": "user_shell",
            "command": ["/bin/zsh", "-lc", "git status"],
            "exit_code": 1,
            "duration": {"secs": 0, "nanos": 250_000_000},
        }
        (command,) = events_of(parse_objects([meta(), line("event_msg", end)]), "command")
        assert (command.command, command.command_category) == ("git status", "git")
        assert (command.status, command.exit_code, command.duration_ms) == ("error", 1, 250)

    def test_web_search_is_complete_when_recorded(self) -> None:
        """A ``web_search_call`` item carries its own status and usually no call id."""
        item = {"type": "web_search_call", "status": "completed", "action": {"query": "q"}}
        (event,) = events_of(parse_objects([meta(), line("response_item", item)]), "tool_call")
        assert (event.tool_name, event.status, event.tool_call_id) == (
            "web_search",
            "success",
            None,
        )


class TestMessages:
    """Quirk 17 and the event / response-item mirror."""

    def test_mirrored_message_counts_once(self) -> None:
        """The event and its response-item copy are one message, in either order."""
        item = line(
            "response_item",
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "Done."}],
            },
        )
        event = line("event_msg", {"type": "agent_message", "message": "Done."})
        assert len(events_of(parse_objects([meta(), event, item]), "message")) == 1
        assert len(events_of(parse_objects([meta(), item, event]), "message")) == 1
        assert len(events_of(parse_objects([meta(), event, item, event, item]), "message")) == 2

    def test_injected_context_is_not_a_prompt(self) -> None:
        """``<environment_context>`` and AGENTS.md user items are scaffolding."""
        texts = [
            "<environment_context>\n  <cwd>/r</cwd>\n</environment_context>",
            "# AGENTS.md instructions for /r\n\n<INSTRUCTIONS>x</INSTRUCTIONS>",
        ]
        items = [
            line(
                "response_item",
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text": t}]},
            )
            for t in texts
        ]
        assert events_of(parse_objects([meta(), *items]), "message") == []


class TestLines:
    """Line-level contract: ids, problems, other line kinds."""

    def test_bad_lines_are_problems(self) -> None:
        """Broken JSON, non-objects and a first line without time are reported, not raised."""
        records = parse_objects([b"{nope", b"[1]", {"type": "event_msg", "payload": {}}])
        assert [type(r) for r in records] == [ParseProblem] * 3

    def test_missing_timestamp_uses_previous(self) -> None:
        """A line without its own time takes the last one seen."""
        no_time = {"type": "event_msg", "payload": {"type": "user_message", "message": "hi"}}
        (message,) = events_of(parse_objects([meta(), no_time]), "message")
        assert message.timestamp == TS

    def test_errors_turns_and_compaction(self) -> None:
        """error / turn_aborted → error, task_complete → turn, compacted → compaction."""
        records = parse_objects(
            [
                meta(),
                line("event_msg", {"type": "error", "message": "boom"}),
                line("event_msg", {"type": "turn_aborted", "reason": "interrupted"}),
                line("event_msg", {"type": "task_complete", "duration_ms": 1200}),
                line("compacted", {"message": "", "replacement_history": []}),
            ]
        )
        kinds = [e.event_type for e in events_of(records)]
        assert kinds == ["session_start", "error", "error", "turn", "compaction"]
        assert events_of(records, "turn")[0].duration_ms == 1200

    def test_legacy_envelope_free_lines(self) -> None:
        """Pre-Sept-2025 files: a bare meta line, then bare response items."""
        records = parse_objects(
            [
                {"id": UUID, "timestamp": TS, "instructions": None},
                {
                    "type": "function_call",
                    "name": "shell",
                    "call_id": "c",
                    "arguments": json.dumps({"command": ["ls"]}),
                },
                {"record_type": "state"},
            ]
        )
        assert [e.event_type for e in events_of(records)] == ["session_start", "command"]

    def test_session_info_only_when_news(self) -> None:
        """Same-time lines with nothing new give no SessionInfo."""
        records = parse_objects([meta(), line("event_msg", {"type": "agent_reasoning"})])
        assert sum(isinstance(r, SessionInfo) for r in records) == 1

    def test_ancestor_meta_first(self) -> None:
        """In a file named by uuid, a meta with another id is an ancestor's, whatever its place."""
        parent = line("session_meta", {"id": "0000aaaa-0000-0000-0000-000000000000", "cwd": "/p"})
        records = parse_objects([parent, meta()])
        facts = collapse(records).sessions[SYNTHETIC.session_id]
        assert (facts["agent_session_id"], facts["project_dir"]) == (UUID, "/repo")
        assert len(events_of(records, "session_start")) == 1

    def test_parse_document_is_empty(self) -> None:
        assert CodexParser(SYNTHETIC).parse_document(b"{}") == []


# -- hostile input ------------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
KINDS = st.sampled_from(
    ["session_meta", "turn_context", "response_item", "event_msg", "compacted", "world_state"]
)
PAYLOAD_TYPES = st.sampled_from(
    [
        "function_call",
        "custom_tool_call",
        "local_shell_call",
        "function_call_output",
        "custom_tool_call_output",
        "web_search_call",
        "message",
        "user_message",
        "agent_message",
        "token_count",
        "exec_command_end",
        "patch_apply_end",
        "mcp_tool_call_end",
        "task_complete",
        "error",
        "turn_aborted",
        "thread_name_updated",
        "reasoning",
    ]
)
FIELD_NAMES = st.sampled_from(
    [
        "name",
        "arguments",
        "input",
        "call_id",
        "output",
        "info",
        "exit_code",
        "duration",
        "command",
        "cmd",
        "role",
        "content",
        "message",
        "success",
        "result",
        "action",
        "id",
        "cwd",
        "model",
        "source",
        "forked_from_id",
        "git",
        "namespace",
        "process_id",
        "status",
    ]
)
PAYLOADS = st.builds(
    lambda kind, extra: {"type": kind, **extra},
    PAYLOAD_TYPES,
    st.dictionaries(FIELD_NAMES, JSON_VALUES | st.just('{"command": ["ls"]}'), max_size=6),
)
ENVELOPES = st.builds(
    lambda kind, payload, ts: {"timestamp": ts, "type": kind, "payload": payload},
    KINDS,
    PAYLOADS,
    st.sampled_from([TS, "2026-05-11T08:27:18Z", "junk", 1778488037]),
)


def run_twice(lines: list[bytes]) -> list[Record]:
    """Parse with two fresh parsers; both must give the same records."""
    runs = []
    for _ in range(2):
        parser = CodexParser(SYNTHETIC)
        runs.append([r for i, raw in enumerate(lines) for r in parser.parse_line(raw, i * 1000)])
    assert runs[0] == runs[1]
    return runs[0]


class TestHostileInput:
    """Parsers never raise on arbitrary input and always give the same answer."""

    @given(st.lists(st.binary(max_size=200), min_size=1, max_size=5))
    @settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
    def test_arbitrary_bytes(self, lines: list[bytes]) -> None:
        run_twice(lines)

    @given(st.lists(JSON_VALUES, min_size=1, max_size=5))
    @settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
    def test_arbitrary_json(self, values: list[Any]) -> None:
        run_twice([json.dumps(v).encode() for v in values])

    @given(st.lists(ENVELOPES, min_size=1, max_size=8))
    @settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
    def test_codex_shaped_junk(self, objects: list[dict[str, Any]]) -> None:
        """Envelopes with wrong-typed fields reach every handler without an internal error."""
        records = run_twice([json.dumps(o).encode() for o in objects])
        internal = [
            r for r in records if isinstance(r, ParseProblem) and "parser error" in r.reason
        ]
        assert internal == []
        for record in records:
            if isinstance(record, Event | ToolResult):
                assert record.timestamp
            assert json.loads(json.dumps(asdict(record)))  # plain values only
