"""Parked states kept in the store: real reader and writer threads on a real SQLite file.

A quiet file's parser state leaves memory once its row holds it, and comes back from the row
when the file wakes: an append after that (or after a rename) gives the events the whole file
parsed at once gives, each stored once.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

import collector.ingest.hot as hot_module
from collector.counters import Counters
from collector.ingest.commit.writer import WriterThread
from collector.ingest.discovery import scan_root
from collector.ingest.parked import IN_STORE, SavedFile
from collector.ingest.reader import ReaderOptions, ReaderThread
from collector.parsers import make_parser
from collector.parsers.sources import classify
from config.errors import StoreBusyError
from store import EventStore
from store.checkpoints import StoredStates, saved_files
from store.records import Event
from tests.collector.service.daemon_harness import expect

FIXTURE = (
    Path(__file__).resolve().parents[2] / "fixtures" / "claude" / "drm-coverage-test-fix.jsonl"
)
LINES = FIXTURE.read_bytes().split(b"\n")[:-1]
HALF = len(LINES) // 2
SESSIONS = [f"11111111-2222-4333-8444-{i:012d}" for i in range(4)]

Pipeline = tuple[EventStore, ReaderThread, StoredStates]


@pytest.fixture
def pipeline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Pipeline]:
    # Files written seconds ago stay open a while; parking is what is under test here.
    monkeypatch.setattr(hot_module, "HOT_SECONDS", 0.0)
    store = EventStore(tmp_path / "events.db", manual_checkpoint=True)
    counters = Counters()
    stored = StoredStates(tmp_path / "events.db")
    writer = WriterThread(store, counters, flush_interval_ms=2)
    reader = ReaderThread(writer, counters, ReaderOptions(), {}, stored=stored)
    writer.start()
    reader.start()
    yield store, reader, stored
    reader.close()
    writer.close()
    store.close()


def _write(root: Path, session: str, lines: list[bytes]) -> Path:
    path = root / "-p" / f"{session}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("ab") as handle:
        handle.write(b"".join(line + b"\n" for line in lines))
    return path


def _caught_up(store: EventStore, paths: list[Path]) -> bool:
    rows = dict(store.connection.execute("SELECT path, offset FROM files").fetchall())
    return all(rows.get(str(p)) == p.stat().st_size for p in paths)


def _in_store(reader: ReaderThread, root: Path, paths: list[Path]) -> bool:
    """Every path parked with its state in the store (a scan looks at the caught-up files
    once more, which parks them)."""
    reader.add_scan(list(scan_root("claude-code", str(root), known=reader.sources())))
    expect(reader.idle)
    saved = [reader._saved.get(str(p)) for p in paths]
    return all(s is not None and s.parser_state is IN_STORE for s in saved)


def _completed_calls(store: EventStore) -> int:
    return int(
        store.connection.execute(
            "SELECT COUNT(*) FROM events WHERE tool_call_id IS NOT NULL AND status != 'pending'"
        ).fetchone()[0]
    )


def _expected(root: Path, paths: list[Path]) -> tuple[set[str], int]:
    """Event keys and completed tool calls of every path parsed whole, at once."""
    keys: set[str] = set()
    calls: set[tuple[str | None, str]] = set()
    for path in paths:
        source = classify("claude-code", str(root), str(path))
        assert source is not None
        parser, offset = make_parser(source), 0
        for line in path.read_bytes().split(b"\n")[:-1]:
            for r in parser.parse_line(line, offset):
                if isinstance(r, Event):
                    keys.add(f"{source.session_id}/{r.agent_event_id}")
                    if r.tool_call_id:
                        calls.add((r.tool_call_id, f"{source.session_id}/{r.agent_event_id}"))
            offset += len(line) + 1
    return keys, len(calls)


def _stored_keys(store: EventStore) -> set[str]:
    rows = store.connection.execute(
        "SELECT s.session_key, e.agent_event_id FROM events e "
        "JOIN sessions s ON s.id = e.session_id"
    )
    return {f"{session}/{event}" for session, event in rows}


def _contents(store: EventStore) -> tuple[list[tuple[object, ...]], ...]:
    """What the store says of the transcripts: events, session facts and the parser states
    in the files rows (ids and times of insertion left out)."""
    events = store.connection.execute(
        "SELECT s.session_key, e.agent_event_id, e.parent_event_id, e.timestamp, e.event_type, "
        "e.tool_name, e.tool_call_id, e.tool_arguments, e.file_path, e.command, e.status, "
        "e.duration_ms, e.exit_code, e.model, e.input_tokens, e.output_tokens, "
        "e.source_offset, e.raw_data, e.preview FROM events e "
        "JOIN sessions s ON s.id = e.session_id ORDER BY 1, 2"
    ).fetchall()
    sessions = store.connection.execute(
        "SELECT session_key, agent_session_id, project_dir, git_branch, model, agent_version, "
        "title, started_at FROM sessions ORDER BY 1"
    ).fetchall()
    files = store.connection.execute("SELECT path, parser_state FROM files ORDER BY 1").fetchall()
    return [tuple(r) for r in events], [tuple(r) for r in sessions], [tuple(r) for r in files]


def _ingested_at_once(tmp_path: Path, root: Path) -> tuple[list[tuple[object, ...]], ...]:
    """The same files' whole contents ingested in one go, into another store."""
    store = EventStore(tmp_path / "whole.db", manual_checkpoint=True)
    counters = Counters()
    writer = WriterThread(store, counters, flush_interval_ms=2)
    reader = ReaderThread(writer, counters, ReaderOptions(), {})
    writer.start()
    reader.start()
    try:
        paths = sorted(root.rglob("*.jsonl"))
        reader.add_scan(list(scan_root("claude-code", str(root))))
        expect(lambda: _caught_up(store, paths))
        expect(reader.idle)
        return _contents(store)
    finally:
        reader.close()
        writer.close()
        store.close()


