"""Outside readers while the daemon runs: the ``sqlite3`` shell and short-lived Python
connections must not break the daemon's WAL (closing any descriptor of a file drops the
process's POSIX locks; an outside reader that then believes it is the last connection
checkpoints and deletes the WAL under the daemon).

No connection other than the one under test holds the database open (one held open would keep
the WAL alive and hide the defect).
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import IO

import orjson
import pytest

from tests.collector.service.daemon_harness import Instance, claude_lines, expect

SESSION = "11111111-2222-4333-8444-555555555555"


def database_descriptors(pid: int, database: Path) -> list[str]:
    """Where the daemon's descriptors of the database, WAL and SHM point."""
    links = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(database)):
            links.append(target)
    return links


def deleted_descriptors(pid: int, database: Path) -> list[str]:
    return [d for d in database_descriptors(pid, database) if "(deleted)" in d]


def append(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as handle:
        handle.write(data)


def max_id(instance: Instance) -> int:
    return int(instance.query("SELECT COALESCE(MAX(id), 0) FROM events", strict=True)[0][0])


class LineReader:
    """Lines from a child's pipe, each within a deadline (never hang the suite). Reads the raw
    descriptor: a buffered reader would hide lines it holds from ``select``."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.fd = stream.fileno()
        self.buffer = b""

    def line(self, timeout: float = 20.0) -> bytes:
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self.fd], [], [], max(0.0, left))
            assert ready, f"no line within {timeout}s"
            data = os.read(self.fd, 65536)
            assert data, "the stream ended"
            self.buffer += data
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line


def outside_read(reader: str, database: Path) -> None:
    """The reader under test opens the database, reads, and closes it."""
    if reader == "sqlite3-shell":
        done = subprocess.run(
            ["sqlite3", str(database), "select count(*) from events"],
            capture_output=True, text=True, timeout=30, check=True,
        )  # fmt: skip
        assert int(done.stdout.strip()) > 0
        return
    for _ in range(20):
        conn = sqlite3.connect(database)
        assert conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] > 0
        conn.close()


@pytest.mark.parametrize("reader", ["sqlite3-shell", "python-20x"])
def test_outside_reader_keeps_the_wal_alive(tmp_path: Path, reader: str) -> None:
    """After outside readers come and go: the WAL exists, the daemon holds no ``(deleted)``
    descriptor, and rows appended later are seen by a new reader and by ``events --follow``."""
    if reader == "sqlite3-shell" and shutil.which("sqlite3") is None:
        pytest.skip("the sqlite3 shell is not installed")
    # The tracker opens its own read connection in the daemon: the place a header sniff used to
    # drop the writer's locks. A short tick makes it open at once.
    instance = Instance(tmp_path, tracker__scan_interval=0.2)
    lines = claude_lines("drm-hello-world-script.jsonl", "drm-coverage-test-fix.jsonl")
    half = len(lines) // 2
    path = instance.claude / "-p" / f"{SESSION}.jsonl"
    append(path, b"".join(lines[:half]))
    proc = instance.start()
    follow = None
    try:
        instance.wait_ready(proc)
        expect(lambda: instance.committed_offset(path) == path.stat().st_size)
        # writer + checkpointer + tracker: every in-process connection is open
        expect(lambda: database_descriptors(proc.pid, instance.database).count(
            str(instance.database)) >= 3)  # fmt: skip
        wal = Path(f"{instance.database}-wal")
        assert wal.exists()
        outside_read(reader, instance.database)
        assert wal.exists(), "an outside reader deleted the live WAL"
        assert Path(f"{instance.database}-shm").exists()
        assert not deleted_descriptors(proc.pid, instance.database)
        follow = subprocess.Popen(
            instance.command("events", "--follow", "--jsonl", "--limit", "1"),
            env=instance.env, stdout=subprocess.PIPE,
        )  # fmt: skip
        assert follow.stdout is not None
        printed_lines = LineReader(follow.stdout)
        printed_lines.line()  # the newest stored row: the follower is up and positioned
        before = max_id(instance)
        append(path, b"".join(lines[half:]))
        expect(lambda: instance.committed_offset(path) == path.stat().st_size)
        newest = max_id(instance)  # a new reader sees the rows
        assert newest > before
        printed: list[int] = []
        while not printed or printed[-1] < newest:  # --follow prints them, in order
            printed.append(int(orjson.loads(printed_lines.line())["id"]))
        assert printed == list(range(before + 1, newest + 1))
        assert not deleted_descriptors(proc.pid, instance.database)
    finally:
        if follow is not None:
            follow.kill()
            follow.communicate(timeout=10)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
