"""The reader's backlog steps and its run-dry signal, on real files read by the real thread
(the writer is a recording stand-in: these tests are about what is handed to it)."""

from __future__ import annotations

import threading
from pathlib import Path

import orjson

from collector.counters import Counters
from collector.ingest.discovery import scan_root
from collector.ingest.reader import BACKLOG_STEP_BYTES, ReaderOptions, ReaderThread
from store.records import Chunk

SESSION = "11111111-2222-4333-8444-555555555555"


class Recorder:
    """Takes chunks as the writer would and 'commits' each at once."""

    def __init__(self) -> None:
        self.chunks: list[Chunk] = []
        self.lock = threading.Lock()

    def put(self, chunk: Chunk, timeout: float | None = None) -> None:
        with self.lock:
            self.chunks.append(chunk)
        if chunk.on_commit is not None:
            chunk.on_commit()

    def nbytes(self) -> int:
        with self.lock:
            return sum(c.nbytes for c in self.chunks)


def transcript(root: Path, lines: int) -> Path:
    path = root / "-p" / f"{SESSION}.jsonl"
    path.parent.mkdir(parents=True)
    line = {"type": "user", "sessionId": SESSION, "timestamp": "2026-01-01T00:00:00Z",
            "uuid": "u", "message": {"role": "user", "content": "x" * 900}}  # fmt: skip
    with path.open("wb") as out:
        for n in range(lines):
            out.write(orjson.dumps(line | {"uuid": f"u{n}"}) + b"\n")
    return path


def read_all(root: Path, options: ReaderOptions) -> tuple[Recorder, ReaderThread, int]:
    recorder = Recorder()
    reader = ReaderThread(recorder, Counters(), options, {})
    woken = threading.Event()
    reader.on_idle = woken.set
    for found in scan_root("claude-code", str(root)):
        reader.add_found(found)
    reader.start()
    try:
        assert woken.wait(10.0), "on_idle never called"
        assert reader.idle()
        return recorder, reader, recorder.nbytes()
    finally:
        reader.close()


def test_backlog_is_read_in_steps_of_the_configured_size(tmp_path: Path) -> None:
    """A backlog file is handed on in steps of at most ``backlog_step_bytes`` (short by
    default, so a live file waits for one step); ``run --once`` sets it to
    ``read_chunk_bytes`` and the same bytes arrive in fewer, larger chunks."""
    root = tmp_path / "projects"
    size = transcript(root, 400).stat().st_size  # ~400 KB
    chunk = 1 << 20
    default, _, got = read_all(root, ReaderOptions(read_chunk_bytes=chunk))
    assert got == size
    once, _, got_once = read_all(root, ReaderOptions(read_chunk_bytes=chunk,
                                                     backlog_step_bytes=chunk))  # fmt: skip
    assert got_once == size
    sizes = [c.nbytes for c in default.chunks if c.nbytes]
    assert max(sizes) <= BACKLOG_STEP_BYTES
    assert len(sizes) >= -(-size // BACKLOG_STEP_BYTES) >= 2
    assert [c.nbytes for c in once.chunks if c.nbytes] == [size]


def test_on_idle_comes_after_everything_was_handed_on(tmp_path: Path) -> None:
    """The reader calls ``on_idle`` when it runs out of dirty files after reading: by then
    every byte has been put to the writer (the daemon's ``--once`` loop ends on it)."""
    root = tmp_path / "projects"
    size = transcript(root, 50).stat().st_size
    _recorder, _reader, handed_on = read_all(root, ReaderOptions(backlog_step_bytes=4096))
    assert handed_on == size
