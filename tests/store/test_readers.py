"""Read-only connections of a long-lived reader process (the dashboard) across writer restarts.

POSIX locks belong to the process, and closing any descriptor of a file drops all of them. A
reader that opened the database file itself (to check its header) while another of its
connections was open dropped that connection's lock; SQLite still counted it as held, so the
process stayed unlocked. A stopping writer then found itself alone, deleted the WAL and
unlinked the -shm, and every open reader went blind to later commits.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from store import EventStore
from store.connection import open_database

_WRITE = """
import sys
from store import EventStore
with EventStore(sys.argv[1]) as store:
    store.create_session(session_key=sys.argv[2], agent="claude-code")
    print("committed", flush=True)
    sys.stdin.read()  # stay open (the commit stays in the WAL) until the test is done
"""


def _writer(path: Path, key: str) -> subprocess.Popen[str]:
    """A writer process that has committed one session and keeps its connection open."""
    proc = subprocess.Popen([sys.executable, "-c", _WRITE, str(path), key], text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)  # fmt: skip
    assert proc.stdout is not None
    assert proc.stdout.readline() == "committed\n"
    return proc


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.communicate(timeout=60)
    assert proc.returncode == 0


def test_readers_opened_one_after_another_see_commits_after_a_writer_restart(
    tmp_path: Path,
) -> None:
    path = tmp_path / "events.db"
    EventStore(path).close()
    _stop(_writer(path, "s:first"))
    first = open_database(path, readonly=True)
    second = open_database(path, readonly=True)
    try:
        assert first.execute("SELECT COUNT(*) FROM sessions").fetchone()[0] == 1
        _stop(_writer(path, "s:second"))  # a writer starts, commits and stops
        restarted = _writer(path, "s:third")  # the next one runs on, its commit in the WAL
        try:
            for conn in (first, second):
                assert conn.execute("SELECT COUNT(*) FROM sessions").fetchone()[0] == 3
        finally:
            _stop(restarted)
    finally:
        first.close()
        second.close()
