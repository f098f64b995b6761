"""Opening the SQLite database with the settings every connection needs.

- WAL, so readers (dashboards, query commands) never block the writer and vice versa.
- ``synchronous=NORMAL``: in WAL mode this never corrupts the database; a power cut may roll
  back the last transactions, but a file's offset is committed in the same transaction as its
  events, so both roll back together and the lines are read again — no loss, no duplicate
  (a commit is as durable as the offsets it records). FULL would add an fsync per commit for no
  gain in correctness.
- ``foreign_keys=ON`` (off by default in SQLite) and a busy timeout so a short lock held by
  another connection delays rather than fails.
- Privacy: the folder is created 0700 and the file 0600 before SQLite touches it; SQLite
  gives the ``-wal``/``-shm`` files the database file's mode.
- Outside readers: nothing here opens the database file except SQLite. On Linux, closing *any*
  descriptor of a file drops every POSIX lock this process holds on it (fcntl(2); SQLite's
  "How To Corrupt An SQLite Database File", §2.2): a header sniff or a writability probe in
  the daemon, while its writer holds the database, would let the next ``sqlite3`` shell that
  closes believe it is the last connection and delete the live WAL. So a file that is not
  SQLite is refused by SQLite itself (it reads page 1 and writes nothing to a non-database),
  and writability is asked of the path (``os.access``). The one exception is creating a new,
  empty file with ``O_EXCL``: no connection of this process can hold locks on a file that did
  not exist.

Every ``sqlite3.Error`` at open time becomes one ``StoreOpenError`` naming the path.
"""

from __future__ import annotations

import functools
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec, TypeVar

from config.errors import (
    SchemaVersionError,
    StoreBusyError,
    StoreOpenError,
    StoreRejectedError,
)
from store.migrate import CURRENT_VERSION, migrate, read_version

__all__ = [
    "BUSY_TIMEOUT_MS",
    "WAL_LIMIT_BYTES",
    "Connection",
    "make_private_folder",
    "open_checkpointer",
    "open_database",
    "store_errors",
    "wal_checkpoint",
]

_P = ParamSpec("_P")
_R = TypeVar("_R")

BUSY_TIMEOUT_MS = 5000
# A database connection, for the type hints of code outside store/ that holds one it got from
# here and hands it back to store/ functions (it never runs SQL of its own).
Connection = sqlite3.Connection


