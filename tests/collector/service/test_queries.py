"""The query commands against a database filled by ``run --once`` from Claude fixtures, checked
against numbers computed here from the fixture lines with a plain JSON scan."""

from __future__ import annotations

import json
import queue
import shutil
import signal
import sqlite3
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.collector.service.daemon_harness import FIXTURES, Instance, expect

NAMES = ("drm-hello-world-script.jsonl", "drm-coverage-test-fix.jsonl",
         "drm-stop-hook-reflection-first-stop.jsonl")  # fmt: skip
UUIDS = tuple(f"aaaaaaaa-0000-4000-8000-00000000000{i}" for i in range(1, 5))
FILE_OPS = {"Read": "reads", "Write": "writes", "Edit": "edits", "MultiEdit": "edits"}


@dataclass
class Scan:
    """What the fixture lines say, read without the collector's code."""

    session_ids: set[str] = field(default_factory=set)
    tools: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)  # id → name, input
    failed: set[str] = field(default_factory=set)  # tool_use ids whose result is an error

    def add(self, path: Path) -> None:
        first = None
        for raw in path.read_bytes().split(b"\n"):
            if not raw.strip():
                continue
            line = json.loads(raw)
            first = first or line.get("sessionId")
            content = (line.get("message") or {}).get("content")
            for block in content if isinstance(content, list) else []:
                if block.get("type") == "tool_use":
                    self.tools[block["id"]] = (block["name"], block.get("input") or {})
                elif block.get("type") == "tool_result" and block.get("is_error"):
                    self.failed.add(block["tool_use_id"])
        self.session_ids.add(first)

    def ids(self, *names: str) -> set[str]:
        return {key for key, (name, _) in self.tools.items() if name in names}

    def file_ops(self) -> Counter[tuple[str, str]]:
        """(file_path, reads|writes|edits) → count."""
        return Counter((args["file_path"], FILE_OPS[name]) for name, args in self.tools.values()
                       if name in FILE_OPS)  # fmt: skip


class Filled:
    """An instance whose database holds the three fixtures, ingested once for the module."""

    def __init__(self, root: Path) -> None:
        self.instance = Instance(root)
        self.scan = Scan()
        self.paths = []
        for name, uuid in zip(NAMES, UUIDS, strict=False):
            target = self.instance.claude / f"-proj-{uuid[-1]}" / f"{uuid}.jsonl"
            target.parent.mkdir(parents=True)
            shutil.copyfile(FIXTURES / "claude" / name, target)
            self.paths.append(target)
            self.scan.add(target)
        done = self.instance.run("run", "--once")
        assert done.returncode == 0, done.stderr

    def json(self, *args: str) -> Any:
        done = self.instance.run(*args, "--json")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Filled:
    return Filled(tmp_path_factory.mktemp("queries"))