def test_quiet_files_resume_from_their_rows(tmp_path: Path, pipeline: Pipeline) -> None:
    """Half of each transcript is read and parked with its state in the store; the other
    half, read after the files wake, completes the tool calls of the first (the state came
    back from the rows), and no line is stored twice: the store ends as the same files
    ingested at once leave it."""
    store, reader, _stored = pipeline
    root = tmp_path / "projects"
    paths = [_write(root, s, LINES[:HALF]) for s in SESSIONS]
    reader.add_scan(list(scan_root("claude-code", str(root))))
    expect(lambda: _caught_up(store, paths))
    expect(lambda: _in_store(reader, root, paths))
    for session in SESSIONS:
        _write(root, session, LINES[HALF:])
    reader.add_scan(list(scan_root("claude-code", str(root), known=reader.sources())))
    expect(lambda: _caught_up(store, paths))
    expect(reader.idle)
    keys, calls = _expected(root, paths)
    assert _stored_keys(store) == keys
    assert _completed_calls(store) == calls > 0
    lines = store.connection.execute("SELECT SUM(lines) FROM files").fetchone()[0]
    assert lines == len(LINES) * len(SESSIONS)  # each line read once
    assert _contents(store) == _ingested_at_once(tmp_path, root)


def test_renamed_quiet_file_takes_its_state_from_the_old_row(
    tmp_path: Path, pipeline: Pipeline
) -> None:
    """A parked file renamed within its root resumes at its offset with the state of its old
    path's row (read before that row is retired): nothing is read twice, and the lines
    appended after the rename complete the calls made before it."""
    store, reader, _stored = pipeline
    root = tmp_path / "projects"
    path = _write(root, SESSIONS[0], LINES[:HALF])
    reader.add_scan(list(scan_root("claude-code", str(root))))
    expect(lambda: _caught_up(store, [path]))
    expect(lambda: _in_store(reader, root, [path]))
    moved = path.with_name(f"{SESSIONS[1]}.jsonl")
    path.rename(moved)
    with moved.open("ab") as handle:
        handle.write(b"".join(line + b"\n" for line in LINES[HALF:]))
    reader.add_scan(list(scan_root("claude-code", str(root), known=reader.sources())))
    expect(lambda: _caught_up(store, [moved]))
    expect(reader.idle)
    lines = store.connection.execute("SELECT SUM(lines) FROM files").fetchone()[0]
    assert lines == len(LINES)
    whole, calls = _expected(root, [moved])
    # The renamed file stays in the session it started in.
    assert _stored_keys(store) == {k.replace(SESSIONS[1], SESSIONS[0]) for k in whole}
    assert _completed_calls(store) == calls > 0
    final = store.connection.execute(
        "SELECT parser_state FROM files WHERE path = ?", (str(moved),)
    ).fetchone()
    assert [tuple(final)] == [row[1:] for row in _ingested_at_once(tmp_path, root)[2]]


