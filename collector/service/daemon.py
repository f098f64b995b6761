"""The daemon: wires watcher → reader → bounded queue → writer, and owns signals and shutdown.

Start-up: take the instance lock (exit 3 if another daemon owns the database), open the store,
load the committed checkpoints, scan every root and queue existing transcripts newest first
(backfill), then keep tailing. Notifications only mark files dirty; a rescan every
``rescan_interval`` seconds is the truth, so a lost notification delays a line, never loses it.

Signals: SIGTERM/SIGINT stop reading, drain the queue, commit and exit 0 (within the 5 s most
service managers allow); SIGHUP re-reads the config and applies new roots and limits, keeping
the old config when the new one is invalid.

Shutdown order: stop the watcher (producers of dirt), stop the reader (producer of chunks),
close the writer (drains, commits, checkpoints the WAL), close the store, release the lock.
"""

from __future__ import annotations

import faulthandler
import gc
import os
import signal
import stat
import sys
import threading
import time
from collections.abc import Callable, Mapping
from types import FrameType
from typing import TYPE_CHECKING, Any

import orjson

from collector.atomic import write_atomic
from collector.counters import Counters
from collector.ingest.checkpoint import Checkpoint
from collector.ingest.commit.writer import WriterThread
from collector.ingest.discovery import FoundFile, Root, ScanRounds, found_file, scan_root
from collector.ingest.parked import IN_STORE, SavedFile, pack_state
from collector.ingest.parked_files import ParkedFiles
from collector.ingest.parse_child import ParseProcess, wanted
from collector.ingest.reader import BACKLOG_STEP_BYTES, ReaderOptions, ReaderThread
from collector.log import configure_logging, get_logger
from collector.parsers import ParserOptions
from collector.progress import BackfillProgress
from collector.service.instance import InstanceLock
from collector.service.notify import Notifier
from collector.sinks.setup import Sinks, start_sinks
from collector.wakeup import Wakeup
from config import Config, ConfigError, load_config
from config.paths import spool_dir, status_path
from store import EventStore
from store.checkpoints import StoredStates, saved_files

if TYPE_CHECKING:  # imported where started: ``run --once`` starts neither (~20 ms of imports)
    from collector.ingest.watch import Watcher
    from collector.tracker.session_tracker import SessionTracker

__all__ = ["Daemon", "run_daemon"]

_log = get_logger(component="daemon")
_STATUS_EVERY = 1.0
_TRACKER = "tracker"  # the watched folders that only wake the session tracker
_DRAIN_SECONDS = 3.5
_SINK_DRAIN_SECONDS = 60.0
# status.json is rewritten at least this often, so `status` can tell a stale one (disk full)
# from a quiet daemon: it says "stale" past a few of these (collector.service.status_report).
_STATUS_REFRESH = 5.0
# ... and at most this often while counters move: a `run --once` loop turns every few ms, and
# rewrote it 35 times in a 0.45 s ingest of 51 MiB (~10 ms of the main thread's CPU, taken from
# the writer's interpreter lock; bench/README.md, "The critical path of a full ingest").
_STATUS_GAP = 0.25


def run_daemon(
    config: Config, *, once: bool = False, parse_process: ParseProcess | None = None
) -> int:
    """Run until stopped (or, with ``once``, until everything present is ingested).
    ``parse_process``: a child already started for the reader (``collector.cli``)."""
    configure_logging(config.log.level, config.log.format)
    faulthandler.enable()  # a watchdog SIGABRT leaves every thread's stack in the journal
    daemon = Daemon(config, parse_process)
    daemon.install_signal_handlers()
    code = daemon.run(once=once)
    # The process ends now: its last garbage collection need not walk every object the run
    # left behind (exit 19 -> 7 ms after a `run --once` of 51 MiB, bench/bench_ccusage.py).
    gc.freeze()
    return code


def _roots(config: Config) -> list[Root]:
    return [Root(agent, str(src.root)) for agent, src in config.sources.items() if src.enabled]


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _reader_options(config: Config, once: bool) -> ReaderOptions:
    c = config.collector
    backlog_step = c.read_chunk_bytes if once else BACKLOG_STEP_BYTES  # no live file: long steps
    return ReaderOptions(
        max_line_bytes=c.max_line_bytes,
        read_chunk_bytes=c.read_chunk_bytes,
        backlog_step_bytes=backlog_step,
        parser=ParserOptions(args_cap=c.args_cap, raw_cap=c.raw_cap, preview_chars=c.preview_chars),
        redact=config.privacy.redact,
        parse_process=wanted(c.parse_process),
    )


