"""Reader and writer threads in-process, on a real SQLite file: failures never cost a line."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

import collector.ingest.hot as hot_module
import collector.ingest.parked as parked_module
import collector.ingest.tracked as tracked_module
from collector.counters import Counters
from collector.ingest.commit.writer import WriterThread
from collector.ingest.discovery import scan_root
from collector.ingest.reader import ReaderOptions, ReaderThread
from collector.parsers import make_parser
from collector.parsers.sources import classify
from store import EventStore
from store.records import Chunk, Event, FileUpdate, Record
from tests.collector.service.daemon_harness import expect

FIXTURE = (
    Path(__file__).resolve().parents[2] / "fixtures" / "claude" / "drm-coverage-test-fix.jsonl"
)
SESSION = "11111111-2222-4333-8444-555555555555"


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[tuple[EventStore, WriterThread, ReaderThread]]:
    store = EventStore(tmp_path / "events.db", manual_checkpoint=True)
    counters = Counters()
    writer = WriterThread(store, counters, flush_interval_ms=2)
    reader = ReaderThread(writer, counters, ReaderOptions(read_chunk_bytes=4096), {})
    writer.start()
    reader.start()
    yield store, writer, reader
    reader.close()
    writer.close()
    store.close()


def keys(store: EventStore) -> set[str]:
    return {r[0] for r in store.connection.execute("SELECT agent_event_id FROM events")}


def expected_keys(root: Path, path: Path) -> set[str]:
    source = classify("claude-code", str(root), str(path))
    assert source is not None
    parser, out, offset = make_parser(source), set(), 0
    for line in path.read_bytes().split(b"\n")[:-1]:
        out |= {r.agent_event_id for r in parser.parse_line(line, offset) if isinstance(r, Event)}
        offset += len(line) + 1
    return out


class TestReaderFailure:
    """An exception while processing a file rewinds it to the last chunk handed on."""

    def test_failed_step_is_retried_without_losing_lines(
        self,
        tmp_path: Path,
        pipeline: tuple[EventStore, WriterThread, ReaderThread],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """The parser blows up once, mid-file, after lines of that step were read: those
        lines are read again on the next scan and every event is stored once."""
        store, _writer, reader = pipeline
        root = tmp_path / "projects"
        path = root / "-p" / f"{SESSION}.jsonl"
        path.parent.mkdir(parents=True)
        path.write_bytes(FIXTURE.read_bytes())
        calls = {"n": 0}

        class Flaky:
            def __init__(self, inner: Any) -> None:
                self.inner = inner

            def parse_line(self, line: bytes, offset: int) -> list[Record]:
                calls["n"] += 1
                if calls["n"] == 12:
                    raise RuntimeError("injected")
                return list(self.inner.parse_line(line, offset))

            def __getattr__(self, name: str) -> Any:
                return getattr(self.inner, name)

        monkeypatch.setattr(
            tracked_module, "make_parser", lambda *a, **k: Flaky(make_parser(*a, **k))
        )
        for found in scan_root("claude-code", str(root)):
            reader.add_found(found)
        expect(reader.idle)
        assert calls["n"] >= 12
        size = path.stat().st_size
        offset = lambda: store.connection.execute("SELECT offset FROM files").fetchone()  # noqa: E731
        expect(lambda: offset() is not None)
        # It stopped at the last chunk handed on before the failure; the commit of its earlier
        # backlog chunks may already have woken it to retry. Either way the rescan finishes it.
        assert offset()[0] <= size
        for found in scan_root("claude-code", str(root)):  # the next rescan
            reader.add_found(found)
        expect(lambda: offset()[0] == size)
        assert keys(store) == expected_keys(root, path)


class TestWriterRejects:
    """A record the store rejects is recorded as a problem; its neighbours and the offset land."""

    def test_bad_record_between_good_ones(
        self, pipeline: tuple[EventStore, WriterThread, ReaderThread]
    ) -> None:
        """An event violating NOT NULL (no timestamp) sits between two good ones."""
        store, writer, _reader = pipeline
        good = [Event("claude-code:s", f"e{i}", "2026-01-01T00:00:00.000Z", "message",
                      source_offset=i * 10) for i in range(2)]  # fmt: skip
        bad = Event("claude-code:s", "bad", None, "message", source_offset=5)  # type: ignore[arg-type]
        update = FileUpdate("/t/s.jsonl", "claude-code", "claude-code:s",
                            {"dev": 1, "inode": 2, "offset": 30, "head_hash": "h",
                             "head_len": 30, "marker_hash": "m"}, None, 30)  # fmt: skip
        writer.put(Chunk([good[0], bad, good[1]], update, 30))
        expect(lambda: store.connection.execute("SELECT offset FROM files").fetchone())
        assert keys(store) == {"e0", "e1"}
        problems = store.connection.execute("SELECT offset, reason FROM parse_problems").fetchall()
        assert [tuple(p) for p in problems] == [(5, "store rejected Event")]
        assert writer.alive
        assert writer.fatal is None


class TestParking:
    """A caught-up file gives up its tail and parser, keeping its state packed in memory."""

    @given(st.text(max_size=2000))
    def test_packed_state_round_trips(self, text: str) -> None:
        packed = parked_module.pack_state(text)
        assert packed is not None
        assert parked_module.unpack_state(packed) == text

    def test_real_state_shrinks(self) -> None:
        """The dictionary does its job on a real Claude state (the point of packing)."""
        source = classify("claude-code", "/r", f"/r/-p/{SESSION}.jsonl")
        assert source is not None
        parser, offset = make_parser(source), 0
        for line in FIXTURE.read_bytes().split(b"\n")[:-1]:
            parser.parse_line(line, offset)
            offset += len(line) + 1
        packed = parked_module.pack_state(parser.state())
        assert packed is not None
        assert len(packed) < len(orjson.dumps(parser.state())) / 2

    def test_parked_file_resumes_with_its_state(
        self,
        tmp_path: Path,
        pipeline: tuple[EventStore, WriterThread, ReaderThread],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Half a transcript is read and parked; the other half, read after it wakes, gives the
        same events as the whole file parsed at once (tool results complete earlier calls)."""
        store, _writer, reader = pipeline
        # A file written seconds ago stays open a while (drained if renamed); parking is what
        # is under test here, so it parks as soon as it is caught up.
        monkeypatch.setattr(hot_module, "HOT_SECONDS", 0.0)
        root = tmp_path / "projects"
        path = root / "-p" / f"{SESSION}.jsonl"
        path.parent.mkdir(parents=True)
        lines = FIXTURE.read_bytes().split(b"\n")[:-1]
        half = len(lines) // 2
        path.write_bytes(b"".join(line + b"\n" for line in lines[:half]))
        reader.add_scan(list(scan_root("claude-code", str(root))))
        size = path.stat().st_size
        offset = lambda: store.connection.execute("SELECT offset FROM files").fetchone()  # noqa: E731
        expect(lambda: offset() is not None and offset()[0] == size)
        expect(reader.idle)
        # Caught up once its backfill chunks are committed: the next look parks it.
        expect(lambda: _parked(reader, path, root))
        assert isinstance(reader._saved[str(path)].parser_state, bytes)  # packed
        with path.open("ab") as handle:
            handle.write(b"".join(line + b"\n" for line in lines[half:]))
        reader.add_scan(list(scan_root("claude-code", str(root), known=reader.sources())))
        expect(lambda: offset()[0] == path.stat().st_size)
        assert keys(store) == expected_keys(root, path)
        whole = [r for r in _parse_whole(root, path) if isinstance(r, Event) and r.tool_call_id]
        stored = store.connection.execute(
            "SELECT COUNT(*) FROM events WHERE tool_call_id IS NOT NULL AND status != 'pending'"
        ).fetchone()[0]
        assert stored == len({(e.tool_call_id, e.agent_event_id) for e in whole}) > 0

    def test_a_rescan_that_misses_a_file_wakes_it(
        self, tmp_path: Path, pipeline: tuple[EventStore, WriterThread, ReaderThread]
    ) -> None:
        """A file deleted without a notification is found gone by the read a rescan triggers."""
        _store, _writer, reader = pipeline
        path = _ingest_fixture(tmp_path, pipeline)
        assert reader.knows(str(path))
        path.unlink()
        reader.add_scan([])
        expect(lambda: not reader.knows(str(path)))


