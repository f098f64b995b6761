"""Results folded into their call rows at insert store exactly what the set-based way stores.

``store.completions.Folds`` writes a result into its call row when both are in one batch; the
set-based ``UPDATE`` (temp.batch_results, the only way before) still handles every other
result. Each test stores the same records twice on real SQLite files — once as the writer does,
once with folding switched off (``_folds`` returning None, so every result goes the set-based
way) — and compares everything stored: every column of ``events`` but the insert clock (the
row ids too: folded rows are inserted in the order the others would have been), the sessions,
the parked results, the problems.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

import store.batch
from collector.parsers import make_parser
from collector.parsers.sources import SourceFile, classify
from store import EventStore
from store.batch import SessionKeys, apply_records
from store.records import Event, Record, SessionInfo, ToolResult, ToolWait

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
AGENTS = (("claude", "claude-code"), ("codex", "codex"), ("copilot", "copilot"),
          ("gemini", "gemini"))  # fmt: skip
NOW = "2026-01-02T10:00:00.000Z"
KEY = "claude-code:fold"


def fixture_records(folder: str, agent: str) -> list[Record]:
    """Every record the agent's parser makes of its ``*.jsonl`` fixtures, file after file
    (Gemini's whole-file ``.json`` documents aside)."""
    root = FIXTURES / folder
    records: list[Record] = []
    for path in sorted(root.rglob("*.jsonl")):
        # Where the fixture's folders are not the agent's layout, a source named after the file.
        source = classify(agent, str(root), str(path)) or SourceFile(
            agent, str(path), f"{agent}:{path.relative_to(root)}"
        )
        parser = make_parser(source)
        offset = 0
        for line in path.read_bytes().split(b"\n")[:-1]:
            records.extend(parser.parse_line(line, offset))
            offset += len(line) + 1
    return records


def stored(path: Path, passes: Sequence[tuple[Sequence[Record], int]]) -> dict[str, Any]:
    """Store each pass's records in batches of its size; everything stored, ids as keys."""
    with EventStore(path) as opened:
        conn, keys = opened.connection, SessionKeys()
        for records, size in passes:
            for at in range(0, len(records), size):
                conn.execute("BEGIN IMMEDIATE")
                apply_records(conn, records[at : at + size], NOW, keys)
                conn.execute("COMMIT")
        return dump(opened)


def dump(opened: EventStore) -> dict[str, Any]:
    conn = opened.connection
    names = dict(conn.execute("SELECT id, session_key FROM sessions").fetchall())
    columns = [r[1] for r in conn.execute("PRAGMA table_info(events)")]
    kept = [c for c in columns if c != "created_at"]
    events = sorted(
        (row[0], names[row[1]], *row[2:])
        for row in conn.execute(f"SELECT {', '.join(kept)} FROM events")
    )
    skip = ("id", "created_at", "updated_at")
    session_columns = [r[1] for r in conn.execute("PRAGMA table_info(sessions)")]
    sessions = []
    for row in conn.execute("SELECT * FROM sessions"):
        facts = {c: v for c, v in zip(session_columns, row, strict=True) if c not in skip}
        facts["parent_session_id"] = names.get(facts["parent_session_id"])
        sessions.append(json.dumps(facts, sort_keys=True))
    pending = sorted((names[r[0]], *r[1:]) for r in conn.execute("SELECT * FROM pending_results"))
    problems = sorted(conn.execute("SELECT file_path, offset, reason, prefix FROM parse_problems"))
    return {"events": events, "sessions": sorted(sessions), "pending": pending,
            "problems": problems}  # fmt: skip


def both_ways(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, passes: Sequence[tuple[Sequence[Record], int]]
) -> tuple[dict[str, Any], dict[str, Any], int]:
    """(stored with folds, stored without, how many results were folded)."""
    made: list[Any] = []
    real = store.batch._folds

    def keeping(*args: Any) -> Any:
        folds = real(*args)
        made.append(folds)
        return folds

    with monkeypatch.context() as patch:
        patch.setattr(store.batch, "_folds", keeping)
        with_folds = stored(tmp_path / "folded.db", passes)
    with monkeypatch.context() as patch:
        patch.setattr(store.batch, "_folds", lambda *args: None)
        without = stored(tmp_path / "plain.db", passes)
    return with_folds, without, sum(len(folds.folded) for folds in made)


@pytest.mark.parametrize(("folder", "agent"), AGENTS)
@pytest.mark.parametrize("size", [3, 400, 100_000])
def test_fixtures_store_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, folder: str, agent: str, size: int
) -> None:
    """Every agent's fixtures, in batches of several sizes: identical stores."""
    records = fixture_records(folder, agent)
    assert records
    with_folds, without, _ = both_ways(tmp_path, monkeypatch, [(records, size)])
    assert with_folds == without