class Daemon:
    """One collector instance over one database."""

    def __init__(self, config: Config, parse_process: ParseProcess | None = None) -> None:
        self.config = config
        self.counters = Counters()
        self._parse_process = parse_process  # the reader's once it starts
        # Set by signal handlers, read by the main loop: plain values and a self-pipe, never a
        # threading.Event, whose lock the interrupted main thread may hold (collector.wakeup).
        self._stopping = False
        self._hups = 0  # SIGHUPs received; the loop reloads while it has applied fewer
        self._hups_applied = 0
        self._rescan = threading.Event()
        self._wake = Wakeup()  # a signal, a new folder: the main loop has work now
        self._subtree_lock = threading.Lock()
        self._subtrees: dict[str, Root] = {}  # folders created since the last loop turn
        self._lock = InstanceLock(config.store.path)
        self.store: EventStore | None = None
        self.writer: WriterThread | None = None
        self.reader: ReaderThread | None = None
        self.watcher: Watcher | None = None
        self.tracker: SessionTracker | None = None
        self.sinks = Sinks()
        self._once = False
        self.notifier = Notifier()
        self._status_seen: dict[str, Any] | None = None
        self._status_at = 0.0
        self._started = time.monotonic()
        self._backlog_bytes = 0
        self._backlog_files = 0
        self._rate = _Rate()
        self._rounds = ScanRounds()  # which known files each rescan stats
        self._db_identity: tuple[int, int] | None = None
        self._status_failing = False

    # signals ---------------------------------------------------------------------------------
    def install_signal_handlers(self) -> None:
        """SIGTERM/SIGINT stop; SIGHUP reloads. Handlers only set flags and wake the loop."""
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_hup)

    def _on_stop(self, signum: int, _frame: FrameType | None) -> None:
        self._stopping = True
        self._wake.set()

    def _on_hup(self, signum: int, _frame: FrameType | None) -> None:
        self._hups += 1
        self._wake.set()

    # lifecycle -------------------------------------------------------------------------------
    def run(self, *, once: bool = False) -> int:
        """Start everything, loop, shut down in order; returns the exit code."""
        self._lock.acquire()
        self._once = once
        try:
            self._start()
            self._loop(once)
            return 0
        finally:
            self._shutdown()
            self._lock.release()
            self._wake.close()

    def _start(self) -> None:
        config = self.config
        self.store = EventStore(config.store.path, manual_checkpoint=True,
                                busy_timeout_ms=config.store.busy_timeout_ms)  # fmt: skip
        self._db_identity = _identity(config.store.path)
        saved, moved = _load_saved(self.store)
        self.sinks = start_sinks(config, self.store, self.counters)
        c = config.collector
        self.writer = WriterThread(
            self.store, self.counters, flush_interval_ms=c.flush_interval_ms,
            batch_rows=c.batch_rows, batch_bytes=c.batch_bytes, queue_bound=c.queue_bound,
            subscribers=self.sinks.subscribers, expect_live=not self._once,
        )  # fmt: skip
        options = _reader_options(config, self._once)
        self.reader = ReaderThread(self.writer, self.counters, options, saved, moved,
                                   stored=StoredStates(config.store.path),
                                   process=self._parse_process)  # fmt: skip
        if self._once:  # the loop ends when the reader runs dry: hear it at once
            self.reader.on_idle = self._wake.set
        self.writer.start()
        self.reader.start()
        if config.tracker.enabled and not self._once:  # --once records no process facts
            from collector.tracker.session_tracker import SessionTracker

            self.tracker = SessionTracker(config, self.writer)
            self.tracker.start()
        _log.info("daemon_started", pid=os.getpid(), database=str(config.store.path),
                  roots=[r.path for r in _roots(config)], files_known=len(saved))  # fmt: skip
        # Watching before the scan: a line appended after the reader's first read of a file
        # is then always notified. Started after it, an append in between waited for the next
        # rescan (bench/bench_latency.py, idle: 1 run in 12 with a line seen only after 60 s).
        self._start_watcher(self._once)
        self._backfill()

    def _start_watcher(self, once: bool) -> None:
        if once:
            return
        from collector.ingest.watch import Watcher

        assert self.reader is not None
        reader = self.reader
        self.watcher = Watcher(
            _roots(self.config) + self._tracker_roots(),
            on_dirty=self._on_dirty,
            on_root_appeared=self._on_root_appeared,
            force_polling=self.config.collector.force_polling,
        )
        self.watcher.start()
        for problem in self.watcher.problems():
            _log.warning("watch_degraded", problem=problem)
        del reader

    def _tracker_roots(self) -> list[Root]:
        """Folders whose changes the tracker wants at once: Claude Code's own per-process
        records (busy / waiting / idle) and the spool the hooks write."""
        if self.tracker is None:
            return []
        registry = self.config.sources["claude-code"].root.parent / "sessions"
        spool = spool_dir(self.config.store.path)
        return [Root(_TRACKER, str(registry)), Root(_TRACKER, str(spool))]

    def _on_dirty(self, path: str) -> None:
        """Runs on watchdog's threads: only cheap, thread-safe marking (a stat at most)."""
        tracker = self.tracker
        if tracker is not None and any(_under(path, r.path) for r in self._tracker_roots()):
            tracker.poke()
            return
        reader = self.reader
        if reader is None:
            return
        if reader.knows(path):
            reader.mark_dirty(path)
            self._rounds.changed(path, time.time())
            return
        root = self._root_of(path)
        if root is None:
            return
        if _is_real_dir(path):  # a symlinked folder is never walked into
            with self._subtree_lock:
                self._subtrees[path] = root  # walked by the main loop
            self._wake.set()
            return
        found = found_file(root.agent, root.path, path)
        if found is not None:  # a new transcript; sidecars, temp files and logs are ignored
            reader.add_found(found)
            if self.tracker is not None:  # its process is to be found while it lives
                self.tracker.poke()

    def _on_root_appeared(self, root: Root) -> None:
        if self.tracker is not None:  # records or transcripts written before the watch began
            self.tracker.poke()
        if root.agent == _TRACKER:
            return
        self._rescan.set()
        self._wake.set()

    def _pause(self, once: bool) -> float:
        """How long the main loop may sleep: short while files are being read (progress, the
        backfill's end), a second when all is quiet (status and watchdog need no more; each
        idle wake-up costs CPU, and idle must cost about nothing)."""
        if once:  # the reader wakes the loop when it runs dry; then the writer's queue drains
            return 0.005 if self.reader is not None and self.reader.idle() else 0.05
        busy = self.reader is not None and not self.reader.idle()
        pause = 0.25 if busy else _STATUS_EVERY
        if self.notifier.watchdog_interval is not None:  # pings go out at half the interval
            pause = min(pause, self.notifier.watchdog_interval / 4)
        return pause

    def _root_of(self, path: str) -> Root | None:
        for root in _roots(self.config):
            if path == root.path or path.startswith(root.path.rstrip("/") + "/"):
                return root
        return None

    def _scan_subtrees(self) -> None:
        with self._subtree_lock:
            pending, self._subtrees = self._subtrees, {}
        assert self.reader is not None
        known = self.reader.sources()
        for start, root in pending.items():
            for item in scan_root(root.agent, root.path, start=start, known=known):
                self.reader.add_found(item)

    def _backfill(self) -> None:
        """Queue every existing transcript, newest first."""
        found = self._scan()
        self._rounds.saw(found, time.time())
        found.sort(key=lambda f: f.mtime_ns, reverse=True)
        assert self.reader is not None
        for item in found:
            self.reader.add_found(item)
        self._backlog_bytes = sum(f.size for f in found)
        self._backlog_files = len(found)
        _log.info("backfill_started", files=len(found), bytes=self._backlog_bytes)

    def _scan(
        self, look: Callable[[str], bool] | None = None, unlooked: set[str] | None = None
    ) -> list[FoundFile]:
        """Every enabled root walked (see ``scan_root`` for ``look`` and ``unlooked``)."""
        known = self.reader.sources() if self.reader is not None else None
        found: list[FoundFile] = []
        for root in _roots(self.config):
            if os.path.isdir(root.path):
                found.extend(
                    scan_root(root.agent, root.path, known=known, look=look, unlooked=unlooked)
                )
        return found

    def _rescan_all(self, full: bool) -> None:
        """The periodic scan, the truth behind notifications (which are only hints);
        ``ScanRounds`` decides which known files it stats. Nothing of it is kept: 20,000
        ``FoundFile`` held until the next scan were 4 MB of idle RSS."""
        assert self.reader is not None
        unlooked: set[str] = set()
        now = time.time()
        found = self._scan(self._rounds.next_round(now, full), unlooked)
        self._rounds.saw(found, now)
        self.reader.add_scan(found, unlooked)

    def _loop(self, once: bool) -> None:
        assert self.reader is not None
        assert self.writer is not None
        self.notifier.ready(self._summary())
        started = time.monotonic()
        progress = BackfillProgress(self._backlog_bytes, self._backlog_files, self.counters)
        try:
            self._run_loop(once, progress, started)
            progress.tick(self.reader.idle() and self.writer.queue.empty())  # --once: finished
        finally:
            progress.close()

    def _run_loop(self, once: bool, progress: BackfillProgress, started: float) -> None:
        assert self.reader is not None
        assert self.writer is not None
        interval = self.config.collector.rescan_interval
        next_scan = time.monotonic() + interval
        if not once:
            self._write_status(started, force=True)  # watching now: say so at once
        while True:
            if once and self.reader.idle() and self.writer.queue.empty():
                break
            self._wake.wait(self._pause(once))
            if self._hups != self._hups_applied:
                self._hups_applied = self._hups
                self._apply_reload()
            if self._stopping:
                _log.info("daemon_stopping", reason="signal")
                break
            now = time.monotonic()
            if self._rescan.is_set() or now >= next_scan:
                full = self._rescan.is_set()
                self._rescan.clear()
                next_scan = now + interval
                self._rescan_all(full)
            if self._subtrees:
                self._scan_subtrees()
            progress.tick(self.reader.idle() and self.writer.queue.empty())
            self._write_status(started)
            self.notifier.status(self._summary())
            self.notifier.watchdog(self.healthy())
            self._check_database()
            if self.writer.fatal:
                _log.error("daemon_failing", reason=self.writer.fatal)
                raise SystemExit(1)
            if not self.reader.alive or not self.writer.alive:
                _log.error("worker_thread_died", reader=self.reader.alive, writer=self.writer.alive)
                raise SystemExit(1)

    def _check_database(self) -> None:
        """Exit (1) when the database path no longer names the file the writer commits into:
        ``rm events.db*`` leaves the daemon writing into an unlinked inode that nobody can
        read. A restart by the service manager starts a fresh database at the path."""
        now = _identity(self.config.store.path)
        if now == self._db_identity:
            return
        path = str(self.config.store.path)
        reason = "deleted" if now is None else "replaced by another file"
        _log.error("database_deleted", path=path, reason=reason)
        sys.stderr.write(f"agent-viz-monitor: the database {path} was {reason} while running; "
                         "stopping (a restart creates a new one)\n")  # fmt: skip
        raise SystemExit(1)

    def healthy(self, now: float | None = None) -> bool:
        """Every worker made progress recently (a wedged writer or reader stops the pings)."""
        if self.reader is None or self.writer is None:
            return False
        if not (self.reader.alive and self.writer.alive):
            return False
        now = time.monotonic() if now is None else now
        stall = max(2.0, self.notifier.watchdog_interval or 30.0)
        return now - self.writer.last_progress < stall and now - self.reader.last_progress < stall

    def _summary(self) -> str:
        """The one-line STATUS= text: files, backlog, events/s."""
        events = self.counters.get("events_inserted")
        rate = self._rate.update(events)
        backlog = max(0, self._backlog_bytes - self.counters.get("bytes_committed"))
        files = self.reader.tracked_count() if self.reader else 0
        text = f"{files} files, {events} events, {rate:.0f} events/s"
        failing = self.writer.failing if self.writer else None
        if failing:  # the first thing `systemctl status` shows: commits are not landing
            text = f"COMMITS FAILING: {failing}; {text}"
        return f"{text}, backfill {backlog / 1e6:.1f} MB left" if backlog else text

    def _apply_reload(self) -> None:
        self.notifier.reloading()
        try:
            self._reload_config()
        finally:
            self.notifier.ready(self._summary())

    def _reload_config(self) -> None:
        path = self.config.source_file
        try:
            new = load_config(None if path is None or "(absent" in path else path, os.environ)
        except ConfigError as exc:
            _log.error("config_reload_failed", error=str(exc), kept="previous config")
            return
        if new.store.path != self.config.store.path:
            _log.warning("config_reload_store_path_ignored", path=str(new.store.path))
        if new.sinks != self.config.sinks:
            _log.warning("config_reload_sinks_ignored", note="sink settings apply at restart")
        self.config = new
        configure_logging(new.log.level, new.log.format)
        assert self.reader is not None
        self.reader.set_options(_reader_options(new, self._once))
        if self.watcher is not None:
            self.watcher.close()
            self.watcher = None
            self._start_watcher(False)
        self._rescan.set()
        _log.info("config_reloaded", roots=[r.path for r in _roots(new)])

    def _write_status(self, started: float, force: bool = False) -> None:
        """status.json beside the database, when counters moved (at most every
        ``_STATUS_GAP``) or every ``_STATUS_REFRESH`` (idle cost); ``force``: now."""
        now = time.monotonic()
        age = now - self._status_at
        if not force and age < _STATUS_GAP:
            return
        counters = self.counters.snapshot()["counters"]
        sinks = self.sinks.snapshot().values()
        counters["sink_states"] = [(s["state"], s["lag_rows"]) for s in sinks]
        counters["tracker_steps"] = self.tracker.steps if self.tracker else 0
        if not force and counters == self._status_seen and age < _STATUS_REFRESH:
            return
        self._status_seen, self._status_at = counters, now
        self._started = started
        snapshot = self.counters.snapshot()
        snapshot.update({
            "pid": os.getpid(), "uptime_s": round(time.monotonic() - started, 1),
            "refresh_s": _STATUS_REFRESH, "written_at": time.time(),
            "commit_failing": self.writer.failing if self.writer else None,
            "files_known": self.reader.tracked_count() if self.reader else 0,
            "watch_modes": self.watcher.modes() if self.watcher else {},
            "watch_problems": self.watcher.problems() if self.watcher else [],
            "sinks": self.sinks.snapshot(),
            "file_problems": self.reader.problem_files() if self.reader else {},
            "tracker_steps": counters["tracker_steps"],
        })  # fmt: skip
        path = status_path(self.config.store.path)
        try:
            write_atomic(path, orjson.dumps(snapshot, default=str))
        except OSError as exc:
            # `status` then reports its information stale (collector.service.status_report); say why
            # here, once per burst of failures.
            if not self._status_failing:
                _log.error("status_write_failed", path=str(path), error=str(exc))
            self._status_failing = True
            return
        if self._status_failing:
            _log.warning("status_write_recovered", path=str(path))
        self._status_failing = False

    def _shutdown(self) -> None:
        self.notifier.stopping()
        deadline = time.monotonic() + _DRAIN_SECONDS
        if self.watcher is not None:
            self.watcher.close()
        if self.tracker is not None:
            self.tracker.close()
        if self.reader is not None:
            self.reader.close(timeout=1.0)
        drained = True
        if self.writer is not None:
            drained = self.writer.close(timeout=max(0.5, deadline - time.monotonic()))
        if self._once and self.writer is not None and not self.writer.alive:
            self.sinks.drain(_SINK_DRAIN_SECONDS)  # --once ships what it ingested, if it can
        self.sinks.close(timeout=1.0)  # a batch cut short is shipped again next time
        if self.reader is not None and self.writer is not None:
            self._write_status(self._started, force=True)  # the final counters
        if self.store is not None:
            self.store.close()
        _log.info("daemon_stopped", drained=drained, **self.counters.snapshot()["counters"])


