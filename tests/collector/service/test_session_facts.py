"""The session facts a dashboard needs, checked against numbers computed here from the fixture
lines with plain JSON reads (never with the parsers), over stores filled by ``run --once``."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from store import EventStore
from store.migrate import migrate
from tests.collector.service.daemon_harness import FIXTURES, Instance
from tests.collector.service.fixture_home import lay_out


def lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(byte offset, object) of each JSON line."""
    offset = 0
    for raw in path.read_bytes().split(b"\n"):
        if raw.strip():
            try:
                value = json.loads(raw)
            except ValueError:
                value = None
            if isinstance(value, dict):
                yield offset, value
        offset += len(raw) + 1


def stamp(text: str) -> str:
    """An ISO time in the store's form (UTC, milliseconds, Z)."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class Filled:
    def __init__(self, root: Path) -> None:
        self.instance = Instance(root)
        self.roots = lay_out(self.instance)
        done = self.instance.run("run", "--once")
        assert done.returncode == 0, done.stderr

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        conn = sqlite3.connect(f"file:{self.instance.database}?mode=ro", uri=True)
        conn.row_factory = sqlite3.Row
        try:
            return [dict(r) for r in conn.execute(sql, params)]
        finally:
            conn.close()

    def session(self, path: Path) -> dict[str, Any]:
        found = self.rows("SELECT * FROM sessions WHERE transcript_path = ?", (str(path),))
        assert len(found) == 1, path
        return found[0]

    def claude_main_files(self) -> list[Path]:
        return sorted(p for p in self.roots["claude-code"].glob("*/*.jsonl")
                      if not p.name.startswith("agent-"))  # fmt: skip


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Filled:
    return Filled(tmp_path_factory.mktemp("facts"))


class TestStartAndEnd:
    def test_started_at_is_the_first_transcript_timestamp(self, filled: Filled) -> None:
        for path in filled.claude_main_files():
            stamps = [
                stamp(o["timestamp"])
                for _, o in lines(path)
                if isinstance(o.get("timestamp"), str) and o.get("type") != "summary"
            ]
            row = filled.session(path)
            assert row["started_at"] == min(stamps), path
            assert row["created_at"] != row["started_at"]

    def test_copilot_shutdown_completes_the_session(self, filled: Filled) -> None:
        checked = 0
        for path in sorted(filled.roots["copilot"].rglob("*.jsonl")):
            ends = [o["timestamp"] for _, o in lines(path) if o.get("type") == "session.shutdown"]
            row = filled.session(path)
            if ends:
                checked += 1
                assert (row["status"], row["ended_at"]) == ("completed", stamp(ends[-1])), path
                changes = filled.rows(
                    "SELECT tool_arguments FROM events WHERE session_id = ? "
                    "AND event_type = 'status_change'", (row["id"],))  # fmt: skip
                assert any("session.shutdown" in c["tool_arguments"] for c in changes)
            else:
                assert row["ended_at"] is None
        assert checked >= 4


class TestModelsAndTokens:
    def test_codex_messages_carry_the_turn_model(self, filled: Filled) -> None:
        checked = 0
        for path in sorted(filled.roots["codex"].rglob("*.jsonl")):
            if "jazzyalex" in path.name:  # forked history replays: covered by parser tests
                continue
            row = filled.session(path)
            stored = {r["agent_event_id"]: r["model"] for r in filled.rows(
                "SELECT agent_event_id, model FROM events WHERE session_id = ? "
                "AND event_type = 'message'", (row["id"],))}  # fmt: skip
            model = None
            for offset, obj in lines(path):
                payload = obj.get("payload") or {}
                if obj.get("type") == "turn_context":
                    model = payload.get("model")
                elif str(offset) in stored and model is not None:
                    assert stored[str(offset)] == model, (path, offset)
                    checked += 1
        assert checked > 20

    def test_codex_reasoning_is_stored(self, filled: Filled) -> None:
        for path in sorted(filled.roots["codex"].rglob("*.jsonl")):
            if "jazzyalex" in path.name:
                continue
            final = 0
            for _, obj in lines(path):
                info = (obj.get("payload") or {}).get("info")
                if isinstance(info, dict):
                    final = info["total_token_usage"].get("reasoning_output_tokens") or 0
            row = filled.session(path)
            total = filled.rows(
                "SELECT COALESCE(SUM(reasoning_tokens), 0) AS r FROM events "
                "WHERE session_id = ? AND event_type = 'usage'",
                (row["id"],),
            )
            assert total[0]["r"] == final, path

    def test_gemini_thoughts_are_reasoning_beside_output(self, filled: Filled) -> None:
        for path in sorted(filled.roots["gemini"].rglob("*.json*")):
            messages: dict[str, dict[str, Any]] = {}
            if path.suffix == ".json":
                for message in json.loads(path.read_text()).get("messages", []):
                    messages[message["id"]] = message
            else:
                for _, obj in lines(path):
                    if "id" in obj and "type" in obj:
                        messages[obj["id"]] = obj  # the last version wins
            tokens = [m.get("tokens") or {} for m in messages.values()]
            row = filled.session(path)
            got = filled.rows(
                "SELECT COALESCE(SUM(output_tokens), 0) AS o, COALESCE(SUM(reasoning_tokens), 0) "
                "AS r FROM events WHERE session_id = ? AND event_type = 'usage'",
                (row["id"],),
            )[0]
            assert got["o"] == sum(t.get("output", 0) for t in tokens), path
            assert got["r"] == sum(t.get("thoughts", 0) for t in tokens), path

    def test_copilot_input_tokens_where_the_transcript_has_them(self, filled: Filled) -> None:
        for path in sorted(filled.roots["copilot"].rglob("*.jsonl")):
            expected = 0
            for _, obj in lines(path):
                if obj.get("type") != "session.shutdown":
                    continue
                data = obj["data"]
                reported = False
                for metrics in (data.get("modelMetrics") or {}).values():
                    usage = metrics.get("usage")
                    if usage:
                        reported = True
                        fresh = ((metrics.get("tokenDetails") or {}).get("input") or {}).get(
                            "tokenCount"
                        )
                        expected += fresh if fresh is not None else (
                            usage["inputTokens"] - usage.get("cacheReadTokens", 0)
                            - usage.get("cacheWriteTokens", 0))  # fmt: skip
                if not reported:
                    expected += ((data.get("tokenDetails") or {}).get("input") or {}).get(
                        "tokenCount", 0
                    )
            row = filled.session(path)
            got = filled.rows(
                "SELECT COALESCE(SUM(input_tokens), 0) AS i FROM events "
                "WHERE session_id = ? AND event_type = 'usage'",
                (row["id"],),
            )
            assert got[0]["i"] == expected, path

    def test_claude_one_hour_cache_writes(self, filled: Filled) -> None:
        best: dict[tuple[str, str], int] = {}
        for path in sorted(filled.roots["claude-code"].rglob("*.jsonl")):
            for _, obj in lines(path):
                message = obj.get("message")
                if obj.get("type") != "assistant" or not isinstance(message, dict):
                    continue
                usage = message.get("usage") or {}
                hour = (usage.get("cache_creation") or {}).get("ephemeral_1h_input_tokens")
                if message.get("id") and isinstance(hour, int):
                    key = (message["id"], obj.get("requestId") or "")
                    best[key] = max(best.get(key, 0), hour)
        got = filled.rows(
            "SELECT COALESCE(SUM(cache_creation_1h_tokens), 0) AS h FROM events "
            "WHERE event_type = 'usage'"
        )[0]["h"]
        assert got == sum(best.values()) > 0


class TestTitlesAndPlaceholders:
    def test_claude_title_is_the_first_prompt_line(self, filled: Filled) -> None:
        checked = 0
        for path in filled.claude_main_files():
            first = None
            for _, obj in lines(path):
                content = (obj.get("message") or {}).get("content")
                if obj.get("type") != "user" or obj.get("isMeta") or obj.get("isCompactSummary"):
                    continue
                if isinstance(content, list):
                    if any(b.get("type") == "tool_result" for b in content):
                        continue
                    content = "\n".join(b.get("text", "") for b in content
                                        if b.get("type") == "text")  # fmt: skip
                if isinstance(content, str) and content.strip() and content.lstrip()[0] != "<":
                    first = next(" ".join(x.split()) for x in content.splitlines() if x.strip())
                    break
            row = filled.session(path)
            if first is not None:
                checked += 1
                assert row["title"] == (first if len(first) <= 120 else first[:119] + "…"), path
        assert checked >= 10

    def test_most_sessions_have_a_title(self, filled: Filled) -> None:
        rows = filled.rows("SELECT title, transcript_path FROM sessions")
        untitled = [r for r in rows if not r["title"]]
        assert len(untitled) <= len(rows) // 10, untitled

    def test_placeholders_inherit_project_and_branch(self, filled: Filled) -> None:
        children = filled.rows(
            "SELECT c.transcript_path, c.project_dir, c.git_branch, p.project_dir AS pp, "
            "p.git_branch AS pb FROM sessions c JOIN sessions p ON p.id = c.parent_session_id"
        )
        placeholders = [c for c in children if not Path(c["transcript_path"] or "/-").exists()]
        assert len(placeholders) >= 3
        for child in placeholders:
            assert (child["project_dir"], child["git_branch"]) == (child["pp"], child["pb"])
        for child in children:  # a read transcript has its own project
            assert child["project_dir"] is not None


def _claude_usage_truth(paths: list[Path]) -> dict[str, int]:
    """ccusage's rule over all files: one (message.id, requestId) counted once, the largest
    snapshot of each figure."""
    groups: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    names = {"input_tokens": "input_tokens", "output_tokens": "output_tokens",
             "cache_read_input_tokens": "cache_read_tokens",
             "cache_creation_input_tokens": "cache_creation_tokens"}  # fmt: skip
    for path in paths:
        for _, obj in lines(path):
            message = obj.get("message")
            if obj.get("type") != "assistant" or not isinstance(message, dict):
                continue
            usage = message.get("usage")
            if not usage or not message.get("id") or message.get("model") == "<synthetic>":
                continue
            group = groups[(message["id"], obj.get("requestId") or "")]
            for source, column in names.items():
                group[column] = max(group.get(column, 0), usage.get(source) or 0)
    return {column: sum(g.get(column, 0) for g in groups.values()) for column in names.values()}


class TestClaudeReplays:
    """Two real files that share responses (a session and its later copy) count each once."""

    def test_counted_once_across_sessions(self, tmp_path: Path) -> None:
        instance = Instance(tmp_path)
        base = FIXTURES / "claude" / "incremental"
        paths = []
        for turn, uuid in (("turn1", "11111111-0000-4000-8000-000000000001"),
                           ("turn2", "22222222-0000-4000-8000-000000000002")):  # fmt: skip
            target = instance.claude / f"-proj-{turn}" / f"{uuid}.jsonl"
            target.parent.mkdir(parents=True)
            shutil.copyfile(base / f"codemie-subagents-{turn}" / "e9fb405b.jsonl", target)
            paths.append(target)
        assert instance.run("run", "--once").returncode == 0
        truth = _claude_usage_truth(paths)
        assert truth["output_tokens"] > 0
        sums = ", ".join(f"COALESCE(SUM({c}), 0)" for c in truth)
        got = instance.query(f"SELECT {sums} FROM events WHERE event_type = 'usage'")[0]
        assert dict(zip(truth, got, strict=True)) == truth
        replays = instance.query(
            "SELECT COUNT(*) FROM events WHERE event_type = 'usage' AND "
            "tool_arguments LIKE '%duplicate_of_session%'"
        )[0][0]
        assert replays > 0
        shutil.copyfile(paths[1], paths[1].with_name("33333333-0000-4000-8000-000000000003.jsonl"))
        assert instance.run("run", "--once").returncode == 0  # a third copy adds nothing
        again = instance.query(f"SELECT {sums} FROM events WHERE event_type = 'usage'")[0]
        assert dict(zip(truth, again, strict=True)) == truth

    def test_migration_4_counts_stored_replays_once(self, tmp_path: Path) -> None:
        """A version-3 store holding the same response in two sessions: after the upgrade the
        first copy holds the larger figures, the other is a zero-token replay; other rows stay."""
        path = tmp_path / "v3.db"
        conn = sqlite3.connect(path, isolation_level=None)
        migrate(conn, str(path), target=3)
        now = "2026-01-01T00:00:00.000Z"
        for key in ("claude-code:a", "claude-code:b", "codex:c"):
            conn.execute("INSERT INTO sessions (session_key, agent, created_at, updated_at) "
                         "VALUES (?, ?, ?, ?)", (key, key.partition(":")[0], now, now))  # fmt: skip
        rows = [(1, "usage:msg_1:req_1", 10, 5), (2, "usage:msg_1:req_1", 10, 7),
                (1, "usage:msg_2:", 3, 3), (3, "usage:msg_1:req_1", 4, 4)]  # fmt: skip
        for session, key, inputs, outputs in rows:
            conn.execute("INSERT INTO events (session_id, agent_event_id, timestamp, event_type, "
                         "input_tokens, output_tokens, created_at) VALUES (?, ?, ?, 'usage', ?, "
                         "?, ?)", (session, key, now, inputs, outputs, now))  # fmt: skip
        conn.close()
        with EventStore(path) as store:
            got = store.connection.execute(
                "SELECT session_id, agent_event_id, input_tokens, output_tokens FROM events "
                "ORDER BY id").fetchall()  # fmt: skip
            plan = store.connection.execute(
                "EXPLAIN QUERY PLAN SELECT session_id FROM events WHERE event_type = 'usage' "
                "AND agent_event_id = 'x'").fetchall()  # fmt: skip
        assert [tuple(r) for r in got] == [
            (1, "usage:msg_1:req_1", 10, 7), (2, "usage:msg_1:req_1", 0, 0),
            (1, "usage:msg_2:", 3, 3), (3, "usage:msg_1:req_1", 4, 4),  # Codex: not Claude's
        ]  # fmt: skip
        assert "idx_events_usage_key" in str([tuple(p) for p in plan])


class TestSeedNames:
    def test_create_session_as_the_seed_wrote_it(self, tmp_path: Path) -> None:
        with EventStore(tmp_path / "events.db") as store:
            made = store.create_session(
                id="agent-myapp-1234", copilot_session_id="uuid-5678", project_dir="/p",
                task_file="/p/task.md", spawned_at="2025-11-14T10:00:00Z", spawned_by="me",
                status="running", importance="high", pid=12345,
            )  # fmt: skip
            found = store.get_session("agent-myapp-1234")
        assert found == made
        assert found is not None
        assert (found["session_key"], found["agent_session_id"], found["agent"]) == (
            "agent-myapp-1234",
            "uuid-5678",
            "copilot",
        )
        assert (found["status"], found["importance"], found["pid"]) == ("running", "high", 12345)

    def test_id_must_be_a_string(self, tmp_path: Path) -> None:
        with EventStore(tmp_path / "events.db") as store, pytest.raises(ValueError, match="id"):
            store.create_session(id=7)


class TestPreviews:
    def test_prompt_previews_are_the_first_500_characters(self, filled: Filled) -> None:
        checked = 0
        for path in filled.claude_main_files():
            row = filled.session(path)
            stored = {r["agent_event_id"]: r["preview"] for r in filled.rows(
                "SELECT agent_event_id, preview FROM events WHERE session_id = ? "
                "AND event_type = 'message'", (row["id"],))}  # fmt: skip
            for _, obj in lines(path):
                content = (obj.get("message") or {}).get("content")
                if obj.get("type") == "user" and isinstance(content, str) and obj.get("uuid") in \
                        stored and content.strip():  # fmt: skip
                    assert stored[obj["uuid"]] == content[:500].replace("\x00", "\ufffd")
                    checked += 1
        assert checked >= 10

    def test_zero_turns_previews_off(self, tmp_path: Path) -> None:
        instance = Instance(tmp_path, collector__preview_chars=0)
        target = instance.claude / "-p" / "aaaaaaaa-0000-4000-8000-000000000001.jsonl"
        target.parent.mkdir(parents=True)
        shutil.copyfile(FIXTURES / "claude" / "drm-hello-world-script.jsonl", target)
        assert instance.run("run", "--once").returncode == 0
        counts = instance.query("SELECT COUNT(*), COUNT(preview) FROM events "
                                "WHERE event_type = 'message'")[0]  # fmt: skip
        assert counts[0] > 0
        assert counts[1] == 0
        bad = Instance(tmp_path / "bad", collector__preview_chars=-1).run("check-config")
        assert bad.returncode == 2
        assert "preview_chars" in bad.stderr
