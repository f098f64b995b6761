"""Databases that cannot be used: each gives one StoreOpenError naming the path, and the file
is left exactly as it was.

Read-only cases and root: these tests run as root here, and root's CAP_DAC_OVERRIDE ignores
``chmod``. The read-only checks therefore run the open in a child process started through
``setpriv --bounding-set=-all --inh-caps=-all``: still uid 0, but with no capabilities, so the
kernel enforces the file and folder modes for it exactly as for an ordinary user. The child
checks ``os.access`` first and the test is skipped if the setup is still writable (or when
``setpriv`` is missing).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import shutil
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from config.errors import StoreOpenError
from store import EventStore
from store.connection import open_database
from store.migrate import CURRENT_VERSION, MIGRATIONS, read_version

BIN = Path(sys.executable).parent


def open_descriptors() -> int | None:
    """How many descriptors the process has open (None where /proc is not available)."""
    fd_dir = Path("/proc/self/fd")
    return len(list(fd_dir.iterdir())) if fd_dir.exists() else None


@pytest.fixture(autouse=True)
def _no_leaks() -> Iterator[None]:
    """Every test leaves the process with the descriptors and threads it started with."""
    fds, threads = open_descriptors(), set(threading.enumerate())
    yield
    assert open_descriptors() == fds
    assert set(threading.enumerate()) <= threads


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def side_files(path: Path) -> list[Path]:
    """The -wal/-shm/-journal files SQLite would create next to ``path``."""
    return [
        path.with_name(path.name + suffix)
        for suffix in ("-wal", "-shm", "-journal")
        if path.with_name(path.name + suffix).exists()
    ]


@contextlib.contextmanager
def connect(path: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        yield conn
    finally:
        conn.close()


NOT_SQLITE = {
    "random-bytes": random.Random(20251114).randbytes(8192),
    "text": b"# notes\nthis is a text file, not a database\n" * 20,
    "json-lines": b'{"type": "user", "message": "hi"}\n' * 50,
    "short": b"SQLite",  # a prefix of the magic is still not SQLite
}


class TestNotSqlite:
    """A file that is not SQLite is refused before SQLite writes anything."""

    @pytest.mark.parametrize("readonly", [False, True], ids=["writer", "readonly"])
    @pytest.mark.parametrize("kind", sorted(NOT_SQLITE))
    def test_refused_untouched(self, tmp_path: Path, kind: str, readonly: bool) -> None:
        """StoreOpenError names the path; the bytes are unchanged and no -wal/-shm appears."""
        path = tmp_path / f"{kind}.db"
        path.write_bytes(NOT_SQLITE[kind])
        before = sha256(path)
        with pytest.raises(StoreOpenError) as caught:
            EventStore(path, readonly=readonly)
        assert str(path) in str(caught.value)
        assert caught.value.path == str(path)
        assert "not an SQLite database" in str(caught.value)
        assert sha256(path) == before
        assert side_files(path) == []

    def test_corrupt_after_header(self, tmp_path: Path) -> None:
        """SQLite's header followed by garbage: StoreOpenError naming the path."""
        path = tmp_path / "corrupt.db"
        path.write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 16)
        before = sha256(path)
        with pytest.raises(StoreOpenError, match="not a usable SQLite database") as caught:
            EventStore(path)
        assert str(path) in str(caught.value)
        assert sha256(path) == before

    def test_directory(self, tmp_path: Path) -> None:
        """A directory where the database should be: StoreOpenError naming the path."""
        path = tmp_path / "events.db"
        path.mkdir()
        with pytest.raises(StoreOpenError) as caught:
            EventStore(path)
        assert str(path) in str(caught.value)

    def test_parent_is_a_file(self, tmp_path: Path) -> None:
        """A file where the database's folder should be: StoreOpenError naming the path."""
        blocker = tmp_path / "data"
        blocker.write_text("not a folder")
        path = blocker / "events.db"
        with pytest.raises(StoreOpenError) as caught:
            EventStore(path)
        assert str(path) in str(caught.value)
        assert blocker.read_text() == "not a folder"

    def test_empty_file_becomes_database(self, tmp_path: Path) -> None:
        """An empty file is not refused: it is what a new database looks like."""
        path = tmp_path / "events.db"
        path.touch()
        with EventStore(path) as opened:
            assert opened.health_check()["ok"] is True

    def test_missing_readonly(self, tmp_path: Path) -> None:
        """A read-only open of a missing database names the path and creates nothing."""
        path = tmp_path / "missing.db"
        with pytest.raises(StoreOpenError, match="does not exist") as caught:
            EventStore(path, readonly=True)
        assert str(path) in str(caught.value)
        assert list(tmp_path.iterdir()) == []