class _Rate:
    """Events per second over the last few seconds."""

    def __init__(self) -> None:
        self.at = time.monotonic()
        self.count = 0
        self.rate = 0.0

    def update(self, count: int) -> float:
        now = time.monotonic()
        if now - self.at >= 2.0:
            self.rate = (count - self.count) / (now - self.at)
            self.at, self.count = now, count
        return self.rate


def _load_saved(
    store: EventStore,
) -> tuple[ParkedFiles, dict[tuple[int, int], SavedFile]]:
    """Each live file's resumable state by path, and the most recently retired files' by
    identity (one of them may have been renamed while the daemon was down)."""
    saved = ParkedFiles()
    moved: dict[tuple[int, int], SavedFile] = {}
    for row in saved_files(store.connection, _MOVED_AT_START):
        checkpoint = _checkpoint_of(row)
        # A live file's state stays in its row until the file is opened (see SavedFile); a
        # retired one may resume under another path: its state is kept, packed.
        live_state = IN_STORE if row["has_state"] else None
        kept = pack_state(row["parser_state"] or None) if row["gone"] else live_state
        item = SavedFile(checkpoint, kept, session_key=row["session_key"])
        if not row["gone"]:
            saved[row["path"]] = item
        elif checkpoint is not None:
            moved[(checkpoint.dev, checkpoint.inode)] = item
    return saved, moved


_MOVED_AT_START = 1024  # retired files a path found at start-up may be the renamed twin of


def _checkpoint_of(row: Mapping[str, Any]) -> Checkpoint | None:
    if row["head_hash"] is None:
        return None
    try:
        return Checkpoint.from_dict({
            "dev": row["dev"], "inode": row["inode"], "offset": row["offset"],
            "head_hash": row["head_hash"], "head_len": row["head_len"],
            "marker_hash": row["marker_hash"],
        })  # fmt: skip
    except ValueError:
        return None


def _is_real_dir(path: str) -> bool:
    try:
        return stat.S_ISDIR(os.stat(path, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _identity(path: str | os.PathLike[str]) -> tuple[int, int] | None:
    """(dev, inode) of the file at ``path`` (a stat of the path, never an open: see
    store.connection on POSIX locks), or None when it is gone."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)
