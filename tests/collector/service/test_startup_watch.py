"""A line appended while the daemon starts is read at once, not at the next rescan.

The daemon reads what is already there and watches for more. Watching began after the first
scan's files were queued, so a line appended after the reader had read its file to the end,
but before the watch began, waited for the next rescan (a minute by default): seen by
bench/bench_latency.py as one append in about twelve runs that took 60 s. Here the race is
forced: the watch is held back until the reader has read everything it knows of, and a line
is appended just then.

The daemon runs in this process (its watcher held back by a patch), on a real SQLite file,
real inotify and the real reader thread; the rescan interval is ten minutes, so only a
notification can bring the line in.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest

from collector.ingest import watch
from collector.service.daemon import Daemon
from config import load_config
from tests.collector.service.daemon_harness import Instance, expect


def _prompt(session: str, text: str) -> tuple[str, bytes]:
    """A Claude Code user prompt line and its event's key."""
    key = str(uuid.uuid4())
    line = orjson.dumps({
        "type": "user", "sessionId": session, "uuid": key, "timestamp": "2026-12-05T10:00:00.000Z",
        "cwd": "/tmp/p", "message": {"role": "user", "content": text},
    })  # fmt: skip
    return key, line + b"\n"


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[tuple[Instance, Daemon, threading.Thread]]:
    """A daemon on an isolated HOME, run on a thread of this process when the test starts it;
    stopped as SIGTERM's handler would stop it."""
    instance = Instance(
        tmp_path, collector__rescan_interval=600, tracker__enabled="false",
        collector__parse_process='"off"',
    )  # fmt: skip
    made = Daemon(load_config(None, instance.env))
    runner = threading.Thread(target=made.run, name="daemon-main", daemon=True)
    yield instance, made, runner
    made._stopping = True
    made._wake.set()
    if runner.is_alive():
        runner.join(10)
    assert not runner.is_alive()


def test_a_line_appended_before_the_watch_begins_is_read_without_a_rescan(
    daemon: tuple[Instance, Daemon, threading.Thread], monkeypatch: pytest.MonkeyPatch
) -> None:
    instance, made, runner = daemon
    session = str(uuid.uuid4())
    transcript = instance.claude / "-tmp-p" / f"{session}.jsonl"
    transcript.parent.mkdir(parents=True)
    first, line = _prompt(session, "first")
    transcript.write_bytes(line)
    second, late = _prompt(session, "second")
    real_start: Callable[[watch.Watcher], None] = watch.Watcher.start

    def start_late(watcher: watch.Watcher) -> None:
        assert made.reader is not None
        expect(made.reader.idle)  # whatever it knows of is read to the end
        with transcript.open("ab") as out:
            out.write(late)
        real_start(watcher)

    monkeypatch.setattr(watch.Watcher, "start", start_late)
    runner.start()

    def stored(key: str) -> bool:
        rows = instance.query("SELECT 1 FROM events WHERE agent_event_id = ?", (key,))
        return bool(rows)

    expect(lambda: stored(first), timeout=15)
    expect(lambda: stored(second), timeout=5)
