"""The reader thread: dirty files in, parsed chunks out to the writer's bounded queue.

Per wake-up a dirty file is read to EOF in steps of ``read_chunk_bytes`` (one notification may
stand for many appends); a file with more to read goes to the back of the dirty queue so one
huge backlog cannot starve live files. The dirty mark is cleared *before* the read, so an
append that lands during the read marks the file again and is never missed.

Each step's lines are parsed and put on the writer's queue together with the file's new
checkpoint and parser state; ``put`` blocks while the queue is full, which bounds memory under
any backlog. Nothing here commits: if the process dies, the writer's last committed checkpoint
is where reading resumes.

An exception while processing one file is logged with the path and offset, counted, and the
thread goes on with the next file.
"""

from __future__ import annotations

import functools
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType

import msgspec

from collector.counters import Counters
from collector.ingest.checkpoint import same_file
from collector.ingest.discovery import FoundFile
from collector.ingest.documents import read_document
from collector.ingest.hot import gone_quiet, keep_hot
from collector.ingest.lanes import DirtyLanes
from collector.ingest.parked import ParkedStates, SavedFile, saved_has_news
from collector.ingest.parked_files import ParkedFiles
from collector.ingest.parse_child import ParseProcess, slot_for
from collector.ingest.parse_jobs import Answer
from collector.ingest.parse_process import Offload
from collector.ingest.problem_files import ProblemFiles
from collector.ingest.renames import Identity, MovedFiles, retirement
from collector.ingest.tail import Fragment, TailRead
from collector.ingest.tracked import TrackedFile
from collector.log import get_logger
from collector.parsers import DEFAULT_OPTIONS, ParserOptions
from collector.parsers.sources import SourceFile
from collector.privacy import scrub_records
from store.checkpoints import StoredStates
from store.records import Chunk, ChunkSink

__all__ = ["BACKLOG_STEP_BYTES", "ReaderOptions", "ReaderThread"]

_log = get_logger(component="reader")
BACKLOG_STEP_BYTES = 256 * 1024  # bytes read from a backlog file before the live lane is looked at


class ReaderOptions(msgspec.Struct, frozen=True):
    """Limits the reader applies (from ``[collector]``)."""

    max_line_bytes: int = 64 << 20
    read_chunk_bytes: int = 1 << 20
    # A backlog file's step, short so a live file waits for at most one of them; ``run
    # --once`` has no live file and reads backlogs in ``read_chunk_bytes`` steps (fewer chunks,
    # puts and commits: bench/bench_backfill.py).
    backlog_step_bytes: int = BACKLOG_STEP_BYTES
    parser: ParserOptions = DEFAULT_OPTIONS
    redact: bool = True  # [privacy] redact: secrets in stored text become [REDACTED:<kind>]
    # Backlog reads parsed in a child process, beside the writer (collector.ingest.parse_process).
    parse_process: bool = False


