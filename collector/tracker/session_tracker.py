"""The session tracker: keeps ``sessions.status``, ``pid``, ``pid_started_at``, ``ended_at`` and
``tmux_target`` true, from processes rather than from transcripts alone.

One thread. Each tick (about a second; ``scan_interval / 2`` when that is shorter; 50 ms for a
moment after ``poke()`` — the daemon's observer saw Claude Code's own record, the spool or a new
transcript change — and while hooks wait for their session's first rows) it:

1. collects exits — a pidfd per attached process wakes the thread the moment one dies
   (``collector.tracker.liveness``);
2. reads the spool (hooks, registrations, stop notices: ``collector.tracker.finders.SpoolIntake``);
3. reads which sessions have new events (rowid cursor, ``store.reads.activity``);
4. every ``scan_interval``, and at once for a new session: the agents' own records, the process
   scan, tmux panes (``collector.tracker.finders.ProcessScan``); the records alone after a poke;
5. decides the status of every session that has a process, an exit to judge, a non-final
   stored status or recent activity (``collector.tracker.session_status.decide``), and queues a
   ``SessionStatus`` for each change, and a ``ToolWait`` for each permission wait the agent's
   record timed, on the writer (``collector.tracker.outbox``; the daemon's single write connection).

After a SessionEnd hook the process stays watched for ``_END_GRACE`` seconds, so ``ended_at``
is the real exit rather than the hook's moment. An exit is judged once its transcript is fully
ingested (committed offset = file size) or after ``_EXIT_GRACE`` seconds, so the agent's last
lines — the finished turn that makes it ``completed`` rather than ``crashed`` — are seen first.

Cost: the tracker's work follows live agents and new events, not the size of the history; the
process scan (a ``comm`` read per process, argv only for likely agents, cached per identity) runs
once per ``scan_interval``. Spool records are deleted after the commit of what they caused.

Lifecycle: ``start()``; ``close()`` stops and joins it (idempotent). A failing step is logged
(rate-limited) and counted; the thread goes on.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from collector.log import get_logger
from collector.tracker.book import SessionBook
from collector.tracker.finders import ProcessScan, SpoolIntake
from collector.tracker.identities import IdentityFile
from collector.tracker.liveness import ExitWatcher
from collector.tracker.model import Tracked, facts_for
from collector.tracker.outbox import Outbox
from collector.tracker.process import ProcessIdentity, is_alive, stored_identity_alive
from collector.tracker.session_status import ACTIVE, TERMINAL, Verdict, decide, transcript_state
from collector.tracker.tmux import PaneMap
from config import Config, MonitorError
from config.paths import spool_dir
from store.reads.activity import ActivityReader
from store.records import ChunkSink, SessionStatus, ToolWait
from store.timestamps import format_timestamp

__all__ = ["SessionTracker"]

_log = get_logger(component="tracker")
_HORIZON = 6 * 3600.0  # sessions active this recently are candidates for a process
_EXIT_GRACE = 5.0
_END_GRACE = 3.0  # after a SessionEnd hook, how long the exit is awaited to date ended_at
_FAST_TICK = 0.05  # while hooks wait for their session's first rows (its pid is known already)
_HURRY = 2.0  # seconds of fast ticks after a poke: a new session's rows are moments away
_REFRESH_BUDGET = 0.1  # seconds of new-event reading per tick (a backfill goes on next tick)


def _iso(moment: float) -> str:
    return format_timestamp(datetime.fromtimestamp(moment, tz=UTC))


class SessionTracker:
    """Ties sessions to processes and records their status; see the module docstring."""

    def __init__(
        self, config: Config, sink: ChunkSink, clock: Callable[[], float] = time.time
    ) -> None:
        cfg = config.tracker
        self._idle_after, self._waiting_after = cfg.idle_after, cfg.waiting_after
        self._scan_every = cfg.scan_interval
        self._tick = min(1.0, max(0.05, cfg.scan_interval / 2))
        # a registered process gone this long without a session is recorded on its own; the
        # scans in between may still find the transcript it wrote before dying
        self._registered_grace = max(2.0, 3 * cfg.scan_interval)
        self._database = config.store.path
        claude = config.sources["claude-code"].root
        self._claude_root, self._registry = str(claude), claude.parent / "sessions"
        self._panes = PaneMap(os.environ) if cfg.tmux else None
        self._out, self._clock = Outbox(sink), clock
        self._exits = ExitWatcher()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tracker", daemon=True)
        self._closed = False
        self._book: SessionBook | None = None
        self._intake: SpoolIntake | None = None
        self._scan: ProcessScan | None = None
        self._cursor = 0
        self._next_scan = 0.0
        self._poked = threading.Event()
        self._hurry_until = 0.0
        self._failures = 0
        self._identities = IdentityFile(config.store.path)
        self.last_progress = time.monotonic()
        self.steps = 0  # steps completed: `status` shows it, tests wait on it instead of sleeping

    # lifecycle -------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def close(self, timeout: float = 2.0) -> bool:
        """Stop and join the thread; True when it ended in time. Idempotent."""
        if not self._closed:
            self._closed = True
            self._stop.set()
            self._exits.wake()
            if self._thread.is_alive():
                self._thread.join(timeout)
            if not self._thread.is_alive():
                self._exits.close()
        return not self._thread.is_alive()

    def poke(self) -> None:
        """An agent's own record, the spool or a new transcript appeared or changed (the
        observer saw it): look now, and tick fast for a moment, rather than at the next scan
        (a short headless run may be over within a second). Any thread may call it."""
        self._hurry_until = time.monotonic() + _HURRY
        self._poked.set()
        self._exits.wake()

    @property
    def alive(self) -> bool:
        """Is the thread running."""
        return self._thread.is_alive()

    # the thread ------------------------------------------------------------------------------
    def _run(self) -> None:
        reader: ActivityReader | None = None
        while not self._stop.is_set():
            fast = time.monotonic() < self._hurry_until
            fast = fast or (self._intake is not None and self._intake.holding)
            exited = self._exits.wait(_FAST_TICK if fast else self._tick)
            if self._stop.is_set():
                break
            try:
                if reader is None:
                    reader = self._open()
                self._step(exited, self._clock())
                self.steps += 1
            except MonitorError as exc:  # the database is not there (yet)
                self._failures += 1
                if self._failures == 1 or self._failures % 100 == 0:
                    _log.warning("tracker_database_unavailable", error=str(exc))
            except Exception as exc:  # one bad step must not end tracking
                self._failures += 1
                if self._failures == 1 or self._failures % 100 == 0:
                    _log.exception("tracker_step_failed", error=repr(exc), count=self._failures)
            self.last_progress = time.monotonic()
        if reader is not None:
            reader.close()

    def _open(self) -> ActivityReader:
        reader = ActivityReader(self._database)
        book = SessionBook(reader, self._exits)
        self._book = book
        self._intake = SpoolIntake(book, spool_dir(self._database), self._claude_root,
                                   self._out.finished.append)  # fmt: skip
        self._scan = ProcessScan(book, self._registry, self._panes)
        self._load(reader, self._clock())
        return reader

    def _load(self, reader: ActivityReader, now: float) -> None:
        """Start-up: the sessions the last run left active, and the recently active ones."""
        assert self._book is not None
        self._cursor = reader.max_event_id()
        for row in reader.recent(_iso(now - _HORIZON)) + reader.active():
            self._book.admit(row)
        exact = self._identities.load()
        for t in self._book:
            if t.stored_status not in ACTIVE or t.row.pid is None:
                continue
            known = exact.get(t.row.key)
            if known is not None:  # pid, start tick and boot id: no tolerance needed
                identity = known if is_alive(known) else None
            else:
                identity = stored_identity_alive(t.row.pid, t.row.pid_started_at)
            if identity is not None:
                self._book.attach(t, identity, "stored")
            else:  # gone while no tracker ran, or the pid now belongs to another process
                t.ever_process, t.exited_at = True, now
                _log.info("agent_gone", session=t.row.key, pid=t.row.pid)
        _log.info("tracker_started", sessions=len(self._book.sessions),
                  attached=len(self._book.live()))  # fmt: skip

    def _step(self, exited: list[int], now: float) -> None:
        book, intake, scan = self._book, self._intake, self._scan
        assert book is not None
        assert intake is not None
        assert scan is not None
        for session_id in exited:
            t = book.exited(session_id, now)
            if t is not None and t.last_identity is not None:
                _log.info("agent_exited", session=t.row.key, pid=t.last_identity.pid)
        poked = self._poked.is_set()
        self._poked.clear()
        intake.read(now)
        self._refresh(book, now)
        intake.release_held()  # a SessionStart hook names the pid of a session just stored
        self._watch_transcripts(book)
        if now >= self._next_scan:
            self._next_scan = now + self._scan_every
            scan.run(now)
        elif poked:
            scan.records(now)
        scan.map_new_panes()
        for t in book:
            self._judge(book, t, now)
            self._out.waits.extend(ToolWait(t.row.key, _iso(since), round(seconds * 1000))
                               for since, seconds in t.waits)  # fmt: skip
            t.waits.clear()
        self._expire_registrations(book, now)
        self._prune(book, now)
        self._out.flush()
        self._identities.save({t.row.key: t.identity for t in book if t.identity is not None})

    def _refresh(self, book: SessionBook, now: float) -> None:
        """Re-read the sessions that have new events since the last tick."""
        ids: set[int] = set()
        deadline = time.monotonic() + _REFRESH_BUDGET
        while True:  # a backfill may have added far more rows than one read takes
            more, cursor = book.reader.touched(self._cursor)
            ids |= more
            if cursor == self._cursor or time.monotonic() > deadline:
                self._cursor = cursor
                break
            self._cursor = cursor
        if not ids:
            return
        for row in book.reader.by_ids(ids):
            t = book.sessions.get(row.id)
            if t is None:
                if row.last_activity is None or row.last_activity < now - _HORIZON:
                    continue
                t = book.admit(row)
                if row.parent_id is None:  # a new session: find its process now, not in
                    self._next_scan = min(self._next_scan, now)  # up to scan_interval
            else:
                t.row = row
            t.tail_dirty = True
            parent = book.parent_of(t)
            if parent is not None and row.last_activity is not None:
                parent.child_at = max(parent.child_at or 0.0, row.last_activity)

    def _watch_transcripts(self, book: SessionBook) -> None:
        """For sessions with a process: the file's mtime is activity (progress lines, tool
        results and other lines that add no event move it too), and a new committed offset
        means the tail must be read again (a tool result completes a row, adds none)."""
        for t in book:
            path = t.row.transcript_path
            if not path or (t.exited_at is None and book.process_of(t)[0] != "alive"):
                continue
            try:
                st = os.stat(path, follow_symlinks=False)
            except OSError:
                continue
            if (st.st_size, st.st_mtime_ns) != t.file_stamp:
                t.file_stamp, t.file_at = (st.st_size, st.st_mtime_ns), st.st_mtime
            offset = book.reader.committed_offset(path)
            if offset != t.offset_seen:
                t.offset_seen, t.tail_dirty = offset, True

    # deciding --------------------------------------------------------------------------------
    def _judge(self, book: SessionBook, t: Tracked, now: float) -> None:
        process, identity = book.process_of(t)
        if not self._worth_judging(t, process, now):
            return
        if t.end_hook is not None and t.identity is not None:
            if now - (t.end_at or now) < _END_GRACE:
                return  # its exit, moments away, dates ended_at
            book.release(t)  # it lives on (or hangs): the hook's time dates the end
        if process == "exited":
            if not self._settled(book, t, now):
                return
            t.tail_dirty = True
        if t.tail_dirty:
            t.tail = transcript_state(book.reader.tail(t.row.id))
            t.tail_dirty = False
        facts = facts_for(t, process, now)
        verdict = decide(facts, idle_after=self._idle_after, waiting_after=self._waiting_after)
        self._record(book, t, verdict, identity, now)

    def _worth_judging(self, t: Tracked, process: str, now: float) -> bool:
        if t.fields_pending or t.exited_at is not None:
            return True
        if t.stored_status in TERMINAL:
            return t.identity is not None  # ended sessions wait for a process to revive them
        if process != "none" or t.stored_status in ACTIVE or t.end_hook is not None:
            return True
        last = t.last_activity
        return last is not None and now - last < self._idle_after

    def _settled(self, book: SessionBook, t: Tracked, now: float) -> bool:
        """Is the exited session's transcript fully ingested (or have we waited enough)?"""
        if t.exited_at is None or now - t.exited_at >= _EXIT_GRACE:
            return True
        path = t.row.transcript_path
        if not path:
            return True
        try:
            size = os.stat(path, follow_symlinks=False).st_size
        except OSError:
            return True
        offset = book.reader.committed_offset(path)
        return offset is not None and offset >= size

    def _record(
        self,
        book: SessionBook,
        t: Tracked,
        verdict: Verdict,
        identity: ProcessIdentity | None,
        now: float,
    ) -> None:
        process = identity or t.identity or t.last_identity
        pid = process.pid if process is not None else None
        tmux = t.tmux or (parent.tmux if (parent := book.parent_of(t)) else None)
        terminal = verdict.status in TERMINAL
        unchanged = (
            verdict.status == t.stored_status
            and (pid is None or pid == t.stored_pid)
            and (tmux is None or tmux == t.stored_tmux)
            and not t.fields_pending
        )
        if unchanged:
            if terminal:
                t.exited_at = None
            return
        stamp = now
        if terminal:
            stamp = t.exited_at or t.end_at or now
        reg = t.registration if t.fields_pending else None
        status = SessionStatus(
            t.row.key, verdict.status, _iso(stamp), verdict.reason, pid=pid,
            pid_started_at=process.started_iso if process is not None else None,
            ended_at=_iso(stamp) if terminal else None, tmux_target=tmux,
            **(reg.fields() if reg is not None else {}),
        )  # fmt: skip
        self._out.statuses.append((t, status, stamp))
        if reg is not None:
            self._out.finished.append(reg.path)

    def _expire_registrations(self, book: SessionBook, now: float) -> None:
        """A registered agent that died before any session appeared is recorded on its own."""
        for reg in list(book.registrations.values()):
            if reg.gone_at is None:
                if is_alive(reg.identity):
                    continue
                reg.gone_at = now
            if now - reg.gone_at < self._registered_grace:
                continue
            del book.registrations[reg.reg_id]
            status = "stopped" if reg.stop_requested else "crashed"
            reason = "registered process exited before any transcript appeared"
            stamp = _iso(now)
            self._out.statuses.append((None, SessionStatus(
                f"registered:{reg.reg_id}", status, stamp, reason, pid=reg.identity.pid,
                pid_started_at=reg.identity.started_iso, ended_at=stamp, **reg.fields(),
            ), now))  # fmt: skip
            self._out.finished.append(reg.path)
            _log.info("agent_exited", session=f"registered:{reg.reg_id}",
                      pid=reg.identity.pid, status=status)  # fmt: skip

    def _prune(self, book: SessionBook, now: float) -> None:
        for t in book:
            if t.identity is not None or t.exited_at is not None or t.fields_pending:
                continue
            if t.stored_status in ACTIVE:
                continue
            if (t.last_activity or 0.0) < now - _HORIZON:
                book.forget(t)