def test_claude_fixtures_are_folded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The comparison is not empty: most Claude results meet their call in a batch of 400."""
    records = fixture_records("claude", "claude-code")
    results = sum(isinstance(r, ToolResult) for r in records)
    with_folds, without, folded = both_ways(tmp_path, monkeypatch, [(records, 400)])
    assert with_folds == without
    assert folded > results // 2


@pytest.mark.parametrize(("first", "second"), [(400, 150), (100_000, 7)])
def test_reread_stores_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, first: int, second: int
) -> None:
    """Re-reading every agent's fixtures from byte 0 (the rows exist: folds land on them as
    conflict actions) changes nothing either way."""
    records = [r for folder, agent in AGENTS for r in fixture_records(folder, agent)]
    with_folds, without, _ = both_ways(tmp_path, monkeypatch, [(records, first),
                                                                (records, second)])  # fmt: skip
    assert with_folds == without


def call(key: str, at: str, **fields: Any) -> Event:
    return Event(KEY, key, at, fields.pop("event_type", "command"), tool_name="Bash",
                 tool_call_id=fields.pop("tool_call_id", key),
                 status=fields.pop("status", "pending"), **fields)  # fmt: skip


def done(key: str, at: str, status: str = "success", **fields: Any) -> ToolResult:
    return ToolResult(KEY, key, at, status, **fields)


INFO = SessionInfo(KEY, "claude-code", "/t.jsonl")
CASES: dict[str, list[list[Record]]] = {
    "computed duration": [[INFO, call("a", "2026-01-01T10:00:00.000Z"),
                           done("a", "2026-01-01T10:00:01.250Z")]],
    "agent duration and exit code": [[call("a", "2026-01-01T10:00:00.000Z"),
                                      done("a", "2026-01-01T10:00:09.000Z", "error",
                                           duration_ms=7, exit_code=2)]],
    "several results, error sticky, last exit wins": [[
        call("a", "2026-01-01T10:00:00.000Z"),
        done("a", "2026-01-01T10:00:01.000Z", "error", exit_code=1),
        done("a", "2026-01-01T10:00:02.000Z", "success", exit_code=0, duration_ms=5)]],
    "wait less": [[call("a", "2026-01-01T10:00:00.000Z", wait_ms=400),
                   done("a", "2026-01-01T10:00:01.000Z")]],
    "wait beyond the span": [[call("a", "2026-01-01T10:00:00.000Z", wait_ms=4000),
                              done("a", "2026-01-01T10:00:01.000Z")]],
    "timestamps not in contract form": [[call("a", "not a time"),
                                         done("a", "2026-01-01T10:00:01.000Z")]],
    "call stored pending, re-read with its result": [
        [call("a", "2026-01-01T10:00:00.000Z")],
        [call("a", "2026-01-01T10:00:00.000Z"), done("a", "2026-01-01T10:00:03.000Z")]],
    "call completed, re-read with another result": [
        [call("a", "2026-01-01T10:00:00.000Z"), done("a", "2026-01-01T10:00:03.000Z")],
        [call("a", "2026-01-01T10:00:05.000Z"), done("a", "2026-01-01T10:00:09.000Z", "error")]],
    "stored row with the key is no call": [
        [Event(KEY, "a", "2026-01-01T10:00:00.000Z", "message")],
        [call("a", "2026-01-01T10:00:01.000Z"), done("a", "2026-01-01T10:00:03.000Z")]],
    "stored row with the key and call id is no call": [
        [Event(KEY, "a", "2026-01-01T10:00:00.000Z", "message", tool_call_id="a")],
        [call("a", "2026-01-01T10:00:01.000Z"), done("a", "2026-01-01T10:00:03.000Z")]],
    "stored call row with the key has no call id": [
        [call("a", "2026-01-01T10:00:00.000Z", tool_call_id=None)],
        [call("a", "2026-01-01T10:00:01.000Z"), done("a", "2026-01-01T10:00:03.000Z")]],
    "same call twice in the batch": [[call("a", "2026-01-01T10:00:00.000Z"),
                                      call("a", "2026-01-01T10:00:02.000Z", command="x"),
                                      done("a", "2026-01-01T10:00:03.000Z")]],
    "call id shared with another row of the batch": [[
        call("a", "2026-01-01T10:00:00.000Z"),
        call("b", "2026-01-01T10:00:00.500Z", tool_call_id="a", event_type="tool_call"),
        done("a", "2026-01-01T10:00:03.000Z")]],
    "call id shared with a stored row": [
        [call("b", "2026-01-01T10:00:00.500Z", tool_call_id="a", event_type="tool_call")],
        [call("a", "2026-01-01T10:00:00.000Z"), done("a", "2026-01-01T10:00:03.000Z")]],
    "result before its call, parked": [
        [done("a", "2026-01-01T10:00:03.000Z", exit_code=3)],
        [call("a", "2026-01-01T10:00:00.000Z"), done("a", "2026-01-01T10:00:04.000Z")]],
    "result of a session not in the batch": [
        [INFO, call("a", "2026-01-01T10:00:00.000Z")],
        [call("b", "2026-01-01T10:00:00.000Z"), done("b", "2026-01-01T10:00:01.000Z"),
         ToolResult("claude-code:other", "c", "2026-01-01T10:00:01.000Z", "success"),
         done("a", "2026-01-01T10:00:02.000Z")]],
    "message row with the call's key in the batch": [[
        Event(KEY, "a", "2026-01-01T10:00:00.000Z", "message", tool_call_id="a"),
        done("a", "2026-01-01T10:00:03.000Z")]],
    "error status from the parser": [[call("a", "2026-01-01T10:00:00.000Z", status="error"),
                                      done("a", "2026-01-01T10:00:03.000Z")]],
    "a wait arrives in the same batch": [[
        call("a", "2026-01-01T10:00:00.000Z"), done("a", "2026-01-01T10:00:05.000Z"),
        ToolWait(KEY, "2026-01-01T10:00:01.000Z", 2000)]],
}  # fmt: skip


@pytest.mark.parametrize("batches", CASES.values(), ids=CASES.keys())
def test_cases_store_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batches: list[list[Record]]
) -> None:
    passes = [(batch, len(batch)) for batch in batches]
    with_folds, without, _ = both_ways(tmp_path, monkeypatch, passes)
    assert with_folds == without