_CHILD = """
import json, os, sys
from config.errors import StoreOpenError
from store import EventStore
path, must_not_write = sys.argv[1], sys.argv[2]
if os.access(must_not_write, os.W_OK):
    print(json.dumps({"skip": must_not_write + " is still writable"}))
    sys.exit(0)
try:
    EventStore(path).close()
except StoreOpenError as exc:
    print(json.dumps({"error": str(exc), "path": exc.path}))
else:
    print(json.dumps({"opened": True}))
"""


def open_without_privileges(path: Path, must_not_write: Path) -> dict[str, Any]:
    """Open ``path`` with EventStore in a child that has no capabilities (see module doc)."""
    prefix: list[str] = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root and setpriv is not available to drop capabilities")
        prefix = [setpriv, "--bounding-set=-all", "--inh-caps=-all", "--"]
    done = subprocess.run(
        [*prefix, sys.executable, "-c", _CHILD, str(path), str(must_not_write)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0 and prefix and not done.stdout:
        pytest.skip(f"setpriv could not drop capabilities: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    if "skip" in result:
        pytest.skip(result["skip"])
    return result


@pytest.fixture
def writable_again(tmp_path: Path) -> Iterator[None]:
    """Restore write permission so pytest can remove tmp_path."""
    yield
    for entry in [tmp_path, *tmp_path.rglob("*")]:
        entry.chmod(stat.S_IMODE(entry.stat().st_mode) | stat.S_IWUSR | stat.S_IXUSR)


@pytest.mark.usefixtures("writable_again")
class TestReadOnly:
    """A database that cannot be written is refused at open, not at the first batch."""

    def make_database(self, path: Path) -> None:
        with EventStore(path) as created:
            created.create_session(session_key="registered:kept")

    def test_readonly_file(self, tmp_path: Path) -> None:
        """A 0400 database file: StoreOpenError naming the path; bytes unchanged, no -wal."""
        path = tmp_path / "events.db"
        self.make_database(path)
        path.chmod(0o400)
        before = sha256(path)
        result = open_without_privileges(path, path)
        assert "error" in result, result
        assert result["path"] == str(path)
        assert str(path) in result["error"]
        assert "read-only" in result["error"]
        assert sha256(path) == before
        assert side_files(path) == []

    def test_readonly_folder(self, tmp_path: Path) -> None:
        """An existing database in a 0555 folder (no room for -wal/-shm): StoreOpenError."""
        folder = tmp_path / "data"
        folder.mkdir()
        path = folder / "events.db"
        self.make_database(path)
        before = sha256(path)
        folder.chmod(0o555)
        result = open_without_privileges(path, folder)
        assert "error" in result, result
        assert str(path) in result["error"]
        assert "read-only" in result["error"]
        assert sha256(path) == before

    def test_new_database_in_readonly_folder(self, tmp_path: Path) -> None:
        """A new database in a 0555 folder cannot be created: StoreOpenError naming it."""
        folder = tmp_path / "data"
        folder.mkdir(mode=0o555)
        folder.chmod(0o555)
        path = folder / "events.db"
        result = open_without_privileges(path, folder)
        assert "error" in result, result
        assert str(path) in result["error"]
        assert "cannot create database" in result["error"]
        assert list(folder.iterdir()) == []


class TestLocked:
    """Another connection holds the write lock while the database needs creating or migrating."""

    def test_fresh_database_locked(self, tmp_path: Path) -> None:
        """A brand-new file held by BEGIN EXCLUSIVE: StoreOpenError mentioning 'locked', fast."""
        path = tmp_path / "events.db"
        with connect(path) as holder:
            holder.execute("BEGIN EXCLUSIVE")
            started = time.monotonic()
            with pytest.raises(StoreOpenError) as caught:
                open_database(path, busy_timeout_ms=200)
            elapsed = time.monotonic() - started
            holder.execute("ROLLBACK")
        assert str(path) in str(caught.value)
        assert "locked" in str(caught.value)
        assert elapsed < 5, "busy_timeout_ms=200 was not honoured"
        with EventStore(path) as opened:  # usable once the lock is gone
            assert opened.health_check()["ok"] is True

    def test_migration_locked(self, tmp_path: Path) -> None:
        """A seed database in WAL whose writer holds BEGIN EXCLUSIVE: the migration cannot
        start; StoreOpenError mentioning 'locked', the database still at version 1."""
        path = tmp_path / "seed.db"
        with connect(path) as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("BEGIN")
            MIGRATIONS[0].apply(conn)
            conn.execute("COMMIT")
        with connect(path) as holder:
            holder.execute("BEGIN EXCLUSIVE")
            with pytest.raises(StoreOpenError) as caught:
                open_database(path, busy_timeout_ms=200)
            holder.execute("ROLLBACK")
            tables = {r[0] for r in holder.execute("SELECT name FROM sqlite_master")}
        assert str(path) in str(caught.value)
        assert "locked" in str(caught.value)
        assert "schema_version" not in tables
        with EventStore(path) as opened:
            assert opened.health_check()["ok"] is True

    def test_migrated_database_opens_while_locked(self, tmp_path: Path) -> None:
        """A current database needs no write at open: a held write lock does not stop it."""
        path = tmp_path / "events.db"
        with EventStore(path):
            pass
        with connect(path) as holder:
            holder.execute("BEGIN IMMEDIATE")
            connection = open_database(path, busy_timeout_ms=200)
            try:
                assert read_version(connection) == CURRENT_VERSION
                assert connection.execute("SELECT COUNT(*) FROM events").fetchone() == (0,)
            finally:
                connection.close()
            holder.execute("ROLLBACK")


def run_cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The console script with HOME set to ``home`` and no XDG or override variables."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("XDG_", "AGENT_VIZ_MONITOR_", "CLAUDE_CONFIG_DIR", "CODEX_HOME"))
    }
    env["HOME"] = str(home)
    return subprocess.run(
        [str(BIN / "agent-viz-monitor"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


class TestCommandLine:
    """The query commands print one line naming the path, never a traceback."""

    def assert_one_line_error(self, done: subprocess.CompletedProcess[str], path: Path) -> None:
        assert done.returncode == 1, (done.returncode, done.stderr)
        assert "Traceback" not in done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr
        assert str(path) in lines[0]
        assert done.stdout == ""

    @pytest.mark.parametrize("kind", ["random-bytes", "text"])
    def test_not_sqlite(self, tmp_path: Path, kind: str) -> None:
        """events --db on a file that is not SQLite: one line naming it, exit 1, untouched."""
        path = tmp_path / f"{kind}.db"
        path.write_bytes(NOT_SQLITE[kind])
        before = sha256(path)
        self.assert_one_line_error(run_cli(tmp_path, "events", "--db", str(path)), path)
        assert sha256(path) == before
        assert side_files(path) == []

    def test_missing(self, tmp_path: Path) -> None:
        """events --db on a missing file: one line naming it, exit 1, nothing created."""
        path = tmp_path / "nothing-here.db"
        self.assert_one_line_error(run_cli(tmp_path, "events", "--db", str(path)), path)
        assert not path.exists()

    def test_seed_version(self, tmp_path: Path) -> None:
        """events --db on a not-yet-upgraded seed database: one line, exit 1, untouched."""
        path = tmp_path / "seed.db"
        with connect(path) as conn:
            conn.execute("BEGIN")
            MIGRATIONS[0].apply(conn)
            conn.execute("COMMIT")
        before = sha256(path)
        self.assert_one_line_error(run_cli(tmp_path, "events", "--db", str(path)), path)
        assert sha256(path) == before

    def test_works_on_good_database(self, tmp_path: Path) -> None:
        """The same command on a good database exits 0 (the failure cases are not vacuous)."""
        path = tmp_path / "events.db"
        with EventStore(path) as created:
            created.insert_event(
                {
                    "session_id": "registered:cli",
                    "agent_event_id": "e1",
                    "timestamp": "2025-11-14T10:00:00Z",
                    "event_type": "message",
                }
            )
        done = run_cli(tmp_path, "events", "--db", str(path), "--json")
        assert done.returncode == 0, done.stderr
        assert [row["agent_event_id"] for row in json.loads(done.stdout)] == ["e1"]
