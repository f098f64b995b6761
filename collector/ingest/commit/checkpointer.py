"""The WAL checkpointer: copies committed pages back into the database on its own thread.

A checkpoint copies every WAL frame written since the last one into the database file and syncs
it. Run by the writer, inside or between commits, it stalled every live line queued behind it:
16 MiB of WAL took ~150 ms, which was the p99 of commit latency during a backfill
(bench/bench_latency.py). Here it runs on a second connection, in ``PASSIVE`` mode: it never
takes the write lock, so the writer keeps committing meanwhile, and the sqlite3 module lets go
of the GIL while SQLite copies, so the reader keeps parsing.

The writer ``nudge()``s after each commit; a checkpoint runs at most every ``every`` seconds
while commits continue, and once more when they stop.

The WAL starts over at the first commit after a checkpoint that copied everything, which during
a long backfill (commits every few ms) never comes. So once a PASSIVE checkpoint has copied all
but the WAL holds more than ``restart_frames``, a ``RESTART`` checkpoint copies the frames
committed since and starts the WAL over, holding ``lock``, which the writer holds around each
commit: the writer waits for exactly that long. (Left to SQLite's busy handler, which sleeps in
growing steps, the same wait made a live line's p99 116 ms instead of 45; left to the writer's
autocheckpoint at 128 MiB, 160 ms.) That autocheckpoint stays as the backstop should this
thread fall behind or fail.

That wait is not short under a stream of large commits: a PASSIVE pass over ~14,000 frames
takes 50-90 ms, commits add 3,000-5,000 frames meanwhile, and copying and syncing those held
the writer 40-60 ms. Extra PASSIVE passes to shrink that tail did not help: each pass costs
about what it copies (its syncs write every page back), so the commits during it left as much.
What helps is starting over less often: at 96 MiB (``RESTART_FRAMES``) rather than 16 MiB the
writer waits once per ~20 1000-event commits instead of once per ~8 (bench/bench_store.py
--workload seed, commits back to back: mean 29.2 -> 24.9 ms per commit, medians of 6 rounds).
At that rate a pass comes every ~15,000 frames, so about half the time the writer's 128 MiB
backstop comes first and its commit copies the same tail itself. The WAL file keeps its size
between restarts (``store.connection``), so the commits after one overwrite it rather than
grow it again.
"""

from __future__ import annotations

import os
import threading

from collector.log import get_logger
from config.errors import StoreBusyError
from store.connection import Connection, open_checkpointer, wal_checkpoint

__all__ = ["RESTART_FRAMES", "Checkpointer"]

_log = get_logger(component="checkpointer")

# Start the WAL over once it holds this many frames (96 MiB of 4 KiB pages): below the writer's
# in-commit backstop (collector.ingest.commit.writer.AUTOCHECKPOINT_PAGES, 128 MiB), so this
# thread's RESTART comes first unless commits add more than ~32 MiB during one pass.
RESTART_FRAMES = 24576


class Checkpointer:
    """One thread, one connection; ``start()``, ``nudge()``, idempotent ``close()``."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        every: float = 0.25,
        restart_frames: int = RESTART_FRAMES,
    ) -> None:
        self.path = os.fspath(path)
        self.every = every
        self.restart_frames = restart_frames
        self.restarts = 0
        self.lock = threading.Lock()  # the writer holds it around each commit
        self.checkpoints = 0
        self.failures = 0
        self.last: tuple[int, int, int] | None = None  # (busy, WAL frames, frames copied)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._conn: Connection | None = None
        self._thread = threading.Thread(target=self._run, name="checkpointer", daemon=True)
        self._closed = False

    def start(self) -> None:
        """Open the connection (errors surface here, not on the thread) and start the thread."""
        self._conn = open_checkpointer(self.path)
        self._thread.start()

    def nudge(self) -> None:
        """New frames were committed; cheap enough to call after every commit."""
        self._wake.set()

    def close(self, timeout: float = 5.0) -> None:
        """Stop the thread (a checkpoint in progress finishes) and close the connection."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        if self._conn is not None and not self._thread.is_alive():
            self._conn.close()
            self._conn = None

    @property
    def alive(self) -> bool:
        """Is the thread running."""
        return self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            if self._stop.is_set():
                return
            self._wake.clear()
            self._checkpoint()
            # Commits still coming: let frames gather before the next copy (each one syncs).
            self._stop.wait(self.every)

    def _checkpoint(self) -> None:
        assert self._conn is not None
        try:
            busy, log, copied = wal_checkpoint(self._conn, "PASSIVE")
            self.last = (busy, log, copied)
            self.checkpoints += 1
            if not busy and log > self.restart_frames:
                with self.lock:  # between two commits; readers still on the WAL make it busy
                    busy = wal_checkpoint(self._conn, "RESTART")[0]
                self.restarts += not busy
        except StoreBusyError as exc:  # busy or failing: the writer's autocheckpoint backs it up
            self.failures += 1
            if self.failures == 1 or self.failures % 100 == 0:
                _log.warning("wal_checkpoint_failed", error=exc.reason, failures=self.failures)
        except Exception as exc:  # never die of one bad moment
            self.failures += 1
            _log.exception("wal_checkpoint_crashed", error=repr(exc))