def test_stored_states_read_committed_rows(tmp_path: Path, pipeline: Pipeline) -> None:
    """The read-back sees what the writer committed, opens its connection on use and closes
    it when unused (an idle daemon holds no second connection)."""
    store, reader, stored = pipeline
    root = tmp_path / "projects"
    path = _write(root, SESSIONS[0], LINES[:HALF])
    reader.add_scan(list(scan_root("claude-code", str(root))))
    expect(lambda: _caught_up(store, [path]))
    expect(reader.idle)
    reader.close()  # the reader thread owns the connection while it runs
    (row,) = store.connection.execute("SELECT parser_state FROM files").fetchall()
    assert stored.state_of(str(path)) == row[0]
    assert orjson.loads(row[0])
    assert stored.state_of("/not/parked.jsonl") is None
    assert stored._conn is not None
    stored.release_idle(time.monotonic())  # just used: kept
    assert stored._conn is not None
    stored.release_idle(time.monotonic() + 60)
    assert stored._conn is None
    assert stored.state_of(str(path)) == row[0]  # opened again on use
    stored.close()
    stored.close()  # idempotent


def test_start_up_rows_carry_no_live_state(tmp_path: Path, pipeline: Pipeline) -> None:
    """``saved_files`` says whether a live file has a state, without reading it."""
    store, reader, _stored = pipeline
    root = tmp_path / "projects"
    path = _write(root, SESSIONS[0], LINES[:HALF])
    reader.add_scan(list(scan_root("claude-code", str(root))))
    expect(lambda: _caught_up(store, [path]))
    (row,) = list(saved_files(store.connection, 10))
    assert (row["path"], row["parser_state"], row["has_state"], row["gone"]) == (
        str(path), None, 1, 0,
    )  # fmt: skip
    assert SavedFile(None, IN_STORE).parser_state is IN_STORE


def test_a_failed_read_back_leaves_the_file_parked(
    tmp_path: Path, pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store cannot be read when a file wakes: the file stays parked where it was, and
    the next look reads it with its state (nothing lost, nothing read twice)."""
    store, reader, stored = pipeline
    root = tmp_path / "projects"
    path = _write(root, SESSIONS[0], LINES[:HALF])
    reader.add_scan(list(scan_root("claude-code", str(root))))
    expect(lambda: _caught_up(store, [path]))
    expect(lambda: _in_store(reader, root, [path]))
    real, failures = stored.state_of, list[str]()

    def flaky(at: str) -> str | None:
        if not failures:
            failures.append(at)
            raise StoreBusyError(at, "database is locked")
        return real(at)

    monkeypatch.setattr(stored, "state_of", flaky)
    _write(root, SESSIONS[0], LINES[HALF:])
    reader.add_scan(list(scan_root("claude-code", str(root), known=reader.sources())))
    expect(lambda: failures)
    expect(reader.idle)
    assert reader.counters.get("file_errors") == 1
    saved = reader._saved.get(str(path))
    assert saved is not None
    assert saved.parser_state is IN_STORE
    reader.add_scan(list(scan_root("claude-code", str(root), known=reader.sources())))
    expect(lambda: _caught_up(store, [path]))
    expect(reader.idle)
    assert _contents(store) == _ingested_at_once(tmp_path, root)