def _ingest_fixture(
    tmp_path: Path, pipeline: tuple[EventStore, WriterThread, ReaderThread]
) -> Path:
    """The fixture as one transcript, scanned, read and committed; returns its path."""
    store, _writer, reader = pipeline
    root = tmp_path / "projects"
    path = root / "-p" / f"{SESSION}.jsonl"
    path.parent.mkdir(parents=True)
    path.write_bytes(FIXTURE.read_bytes())
    reader.add_scan(list(scan_root("claude-code", str(root))))
    expect(lambda: store.connection.execute("SELECT offset FROM files").fetchone())
    expect(reader.idle)
    return path


def _parked(reader: ReaderThread, path: Path, root: Path) -> bool:
    reader.add_scan(list(scan_root("claude-code", str(root), known=reader.sources())))
    expect(reader.idle)
    return str(path) in reader._saved


def _parse_whole(root: Path, path: Path) -> list[Record]:
    source = classify("claude-code", str(root), str(path))
    assert source is not None
    parser, out, offset = make_parser(source), [], 0
    for line in path.read_bytes().split(b"\n")[:-1]:
        out += parser.parse_line(line, offset)
        offset += len(line) + 1
    return out


class TestRescanRounds:
    """What a partial rescan tells the reader."""

    def test_unlooked_files_are_not_vanished(
        self, tmp_path: Path, pipeline: tuple[EventStore, WriterThread, ReaderThread]
    ) -> None:
        _store, _writer, reader = pipeline
        path = _ingest_fixture(tmp_path, pipeline)
        reader.add_scan([], unlooked=[str(path)])  # listed, not stat'ed: still there
        assert reader.idle()
        assert reader.knows(str(path))