class ReaderThread:
    """Reads dirty files and feeds the writer; ``mark_dirty`` is safe from any thread."""

    def __init__(
        self,
        writer: ChunkSink,
        counters: Counters,
        options: ReaderOptions,
        saved: Mapping[str, SavedFile],
        moved: Mapping[Identity, SavedFile] | None = None,
        *,
        stored: StoredStates | None = None,
        process: ParseProcess | None = None,
    ) -> None:
        self.writer = writer
        self.counters = counters
        self.options = options
        self._saved = saved if isinstance(saved, ParkedFiles) else ParkedFiles(saved)
        self._files: dict[str, TrackedFile] = {}
        self._sources: dict[str, SourceFile] = {}
        self._sources_view = MappingProxyType(self._sources)
        self._dirty = DirtyLanes()
        self._cond = threading.Condition()
        self._busy = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="reader", daemon=True)
        self.last_progress = time.monotonic()
        self._swept = 0.0
        # (dev, inode) → where a file renamed away from its path stopped: a new path with that
        # identity resumes there instead of reading it again (a rename keeps the file's identity).
        # ``moved`` at start-up: recently retired files, in case one was renamed while the
        # daemon was down (or retired just before a crash, its new path not yet committed).
        self._moved = MovedFiles(moved, self._saved)
        self._problems = ProblemFiles(counters)
        self._parked = ParkedStates(stored)  # stored: where parked states are read back
        self._offload: Offload | None = None
        if options.parse_process:  # ``process``: a child started early, now the reader's
            process = process or ParseProcess(slot_for(options.read_chunk_bytes))
            self._offload = Offload(counters, options.parser, options.redact, process)
        # Called on the reader's thread when it runs out of dirty files after reading some
        # (``run --once`` wakes its main loop with it instead of polling); must not block.
        self.on_idle: Callable[[], None] | None = None

    # control -------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the thread (and the parse process, unless ``run`` started it already)."""
        if self._offload is not None:
            self._offload.start()
        self._thread.start()

    def close(self, timeout: float = 2.0) -> None:
        """Stop after the current step; idempotent. Queued-but-unsent work is simply re-read."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)
        for tracked in self._files.values():
            tracked.close()
        if not self._thread.is_alive():  # (a thread still in a step keeps what it uses)
            self._parked.close()
            if self._offload is not None:
                self._offload.close()

    @property
    def alive(self) -> bool:
        """Is the thread running."""
        return self._thread.is_alive()

    def set_options(self, options: ReaderOptions) -> None:
        """New limits (SIGHUP); they apply to files opened from now on."""
        self.options = options
        if self._offload is not None:
            self._offload.options, self._offload.redact = options.parser, options.redact

    def add_found(self, found: FoundFile) -> None:
        """A scan saw ``found``: track it and mark it dirty when it may hold unread bytes."""
        with self._cond:
            self._add(found)

    def add_scan(self, found: Iterable[FoundFile], unlooked: Iterable[str] = ()) -> None:
        """A full scan saw exactly ``found`` and ``unlooked`` (known files it listed but did not
        stat): track each, and mark dirty the tracked files it did not see, so the read that
        finds them gone (and drains or forgets them) happens even without a notification. One
        lock for the whole scan: 20,000 files, one handover."""
        with self._cond:
            present = set(unlooked)
            for item in found:
                self._add(item)
                present.add(item.source.path)
            for path in [p for p in self._sources if p not in present]:
                self._mark(path)

    def sources(self) -> Mapping[str, SourceFile]:
        """The transcripts known so far (a live read-only view): a rescan reuses their
        classification instead of parsing every path again."""
        return self._sources_view

    def _add(self, found: FoundFile) -> None:
        path = found.source.path
        tracked = self._files.get(path)
        self._sources[path] = found.source
        if tracked is not None:
            news = tracked.source.kind != "jsonl" or found.size != tracked.size
        else:
            saved = self._saved.rekey(path, found.source.session_id)
            news = saved_has_news(saved, found)
        if news:
            self._mark(path)

    def mark_dirty(self, path: str) -> None:
        """A notification said ``path`` changed (ignored until a scan has classified it)."""
        with self._cond:
            if path in self._sources:
                self._mark(path)

    def knows(self, path: str) -> bool:
        """Has a scan classified ``path`` as a transcript."""
        return path in self._sources

    def idle(self) -> bool:
        """Nothing dirty and nothing being read."""
        with self._cond:
            return not self._dirty and not self._busy

    def tracked_count(self) -> int:
        """How many transcript files are known."""
        return len(self._sources)

    def _mark(self, path: str) -> None:
        tracked = self._files.get(path)
        saved = self._saved.get(path) if tracked is None else None
        # A file read before (it has a checkpoint) most likely got an append: serve it first.
        known = bool(saved and (saved.live or saved.checkpoint is not None))
        live = tracked.live if tracked is not None else known
        if self._dirty.add(path, live):
            self._cond.notify()

    # the thread -----------------------------------------------------------------------------
    def _run(self) -> None:
        worked = False
        while not self._stop.is_set():
            self.last_progress = time.monotonic()
            self._sweep()
            if self._offload is not None and self._offload.in_flight and not self._dirty:
                self._complete_one()  # nothing else to read: wait for an answer, look again
                with self._cond:
                    self._busy = bool(self._offload.in_flight)
                continue
            with self._cond:
                if not self._dirty:
                    if worked and self.on_idle is not None:
                        self.on_idle()
                    worked = False
                    self._cond.wait(0.5)
                    continue
                worked = True
                if self._stop.is_set():
                    return
                path = self._dirty.take()  # cleared before reading: a new append marks it again
                self._busy = True
            try:
                more = self._step(path)
            except Exception as exc:  # one bad file never stops the others
                more = False
                self._failed(path, exc)
            with self._cond:
                self._busy = self._offload is not None and bool(self._offload.in_flight)
                if more:
                    self._mark(path)

    def _failed(self, path: str, exc: Exception) -> None:
        self.counters.add("file_errors")
        _log.exception("file_processing_failed", path=path, offset=self._offset(path),
                       error=repr(exc))  # fmt: skip
        self._rewind(path)

    def _rewind(self, path: str) -> None:
        """Forget what was read past the last chunk handed on: the lines read by the failed
        step were never sent, and the tail's in-memory position must not skip them. The next
        rescan marks the file again (size ≠ offset), which is also the retry's back-off."""
        tracked = self._files.pop(path, None)
        if tracked is None:
            return
        tracked.close()
        self._saved[path] = tracked.sent
        self._moved.parked.note(tracked.sent, self._saved)

    def _offset(self, path: str) -> int | None:
        tracked = self._files.get(path)
        cp = tracked.tail.checkpoint if tracked and tracked.tail else None
        return cp.offset if cp else None

    def _step(self, path: str, *, yield_to_live: bool = True) -> bool:
        """Read one step of ``path``; True when more is waiting (or, with ``yield_to_live``,
        when a live file is to be read first)."""
        tracked = self._files.get(path) or self._open(path)
        if tracked is None:
            return False
        if tracked.source.kind == "json-document":
            chunk = read_document(tracked, self.options.max_line_bytes, self.counters)
            if chunk is not None:
                self._put(chunk)
            return False
        assert tracked.tail is not None
        if not tracked.live and not self._room(yield_to_live):
            return True  # a live file first; this backlog waits for the parse process
        if self._files.get(path) is not tracked:
            return True  # completing a read settled it (parked, rewound): open it again
        # Backlog steps are short so a live file waits for at most one of them.
        step = self.options.read_chunk_bytes if tracked.live else self.options.backlog_step_bytes
        # The tail keeps its descriptor at EOF; _settle decides whether the file stays open.
        read = tracked.tail.poll(min(step, self.options.read_chunk_bytes), keep_open=True)
        error = read.error if read is not None else tracked.tail.last_error
        self._problems.note(path, error if error != "vanished" else None)
        if read is None:
            return False
        if read.error:
            self.counters.add("read_errors")
        fragment = None
        if read.deleted and read.eof and read.partial_bytes:
            # The file is gone, so no newline can complete its last line: parse it once
            # as it is (a problem record if it is not JSON) rather than dropping it silently.
            fragment = tracked.tail.take_fragment()
        offload = self._offload
        if offload is not None and offload.wants(tracked, read):
            # Completed (handed on, settled) when its answer is back, in the order of the
            # reads; the next reads are made meanwhile.
            offload.submit(path, tracked, read, fragment)
            if offload.answer_waiting():  # one per read made: the writer's queue fills evenly
                self._complete_one()
            return not read.eof
        self._complete_file(tracked)
        if self._files.get(path) is tracked:  # (completing its reads may have rewound it)
            self._finish(path, tracked, read, fragment)
        return not read.eof

    def _finish(
        self, path: str, tracked: TrackedFile, read: TailRead, fragment: Fragment | None,
        answer: Answer | None = None,
    ) -> None:  # fmt: skip
        """Hand a read's records on (parsed here unless ``answer`` has them), then settle."""
        if answer is None and self._offload is not None:
            tracked.take_back(self.options.parser)
        self._send(tracked, read, fragment, answer)
        tracked.size = read.size
        if read.eof and not tracked.live and tracked.bulk_sent == tracked.bulk_done:
            tracked.live = True  # its backlog is committed: an empty read at the end says so
        if read.eof:
            self._settle(path, tracked, read)

    def _room(self, yield_to_live: bool = True) -> bool:
        """A slot for one more read in flight: complete the oldest when its answer is back,
        or when no live file waits (it is then worth waiting for); False: serve that first."""
        offload = self._offload
        if offload is None or not offload.full:
            return True
        if yield_to_live and not offload.answer_waiting():
            with self._cond:
                if self._dirty.has_live():
                    return False
        self._complete_one()
        return True

    def _complete_file(self, tracked: TrackedFile) -> None:
        """Complete the reads in flight up to the last of ``tracked``'s (in order)."""
        offload = self._offload
        while offload is not None and offload.holds(tracked):
            self._complete_one()

    def _complete_one(self) -> None:
        assert self._offload is not None
        pending, answer = self._offload.collect()
        path, tracked = pending.path, pending.tracked
        if self._files.get(path) is not tracked:
            return  # rewound or forgotten meanwhile: read again from what was handed on
        try:
            self._finish(path, tracked, pending.read, pending.fragment, answer)
        except Exception as exc:  # as in _run: this file is read again, the others go on
            self._failed(path, exc)

    def _settle(self, path: str, tracked: TrackedFile, read: TailRead) -> None:
        """At EOF: retire a file whose path is gone, keep a hot one open, park or close the
        rest (idle files hold no descriptor)."""
        if read.deleted or read.moved:
            # Renamed (seen through the descriptor), or gone from the path unseen (it may have
            # been renamed): remember where it stopped. Unlinked for sure (no link left): no.
            vanished = tracked.tail is not None and tracked.tail.last_error == "vanished"
            if read.moved or vanished:
                sent, session = tracked.sent, tracked.source.session_id
                self._moved.remember(SavedFile(sent.checkpoint, sent.parser_state,
                                               session_key=session))  # fmt: skip
            self._forget(path)
        elif keep_hot(tracked, self._files.values()):
            return
        elif not read.partial_bytes and tracked.live:
            self._park(path, tracked)
        elif tracked.tail is not None:
            tracked.tail.release()

    def problem_files(self) -> dict[str, str]:
        """Transcripts that could not be read at their last attempt, and why (a copy)."""
        return self._problems.copy()

    def _sweep(self) -> None:
        """Once a second: park the files kept open that went quiet."""
        now = time.monotonic()
        if now - self._swept < 1.0:
            return
        self._swept = now
        self._parked.sweep(self._saved, now)
        if self._offload is not None:
            self._offload.sweep(now)
        for path, tracked in gone_quiet(self._files, now):
            assert tracked.tail is not None
            if tracked.tail.buffered_bytes or not tracked.live:
                tracked.tail.release()
            else:
                self._park(path, tracked)

    def _adopt(self, path: str, agent: str) -> SavedFile | None:
        """Where to resume a path never seen before that is a known file renamed here (same
        device, inode, head and marker), whichever path was looked at first: drain an old
        path still open, or take a parked one whose path is gone; then its position and
        session (no re-read, no second session)."""
        try:
            st = os.stat(path, follow_symlinks=False)
        except OSError:
            return None
        key = (st.st_dev, st.st_ino)
        for old, tracked in list(self._files.items()):
            cp = tracked.tail.checkpoint if tracked.tail else None
            if cp is not None and (cp.dev, cp.inode) == key and old != path:
                for _ in range(10_000):  # drains to EOF, then retires (moved) the old path
                    if old not in self._files or not self._step(old, yield_to_live=False):
                        break
                self._complete_file(tracked)  # its last reads too
        found, retired = self._moved.take(path, key, self._saved, self._session_of)
        if found is not None and retired is not None:
            try:  # before its row is retired
                found = self._parked.resolved(retired, found)
            except Exception:
                self._saved[retired] = found  # parked as it was: a later look retries
                raise
        cp = found.checkpoint if found is not None else None
        if retired is not None and cp is not None:
            self._forget(retired)  # its row says deleted; the new path's row follows
            self._put(Chunk([], retirement(retired, agent, cp), 0))
        return found if cp is not None and same_file(path, cp) else None

    def _session_of(self, path: str) -> str | None:
        source = self._sources.get(path)
        return source.session_id if source is not None else None

    def _bulk_committed(self, tracked: TrackedFile) -> None:
        """Writer thread: a backlog chunk of ``tracked`` committed. After its last one, look at
        the file once more so it turns live and parks: a large transcript read in many backlog
        steps would otherwise keep its parser in memory until its next append."""
        tracked.bulk_committed()
        if tracked.bulk_done == tracked.bulk_sent:
            self.mark_dirty(tracked.source.path)

    def _park(self, path: str, tracked: TrackedFile) -> None:
        """Free a caught-up file's tail and parser; keep only what resumes it."""
        sent = tracked.sent
        tracked.close()
        del self._files[path]
        parked = self._parked.park(self._saved, path, sent, tracked.handover, tracked.session_key)
        self._moved.parked.note(parked, self._saved)

    def _open(self, path: str) -> TrackedFile | None:
        source = self._sources.get(path)
        if source is None:
            return None
        saved = self._saved.get(path)
        if saved is not None:  # read back first: a failed read leaves it parked as it was
            saved = self._parked.resolved(path, saved)
            del self._saved[path]
        adopted = False
        if saved is None:
            saved = self._adopt(path, source.agent)
            adopted = saved is not None
        options = self.options
        tracked = TrackedFile.resume(source, saved, options.parser, options.max_line_bytes)
        tracked.adopted = adopted
        self._files[path] = tracked
        return tracked

    def _forget(self, path: str) -> None:
        tracked = self._files.pop(path, None)
        if tracked is not None:
            tracked.close()
        with self._cond:
            self._sources.pop(path, None)

    def _send(
        self, tracked: TrackedFile, read: TailRead, fragment: Fragment | None = None,
        answer: Answer | None = None,
    ) -> None:  # fmt: skip
        source = tracked.source
        if read.reset:
            self.counters.add("rewrites_detected")
            _log.info("file_rewritten", path=source.path, reason=read.reset_reason)
            tracked.reopen(self.options.parser)
        parsed = tracked.parse(read, fragment, answer)
        if fragment is not None:
            self.counters.add("unterminated_lines")
        self.counters.add("lines_read", len(read.lines))
        self.counters.add("parse_problems", parsed.problems - len(read.oversized))
        self.counters.add("oversized_lines", len(read.oversized))
        if not (parsed.records or parsed.nbytes or read.reset or read.deleted or read.moved
                or tracked.adopted):  # fmt: skip
            return
        tracked.adopted = False
        update = tracked.file_update(read, parsed)
        live = tracked.lane_for(read.eof)
        then = None if live else functools.partial(self._bulk_committed, tracked)
        on_commit = tracked.handover.hand(then)
        chunk = Chunk(parsed.records, update, parsed.nbytes, on_commit=on_commit, live=live)
        if answer is None:
            self._put(chunk)
        else:  # redacted in the parse process, all but the oversized lines' problem records
            self._put(chunk, len(answer.records), answer.redactions)
        tracked.sent = SavedFile(parsed.checkpoint, update.parser_state, False, tracked.session_key)

    def _put(self, chunk: Chunk, scrubbed: int = 0, redacted: int = 0) -> None:
        # The one place parser output passes before it is queued for storage: redaction here
        # covers every parser and every text field (collector.privacy.scrub); the first
        # ``scrubbed`` records were redacted already (``redacted`` times) by the parse process.
        if self.options.redact:
            records = chunk.records[scrubbed:] if scrubbed else chunk.records
            redacted += scrub_records(records)
            if redacted:
                self.counters.add("redactions", redacted)
        while not self._stop.is_set():
            try:
                self.writer.put(chunk, timeout=0.1)
                return
            except queue.Full:
                # Waiting on the writer is not being stuck; the writer's own progress tells.
                self.last_progress = time.monotonic()
                continue
        # Stopping: the chunk is dropped uncommitted, so its lines are read again next start.
