"""The writer thread: the only connection that writes, fed by a bounded queue.

Each item is a ``Chunk``: the records parsed from one read of one file plus that file's new
checkpoint. The thread gathers chunks into a batch until ``flush_interval_ms`` has passed since
the first, or the batch reaches its row or byte bound, then commits the records AND the files'
checkpoints in one ``BEGIN IMMEDIATE`` transaction. A checkpoint therefore never runs ahead of
its events: after a crash the file is read again from the last committed offset, and the
natural keys make any overlap harmless.

A failing commit (locked, disk full, read-only) is rolled back, retried with exponential
back-off, logged once per burst and counted; the batch is kept, so no offset advances past
events that are not stored. Readers block on the full queue meanwhile: memory stays bounded.

WAL checkpoints run here when the queue is idle (or the WAL passes a bound), not inside commits.

This module only batches and commits. The SQL is the store's (``store.checkpoints``), the retry
policy ``retry``, setting rejected records aside ``isolation`` and giving memory back after a
busy spell ``memory`` (the modules beside this one).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import TypeVar

from collector.counters import Counters
from collector.ingest.commit.checkpointer import Checkpointer
from collector.ingest.commit.isolation import isolate
from collector.ingest.commit.memory import MemoryRelease
from collector.ingest.commit.retry import retry_busy
from collector.ingest.lanes import CLOSED, LaneQueue
from collector.log import get_logger
from config.errors import StoreBusyError
from store import EventStore
from store.batch import BatchResult, SessionKeys
from store.checkpoints import accepts, commit_batch, set_autocheckpoint, shrink_memory
from store.connection import wal_checkpoint
from store.feed import CommitSubscriber, CommitSummary
from store.records import Chunk, FileUpdate, ParseProblem, Record
from store.timestamps import format_timestamp

__all__ = ["WriterThread"]

_log = get_logger(component="writer")
_T = TypeVar("_T")
_A = TypeVar("_A")
# SQLite's own checkpoint inside a commit, at this many WAL pages (128 MiB): only a backstop
# for the checkpointer thread (collector.ingest.commit.checkpointer), which starts the WAL over
# at RESTART_FRAMES, below this.
AUTOCHECKPOINT_PAGES = 32768
# A backlog batch (no live line waiting) may hold this many times the configured rows and bytes,
# each commit's fixed cost spread over more rows (bench/bench_backfill.py, 51 MiB corpus: 155
# commits -> 76, and 8.2k -> 11.0k lines/s when tried alone) ...
BACKLOG_SCALE = 4
# ... but only this long after the last live line: a live line waits for the backlog commit in
# progress, and ungated 4x batches took the live p50 during a backfill from ~17 to ~30 ms.
LIVE_QUIET_S = 1.0
# With no live line to wait (``run --once``) a batch gathers up to this many times the bounds,
# for up to ONCE_GATHER_S after its first chunk (the reader parses the next chunks meanwhile):
# ~4,000 rows per transaction instead of ~500 (200 MiB corpus: 176 -> 21 commits; run --once CPU
# -3 to -6 % against 20 times, +4.5 MB peak RSS; bench/README.md) ...
ONCE_SCALE = 40
ONCE_GATHER_S = 0.25
# ... and the checkpointer copies the WAL back at most every ONCE_CHECKPOINT_S, on its own
# thread while the writer commits on, so the copy left for the end (which the run waits for)
# is only the last commits'. Every 2 s (before the parse process, to copy a page rewritten by
# several commits once: CPU -5 % on 200 MiB) left it all to the end: 51 MiB, 35 ms of a
# 0.55 s run. Every 0.1 s: run --once 1.79 -> 1.68 s on 200 MiB, 0.565 -> 0.54 s on 51 MiB,
# CPU +2 % (bench/README.md). The WAL stays bounded by RESTART_FRAMES and the writer's
# AUTOCHECKPOINT_PAGES backstop.
ONCE_CHECKPOINT_S = 0.1
# The interpreter's switch interval while the writer runs. The sqlite3 module lets go of the
# GIL around every row's step; taking it back while the reader parses waits for the reader to
# yield, by default after 5 ms, so an executemany could wait for the GIL longer than it spent
# in SQLite. At 0.5 ms the writer's executemany time in a backfill fell from 1.0 s to 0.55 s
# (cProfile, bench_backfill.py --profile cprofile), the backfill ran 10-25 % faster in quiet
# A/B runs, and the live p99 during a backfill fell (bench/bench_latency.py).
SWITCH_INTERVAL_S = 0.0005


class WriterThread:
    """Owns the store; ``start()``, ``put()`` chunks, ``close()`` drains and commits."""

    def __init__(
        self,
        store: EventStore,
        counters: Counters,
        *,
        flush_interval_ms: int = 2,
        batch_rows: int = 100,
        batch_bytes: int = 512 << 10,
        queue_bound: int = 16,
        subscribers: Sequence[CommitSubscriber] = (),
        expect_live: bool = True,
    ) -> None:
        self.store = store
        # False when no agent's line can arrive (``run --once``): a file's tail chunk is then
        # no one's live line, and backlog batches always take BACKLOG_SCALE times the bounds.
        self.expect_live = expect_live
        self.subscribers = tuple(subscribers)  # told after each commit (store.feed)
        # WAL checkpoints run on the checkpointer's own thread and connection, never in a commit;
        # it takes the commit lock, held around each commit, to start the WAL over between two.
        every = 0.25 if expect_live else ONCE_CHECKPOINT_S
        self.checkpointer = Checkpointer(store.path, every=every)
        self._commit_lock = self.checkpointer.lock
        set_autocheckpoint(store, AUTOCHECKPOINT_PAGES)
        self.counters = counters
        self.flush_interval = flush_interval_ms / 1000
        self.batch_rows = batch_rows
        self.batch_bytes = batch_bytes
        self.queue = LaneQueue(bulk_chunks=queue_bound, bulk_bytes=batch_bytes * 2)
        self._keys = SessionKeys()
        self._thread = threading.Thread(target=self._run, name="writer", daemon=True)
        self._closed = False
        self._abort = threading.Event()
        self.fatal: str | None = None  # set when a batch can be neither committed nor isolated
        self.failing: str | None = None  # the last commit error while commits keep failing
        self.last_progress = time.monotonic()
        self._last_live = float("-inf")  # when the last live chunk was taken
        self._commits = 0  # since the checkpointer was last nudged by an idle spell
        self._memory = MemoryRelease(partial(shrink_memory, store), forget=self._keys.forget)

    def start(self) -> None:
        """Start the checkpointer and the thread (and shorten the interpreter's switch
        interval, see ``SWITCH_INTERVAL_S``: process-wide, and this thread is why)."""
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        # Start-up is a busy spell too: the daemon has just read every file's checkpoint through
        # this connection (a restart with 20,000 files left 80 MB of page cache and freed rows).
        self._memory.busy_until(time.monotonic())
        self.checkpointer.start()
        self._thread.start()

    def put(self, chunk: Chunk, timeout: float | None = None) -> None:
        """Queue a chunk; blocks while its lane is full (back-pressure on the readers)."""
        self.queue.put(chunk, live=chunk.live, nbytes=chunk.nbytes, timeout=timeout)

    def close(self, timeout: float = 4.0) -> bool:
        """Commit what is queued and stop; True when everything was committed in time."""
        if self._closed:
            return not self._thread.is_alive()
        self._closed = True
        self.queue.close()
        if self._thread.is_alive():
            self._thread.join(timeout)
            if self._thread.is_alive():
                self._abort.set()  # give up retrying: uncommitted offsets are simply re-read
                self._thread.join(1.0)
        self.checkpointer.close(timeout=1.0)  # already closed by the thread's final step
        return not self._thread.is_alive()

    @property
    def alive(self) -> bool:
        """Is the thread running."""
        return self._thread.is_alive()

    # the thread ------------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            first = self.queue.get(timeout=0.5)
            if first is None:
                self._idle()
                continue
            if first is CLOSED:
                break
            batch = self._gather(first)
            try:
                self._commit_with_retry(batch)
            except Exception:
                return  # fatal (see _commit_isolating) or aborted while stopping
        self._idle(final=True)

    def _gather(self, first: Chunk) -> list[Chunk]:
        """More chunks for the batch until the flush interval or a bound. A live batch takes
        only live chunks; a backlog batch stops growing as soon as a live chunk waits, so a
        live line waits for at most one (bounded) backlog commit. While no live line came for
        ``LIVE_QUIET_S``, a backlog batch may grow to ``BACKLOG_SCALE`` times the bounds (each
        commit's fixed cost spread over more rows); with agents at work it stays small, since
        the next live line would wait for all of it."""
        if not self.expect_live:  # run --once: no live line can wait, see ONCE_SCALE
            return self._fill(first, ONCE_SCALE, ONCE_GATHER_S, live_only=False, yields=False)
        if first.live:
            self._last_live = time.monotonic()
        quiet = time.monotonic() - self._last_live > LIVE_QUIET_S
        scale = BACKLOG_SCALE if quiet and not first.live else 1
        return self._fill(first, scale, self.flush_interval, live_only=first.live,
                          yields=not first.live)  # fmt: skip

    def _fill(
        self, first: Chunk, scale: int, wait: float, *, live_only: bool, yields: bool
    ) -> list[Chunk]:
        """``first`` and the chunks queued within ``wait`` seconds, up to ``scale`` times the
        bounds; ``live_only`` takes only live chunks, ``yields`` stops when one waits."""
        batch = [first]
        rows, nbytes = len(first.records), first.nbytes
        deadline = time.monotonic() + wait
        while rows < self.batch_rows * scale and nbytes < self.batch_bytes * scale:
            if yields and self.queue.live_waiting():
                break
            item = self.queue.get(max(0.0, deadline - time.monotonic()), live_only=live_only)
            if item is None or item is CLOSED:
                break
            batch.append(item)
            rows += len(item.records)
            nbytes += item.nbytes
        return batch

    def _commit_with_retry(self, batch: list[Chunk]) -> None:
        """Commit ``batch``; operational failures (locked, busy, disk full, read-only, I/O) are
        retried with back-off and never advance an offset. Any other failure means a record the
        store rejects: the batch is committed record by record and the rejects are recorded."""
        failures = 0

        def busy(exc: StoreBusyError) -> None:
            nonlocal failures
            failures += 1
            self.counters.add("commit_failures")
            self.failing = f"{exc.reason} (attempt {failures})"
            if failures == 1 or failures % 50 == 0:  # once per burst, then rarely
                _log.error("commit_failed", error=exc.reason, attempts=failures,
                           chunks=len(batch))  # fmt: skip

        try:
            retry_busy(partial(self._commit, batch), self._abort, busy)
        except StoreBusyError:
            return  # stopping: the uncommitted offsets are simply read again
        except Exception as exc:  # a bad record must not kill the thread or stall a file
            self.counters.add("batch_rejected")
            _log.error("batch_rejected", error=repr(exc), chunks=len(batch))
            self._commit_isolating(batch)
        if failures:
            self.failing = None
            _log.warning("commit_recovered", attempts=failures)

    def _commit_isolating(self, batch: list[Chunk]) -> None:
        """Commit chunk by chunk, each without the records the store rejects (see
        collector.ingest.commit.isolation). If even that fails, the writer stops (``fatal``): the
        daemon exits and a restart resumes from the committed offsets — never a gap."""
        for chunk in batch:
            cleaned = isolate(chunk, partial(self._retrying, self._accepts), self.counters)
            try:
                self._retrying(self._commit, [cleaned])
            except Exception as exc:
                where = chunk.file.path if chunk.file else "a chunk"
                self.fatal = f"cannot commit {where}: {exc!r}"
                _log.error("writer_failed", error=self.fatal)
                raise

    def _retrying(self, attempt: Callable[[_A], _T], arg: _A) -> _T:
        """``attempt(arg)`` until it does not fail operationally (locked, busy, I/O)."""
        return retry_busy(partial(attempt, arg), self._abort, self._count_failure)

    def _count_failure(self, _exc: StoreBusyError) -> None:
        self.counters.add("commit_failures")

    def _accepts(self, record: Record) -> bool:
        """Can ``record`` be stored (tried in a transaction that is rolled back)."""
        return accepts(self.store, record, format_timestamp(datetime.now(UTC)), self._keys)

    def _commit(self, batch: list[Chunk]) -> None:
        started = time.perf_counter()
        now = format_timestamp(datetime.now(UTC))
        records = [record for chunk in batch for record in chunk.records]
        with self._commit_lock:
            result = commit_batch(self.store, records, _latest_files(batch), now, self._keys)
        elapsed = (time.perf_counter() - started) * 1000
        self.last_progress = time.monotonic()
        self._commits += 1
        self.counters.record_commit(elapsed, len(records), result.events_inserted,
                                    sum(c.nbytes for c in batch))  # fmt: skip
        for chunk in batch:
            if chunk.on_commit is not None:
                chunk.on_commit()
        if self.subscribers:
            self._tell_subscribers(result, records)
        self.checkpointer.nudge()

    def _tell_subscribers(self, result: BatchResult, records: list[Record]) -> None:
        """The sink seam (only with a subscriber, so a store without one pays nothing): a
        failing subscriber is counted and logged, never fatal here."""
        keys = {r.session_id for r in records if not isinstance(r, ParseProblem)}
        ids = {i for i in map(self._keys.known, keys) if i is not None} | result.session_ids
        summary = CommitSummary(result.first_event_id, result.last_event_id,
                                frozenset(ids), result.results_applied)  # fmt: skip
        for subscriber in self.subscribers:
            try:
                subscriber.on_commit(summary)
            except Exception as exc:
                self.counters.add("subscriber_errors")
                _log.error("subscriber_failed", subscriber=type(subscriber).__name__,
                           error=repr(exc))  # fmt: skip

    def _idle(self, final: bool = False) -> None:
        """The queue has been empty for a while: checkpoint the WAL, and after a few quiet
        seconds give memory back (SQLite's page cache, then the C heap) so an idle daemon
        stays small whatever the backfill before it used."""
        now = time.monotonic()
        self.last_progress = now
        if final:  # the last checkpoint on this connection, once the checkpointer has stopped
            self.checkpointer.close(timeout=1.0)
            self._checkpoint()
        elif self._commits:
            self.checkpointer.nudge()
            self._commits = 0
            self._memory.busy_until(now)
        else:
            self._memory.idle(now)

    def _checkpoint(self) -> None:
        try:
            wal_checkpoint(self.store.connection, "PASSIVE")
        except StoreBusyError as exc:
            _log.warning("wal_checkpoint_failed", error=exc.reason)


def _latest_files(batch: list[Chunk]) -> list[FileUpdate]:
    """One row per file: the last checkpoint wins, line and problem counts add up."""
    merged: dict[str, FileUpdate] = {}
    for chunk in batch:
        f = chunk.file
        if f is None:
            continue
        before = merged.get(f.path)
        if before is not None:
            f = FileUpdate(
                path=f.path, agent=f.agent, session_key=f.session_key or before.session_key,
                checkpoint=f.checkpoint, parser_state=f.parser_state, size=f.size,
                lines=before.lines + f.lines, problems=before.problems + f.problems,
                oversized=before.oversized + f.oversized, reset=before.reset or f.reset,
                deleted=f.deleted,
            )  # fmt: skip
        merged[f.path] = f
    return list(merged.values())