class TestQueries:
    """sessions, events, files, commands: numbers as the fixtures have them."""

    def test_sessions(self, filled: Filled) -> None:
        """One session per transcript, with the agent's own session id and the file."""
        rows = filled.json("sessions")
        assert len(rows) == len(NAMES)
        assert {r["agent_session_id"] for r in rows} == filled.scan.session_ids
        assert {r["transcript_path"] for r in rows} == {str(p) for p in filled.paths}
        assert filled.json("sessions", "--agent", "codex") == []

    def test_command_events_and_their_failures(self, filled: Filled) -> None:
        """Every Bash tool_use is one command event; the failed ones have status error."""
        commands = filled.json("events", "--type", "command", "--limit", "100000")
        assert {r["tool_call_id"] for r in commands} == filled.scan.ids("Bash")
        errors = filled.json("events", "--type", "command", "--status", "error")
        assert {r["tool_call_id"] for r in errors} == filled.scan.ids("Bash") & filled.scan.failed

    def test_tool_filter(self, filled: Filled) -> None:
        """--tool Edit gives exactly the Edit calls."""
        rows = filled.json("events", "--tool", "Edit", "--limit", "100000")
        assert {r["tool_call_id"] for r in rows} == filled.scan.ids("Edit")
        assert {r["event_type"] for r in rows} == {"file_op"}

    def test_files_view(self, filled: Filled) -> None:
        """reads/writes/edits per file path equal the Read/Write/Edit calls on it."""
        seen: Counter[tuple[str, str]] = Counter()
        for row in filled.json("files"):
            for kind in ("reads", "writes", "edits"):
                seen[(row["file_path"], kind)] += row[kind]
        assert +seen == filled.scan.file_ops()

    def test_commands_view(self, filled: Filled) -> None:
        """Counts per category add up to the Bash calls, failures to the failed ones."""
        rows = filled.json("commands")
        assert sum(r["count"] for r in rows) == len(filled.scan.ids("Bash"))
        assert sum(r["failures"] for r in rows) == len(filled.scan.ids("Bash") & filled.scan.failed)

    def test_session_filter(self, filled: Filled) -> None:
        """--session (by id) keeps that session's events only."""
        session = filled.json("sessions")[0]
        path = Path(session["transcript_path"])
        one = Scan()
        one.add(path)
        rows = filled.json("events", "--session", str(session["id"]), "--type", "command")
        assert {r["tool_call_id"] for r in rows} == one.ids("Bash")
        assert {r["session_id"] for r in rows} <= {session["id"]}

    def test_since_until_and_limit(self, filled: Filled) -> None:
        """Time filters bound the timestamps; --limit bounds the count."""
        every = filled.json("events", "--limit", "100000")
        middle = every[len(every) // 2]["timestamp"]
        later = filled.json("events", "--since", middle, "--limit", "100000")
        assert later
        assert all(r["timestamp"] >= middle for r in later)
        earlier = filled.json("events", "--until", middle, "--limit", "100000")
        assert all(r["timestamp"] <= middle for r in earlier)
        assert len(filled.json("events", "--limit", "3")) == 3

    def test_jsonl_and_table_carry_the_same_rows(self, filled: Filled) -> None:
        """--jsonl is one object per line; the table is a header plus one line per row."""
        rows = filled.json("events", "--type", "command")
        jsonl = filled.instance.run("events", "--type", "command", "--jsonl")
        assert [json.loads(line) for line in jsonl.stdout.splitlines()] == rows
        table = filled.instance.run("events", "--type", "command").stdout.splitlines()
        assert table[0].split()[:4] == ["id", "time", "session", "type"]
        assert len(table) == len(rows) + 1
        assert [line.split()[0] for line in table[1:]] == [str(r["id"]) for r in rows]

    def test_usage_errors(self, filled: Filled) -> None:
        """A bad time or --json with --jsonl: exit 2 with a one-line reason."""
        bad = filled.instance.run("events", "--since", "the day before")
        assert bad.returncode == 2
        assert "since" in bad.stderr
        assert "Traceback" not in bad.stderr
        assert filled.instance.run("sessions", "--json", "--jsonl").returncode == 2


class Lines:
    """A subprocess's stdout lines, collected by a thread that ends with the process."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.queue: queue.Queue[str] = queue.Queue()
        assert proc.stdout is not None
        stdout = proc.stdout
        self.thread = threading.Thread(target=lambda: [self.queue.put(x) for x in stdout],
                                       daemon=True)  # fmt: skip
        self.thread.start()

    def until(self, predicate: Any, timeout: float = 10) -> list[str]:
        got: list[str] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                got.append(self.queue.get(timeout=0.05))
            except queue.Empty:
                continue
            if predicate(got):
                return got
        raise AssertionError(f"not seen within {timeout}s; got {got}")


def follow(instance: Instance, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(instance.command("events", "--follow", *args), env=instance.env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


def interrupt(proc: subprocess.Popen[str], lines: Lines) -> None:
    proc.send_signal(signal.SIGINT)
    assert proc.wait(10) == 130
    lines.thread.join(5)
    assert proc.stdout is not None
    assert proc.stderr is not None
    proc.stdout.close()
    proc.stderr.close()


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[Instance, subprocess.Popen[bytes]]]:
    instance = Instance(tmp_path)
    first = instance.claude / "-a" / f"{UUIDS[0]}.jsonl"
    first.parent.mkdir(parents=True)
    shutil.copyfile(FIXTURES / "claude" / NAMES[0], first)
    proc = instance.start()
    try:
        instance.wait_ready(proc)
        expect(lambda: instance.committed_offset(first) == first.stat().st_size)
        yield instance, proc
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0


class TestFollow:
    """events --follow, like tail -f."""

    def test_sees_an_event_appended_after_it_started(
        self, live: tuple[Instance, subprocess.Popen[bytes]]
    ) -> None:
        """The last events first, then a transcript written after the follower started shows
        up as the daemon commits it; filters apply to the stream."""
        instance, _ = live
        total = instance.query("SELECT COUNT(*) FROM events")[0][0]
        proc = follow(instance, "--jsonl", "--type", "command")
        lines = Lines(proc)
        try:
            start = lines.until(lambda got: len(got) >= 1)  # the hello-world's one Bash call
            assert json.loads(start[0])["event_type"] == "command"
            assert total > 1  # the rest were filtered out
            scan = Scan()
            second = instance.claude / "-b" / f"{UUIDS[1]}.jsonl"
            second.parent.mkdir(parents=True)
            shutil.copyfile(FIXTURES / "claude" / NAMES[1], second)
            scan.add(second)
            wanted = scan.ids("Bash")
            got = lines.until(lambda got: {json.loads(x)["tool_call_id"] for x in got} >= wanted)
            assert {json.loads(x)["event_type"] for x in got} == {"command"}
            assert len(got) == len(wanted)  # each event once
        finally:
            interrupt(proc, lines)

    def test_human_lines(self, live: tuple[Instance, subprocess.Popen[bytes]]) -> None:
        """Without --jsonl each event is one fixed-width line: timestamp first."""
        instance, _ = live
        proc = follow(instance, "--limit", "2")
        lines = Lines(proc)
        try:
            got = lines.until(lambda got: len(got) >= 2)
            assert all(line[:4].isdigit() and line[23] == "Z" for line in got)
        finally:
            interrupt(proc, lines)

    def test_never_blocks_a_writer(self, filled: Filled) -> None:
        """While a follower polls, a writer that refuses to wait (busy_timeout 0) commits every
        time: the follower's reads take no lock the writer needs."""
        proc = follow(filled.instance, "--jsonl")
        lines = Lines(proc)
        try:
            lines.until(lambda got: len(got) >= 1)
            writer = sqlite3.connect(filled.instance.database, isolation_level=None, timeout=0)
            try:
                for i in range(30):
                    writer.execute("BEGIN IMMEDIATE")
                    writer.execute("UPDATE sessions SET title = ? WHERE id = 1", (f"t{i}",))
                    writer.execute("COMMIT")
                    time.sleep(0.01)
                title = writer.execute("SELECT title FROM sessions WHERE id = 1").fetchone()
            finally:
                writer.close()
            assert title == ("t29",)  # all 30 commits landed, none refused as busy
            assert proc.poll() is None  # and the follower is still following
        finally:
            interrupt(proc, lines)