def open_database(
    path: str | os.PathLike[str],
    *,
    readonly: bool = False,
    busy_timeout_ms: int = BUSY_TIMEOUT_MS,
    manual_checkpoint: bool = False,
) -> sqlite3.Connection:
    """A ready connection to the database at ``path``, created and migrated if needed."""
    where = str(path)
    if readonly:
        # A dashboard opens connections while others are open: one plain open() and close() of
        # the file here would drop their locks (see the module docstring).
        return _open_readonly(where, busy_timeout_ms)
    _prepare_files(where)
    try:
        conn = sqlite3.connect(where, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise StoreOpenError(where, f"cannot open database: {exc}") from None
    configure = functools.partial(
        _configure_writer, conn, where, busy_timeout_ms, manual_checkpoint
    )
    return _set_up(conn, where, configure)


# A commit that takes the WAL past this many pages checkpoints it (SQLite's default is 1000,
# 4 MiB). A batch of 1000 events dirties ~1700 pages (the random natural-key index alone ~900),
# so at 1000 every commit paid a checkpoint of its own pages; at 8192 (32 MiB) one commit in ~5
# does, and pages rewritten by several commits are copied once (bench/bench_store.py --workload
# seed --checkpoint auto, same rows: 1000 pages median 50 ms / mean 52; 4096: 20 / 38; 8192:
# 19 / 34). An owner that checkpoints between commits itself (``manual_checkpoint``: the
# daemon's checkpointer thread) keeps SQLite's only as a backstop.
# When the WAL starts over its file is cut back to 144 MiB at most: no less than the daemon's
# WAL reaches before it starts over (collector.ingest.commit.checkpointer: 96 MiB; the writer's
# backstop: 32768 frames of a page and a 24-byte header, 129 MiB). Cut to 64 MiB, every cycle
# grew the file again, and a commit that extends the file costs more than one that overwrites
# it (1000 events: 19 vs 7 ms for the COMMIT).
_AUTOCHECKPOINT_PAGES = 8192
_BACKSTOP_PAGES = 16384
WAL_LIMIT_BYTES = 144 << 20


def _configure_writer(
    conn: sqlite3.Connection, where: str, busy_timeout_ms: int, manual_checkpoint: bool
) -> None:
    _configure(conn, busy_timeout_ms, wal=True)
    migrate(conn, where)
    conn.execute("PRAGMA foreign_keys=ON")
    pages = _BACKSTOP_PAGES if manual_checkpoint else _AUTOCHECKPOINT_PAGES
    conn.execute(f"PRAGMA wal_autocheckpoint={pages}")
    conn.execute(f"PRAGMA journal_size_limit={WAL_LIMIT_BYTES}")


def _set_up(
    conn: sqlite3.Connection, where: str, configure: Callable[[], None]
) -> sqlite3.Connection:
    """``conn`` once ``configure()`` ran; closed (never leaked) if it failed, an SQLite error
    becoming one ``StoreOpenError`` naming the path."""
    try:
        configure()
    except sqlite3.Error as exc:
        conn.close()
        raise StoreOpenError(where, _explain(exc)) from None
    except BaseException:
        conn.close()
        raise
    return conn


def open_checkpointer(path: str | os.PathLike[str]) -> sqlite3.Connection:
    """A second connection to an open WAL database that only runs checkpoints.

    It never writes rows, so it needs no migration and almost no page cache; ``synchronous``
    matches the writer's, so a checkpoint syncs the WAL before copying it, as the writer's own
    would have.
    """
    where = os.fspath(path)
    try:
        conn = sqlite3.connect(where, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout=0")  # a checkpoint that would wait is simply skipped
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA cache_size=-256")
        conn.execute("PRAGMA wal_autocheckpoint=0")
    except sqlite3.Error as exc:
        raise StoreOpenError(where, _explain(exc)) from None
    return conn


def _open_readonly(where: str, busy_timeout_ms: int) -> sqlite3.Connection:
    if not os.path.exists(where):
        raise StoreOpenError(where, "database does not exist (has the daemon run yet?)")
    try:
        conn = sqlite3.connect(
            f"file:{where}?mode=ro", uri=True, isolation_level=None, check_same_thread=False
        )
    except sqlite3.Error as exc:
        raise StoreOpenError(where, _explain(exc)) from None

    def configure() -> None:
        _configure(conn, busy_timeout_ms, wal=False)
        # Nothing is migrated read-only: a schema other than ours would fail mid-query.
        _check_version(where, read_version(conn))

    return _set_up(conn, where, configure)


def _check_version(where: str, version: int) -> None:
    if version > CURRENT_VERSION:
        raise SchemaVersionError(
            where,
            f"database schema version {version} is newer than this agent-viz-monitor "
            f"supports ({CURRENT_VERSION}); upgrade agent-viz-monitor",
        )
    if version < CURRENT_VERSION:
        raise StoreOpenError(
            where,
            f"database schema version {version} is older than {CURRENT_VERSION} "
            "(has the daemon run yet? it upgrades the database)",
        )


def _prepare_files(where: str) -> None:
    folder = Path(where).parent
    try:
        if not folder.exists():
            make_private_folder(folder)
        if not os.path.exists(where):
            fd = os.open(where, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600)
            os.close(fd)
    except FileExistsError:
        pass
    except OSError as exc:
        raise StoreOpenError(where, f"cannot create database: {exc.strerror}") from None
    # SQLite silently opens a file it cannot write read-only, and a migrated database needs no
    # write at open time: without this check the first batch would fail, not the open. Asked of
    # the path, never by opening the file (see the module docstring).
    if os.path.isdir(where):
        raise StoreOpenError(where, "is a directory, not a database file")
    if not os.access(where, os.W_OK):
        raise StoreOpenError(where, "database is read-only (Permission denied); "
                             "check the file's permissions")  # fmt: skip


def make_private_folder(folder: Path) -> None:
    """Create ``folder`` and every missing parent 0700, whatever the umask (``mkdir -p``
    applies the umask to the parents: ``~/.local/share`` would be 0777 under ``umask 000``)."""
    missing: list[Path] = []
    here = folder
    while not here.exists():
        missing.append(here)
        if here.parent == here:
            break
        here = here.parent
    for item in reversed(missing):
        try:
            item.mkdir(mode=0o700)
        except FileExistsError:
            continue
        item.chmod(0o700)


def _configure(conn: sqlite3.Connection, busy_timeout_ms: int, *, wal: bool) -> None:
    conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    if wal:
        if conn.execute("PRAGMA page_count").fetchone()[0] == 0:
            # A new, empty file holds nothing to lose: its switch to WAL (page 1 written through
            # a rollback journal) need not wait for 4 fdatasyncs, 10-40 ms of every first start.
            # Page 1 of an empty database is one sector of meaning: written or not, it opens.
            conn.execute("PRAGMA synchronous=OFF")
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise sqlite3.OperationalError(f"could not switch to WAL (journal_mode={mode})")
    conn.execute("PRAGMA synchronous=NORMAL")
    # 32 MiB of page cache keeps the hot index pages of live sessions; no mmap, whose touched
    # pages count in the daemon's RSS and grew it with the database (bench/bench_memory.py).
    conn.execute("PRAGMA cache_size=-32768")
    conn.execute("PRAGMA temp_store=MEMORY")


def _explain(exc: sqlite3.Error) -> str:
    text = str(exc)
    if "readonly" in text or "read-only" in text:
        return f"database is read-only ({text}); check the file's and folder's permissions"
    if "locked" in text or "busy" in text:
        return f"database is locked by another writer ({text})"
    if "not a database" in text or "malformed" in text:
        return (f"file is not a usable SQLite database ({text}): not an SQLite database, or a "
                "damaged one; nothing was written to it")  # fmt: skip
    return text


def wal_checkpoint(conn: sqlite3.Connection, mode: str = "PASSIVE") -> tuple[int, int, int]:
    """Copy WAL frames into the database: (busy, WAL frames, frames copied). Any SQLite error
    (busy, failing disk) becomes ``StoreBusyError``: a skipped checkpoint is retried later."""
    if mode not in ("PASSIVE", "FULL", "RESTART", "TRUNCATE"):
        raise ValueError(f"unknown checkpoint mode {mode!r}")
    try:
        row = conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
    except sqlite3.Error as exc:
        raise StoreBusyError("wal_checkpoint", str(exc)) from exc
    return int(row[0]), int(row[1]), int(row[2])


def store_errors(read: Callable[_P, _R]) -> Callable[_P, _R]:
    """``read`` raising the tree's errors instead of SQLite's, for callers outside store/:
    an operational failure (locked, busy, I/O, a file gone) becomes ``StoreBusyError`` (try
    again later), any other ``StoreRejectedError``."""

    @functools.wraps(read)
    def call(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return read(*args, **kwargs)
        except sqlite3.OperationalError as exc:
            raise StoreBusyError("database", str(exc)) from exc
        except sqlite3.Error as exc:
            raise StoreRejectedError("database", str(exc)) from exc

    return call
