"""The writer's bounded queue, in two lanes: live tails first, backlog second.

Without lanes a line appended during a backfill waits behind every queued backlog chunk (up to
the queue bound) and measured p99 1.8 s. The reader puts a file's chunks in the *live* lane once
it has caught up with that file (a read reached end of file and none of its backlog chunks is
still queued), so each file's chunks stay in one FIFO lane and commit in order.

The bulk lane is bounded in chunks and in bytes and ``put`` blocks when it is full: that is the
back-pressure that keeps memory flat under any backlog. The live lane has a bound of its own,
generous for live files' small appends (32 hot files at most) but not for a backfill of many small
transcripts, each read to its end in one step and so queued live: with 4,096 such chunks in flight
the reader ran far ahead of the writer, and the parked files' state it kept meanwhile was spread
over memory the ingest then could not give back (an idle daemon after ingesting 20,000 files: 47 to
72 MB run to run; with 256, 45-47 MB in five runs, bench/bench_idle.py).
"""

from __future__ import annotations

import collections
import queue
import threading
import time
from typing import Any

__all__ = ["CLOSED", "DirtyLanes", "LaneQueue"]

CLOSED = object()  # returned by get() once closed and drained


class LaneQueue:
    """Two FIFO lanes behind one lock; ``get`` serves the live lane first."""

    def __init__(self, bulk_chunks: int, bulk_bytes: int, live_chunks: int = 256) -> None:
        self._live: collections.deque[Any] = collections.deque()
        self._bulk: collections.deque[Any] = collections.deque()
        self._bulk_bytes = 0
        self._limits = (bulk_chunks, bulk_bytes, live_chunks)
        self._cond = threading.Condition()
        self._closed = False

    def put(self, item: Any, *, live: bool, nbytes: int = 0, timeout: float | None = None) -> None:
        """Append to a lane; blocks while that lane is full, ``queue.Full`` after ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._full(live):
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise queue.Full
                self._cond.wait(remaining)
            if live:
                self._live.append(item)
            else:
                self._bulk.append((item, nbytes))
                self._bulk_bytes += nbytes
            self._cond.notify_all()

    def _full(self, live: bool) -> bool:
        bulk_chunks, bulk_bytes, live_chunks = self._limits
        if live:
            return len(self._live) >= live_chunks
        if len(self._bulk) >= bulk_chunks:
            return True
        # One chunk larger than the byte bound must still fit into an empty lane.
        return bool(self._bulk) and self._bulk_bytes >= bulk_bytes

    def get(self, timeout: float | None = None, *, live_only: bool = False) -> Any:
        """The next item (live first); None on timeout; ``CLOSED`` once closed and drained."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                if self._live:
                    item = self._live.popleft()
                    self._cond.notify_all()
                    return item
                if self._bulk and not live_only:
                    item, nbytes = self._bulk.popleft()
                    self._bulk_bytes -= nbytes
                    self._cond.notify_all()
                    return item
                if self._closed and not self._bulk:
                    return CLOSED
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._cond.wait(remaining)

    def close(self) -> None:
        """No more puts are expected; ``get`` returns ``CLOSED`` after the last item."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def live_waiting(self) -> bool:
        """Is a live chunk queued (a bulk batch should stop growing)."""
        return bool(self._live)

    def empty(self) -> bool:
        """Nothing queued in either lane."""
        with self._cond:
            return not self._live and not self._bulk


class DirtyLanes:
    """Files waiting to be read, in two insertion-ordered sets: caught-up (live) files are
    served before backlog files, so an append waits for at most one backlog step. Not
    thread-safe: the reader guards it with its condition."""

    __slots__ = ("_backlog", "_live")

    def __init__(self) -> None:
        self._backlog: dict[str, None] = {}
        self._live: dict[str, None] = {}

    def __bool__(self) -> bool:
        return bool(self._live or self._backlog)

    def has_live(self) -> bool:
        """Is a caught-up file waiting."""
        return bool(self._live)

    def add(self, path: str, live: bool) -> bool:
        """Mark ``path``; True when it was not already waiting in that lane."""
        lane = self._live if live else self._backlog
        if path in lane:
            return False
        lane[path] = None
        return True

    def take(self) -> str:
        """The next path to read, removed (so an append during the read marks it again)."""
        lane = self._live or self._backlog
        path = next(iter(lane))
        del lane[path]
        if not lane:  # a dict keeps its largest size: 20,000 files backfilled cost 0.4 MB idle
            if lane is self._live:
                self._live = {}
            else:
                self._backlog = {}
        return path
