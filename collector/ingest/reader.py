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
import hashlib
import os
import queue
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any

import orjson

from collector.counters import Counters
from collector.ingest.discovery import FoundFile
from collector.ingest.sidecars import read_sidecar
from collector.ingest.tail import (
    Checkpoint,
    FileTail,
    Fragment,
    TailRead,
    open_regular,
    same_file,
)  # fmt: skip
from collector.ingest.writer import Chunk, FileUpdate, WriterThread
from collector.log import get_logger
from collector.parsers import DEFAULT_OPTIONS, ParserOptions, TranscriptParser, make_parser
from collector.parsers.sanitize import line_prefix
from collector.parsers.sources import SourceFile
from collector.privacy import scrub_records
from store.records import ParseProblem, Record

__all__ = ["ReaderOptions", "ReaderThread", "SavedFile"]

_log = get_logger(component="reader")
_BULK_STEP = 256 * 1024  # bytes read from a backlog file before the live lane is looked at
# A live file that got lines keeps its descriptor this long past EOF (at most _HOT_MAX files):
# lines appended just before a rename or unlink are then read through it (R11, R21) rather than
# lost with the path. Quiet files close theirs, so idle transcripts hold none (R15).
_HOT_SECONDS = 30.0
_HOT_MAX = 32
_BOM = b"\xef\xbb\xbf"
_PROBLEMS_SHOWN = 100
_MOVED_MAX = 1024  # retired positions kept for a renamed file to resume from


@dataclass(frozen=True, slots=True)
class ReaderOptions:
    """Limits the reader applies (from ``[collector]``)."""

    max_line_bytes: int = 64 << 20
    read_chunk_bytes: int = 1 << 20
    parser: ParserOptions = DEFAULT_OPTIONS
    redact: bool = True  # [privacy] redact: secrets in stored text become [REDACTED:<kind>]


@dataclass(frozen=True, slots=True)
class SavedFile:
    """A file's resumable state: committed (from the ``files`` table at start-up) or handed on
    (a caught-up file parked to free its tail and parser). The parser state may stay JSON text
    until the file is opened again: 20,000 idle transcripts must not cost 20,000 dicts."""

    checkpoint: Checkpoint | None
    parser_state: dict[str, Any] | str | bytes | None  # bytes: pack_state() of the JSON
    live: bool = False
    # The session its lines belong to when not the one its path names: a file renamed within
    # a root stays in the session it started in (R11).
    session_key: str | None = None


# Parked parser states are kept deflated against a dictionary of the parsers' state keys: a
# Claude state of ~440 B of JSON becomes ~140 B, which at 20,000 idle transcripts is 6 MB of
# RSS (bench/bench_idle.py), for ~20 µs when a file parks and ~7 µs when it wakes. Only ever
# in memory, so the dictionary may change between versions.
_STATE_ZDICT = (
    b'"mirror":{},"replay":false,"replay_ms":null,"running":{},"stdin":{},"title":null,"tokens":'
    b'[0,0,0,0,0,0],"v":1,"segment_output":{},"pending":null,"version":"0.45.0",'
    b'"sidechain":false,"tasks":{},"version":"2.0.76"}{"agent_session_id":"","announced":true,'
    b'"children":[],"custom_title":false,"cwd":"/home/","first_ts":"2025-06-01T00:00:00.000Z",'
    b'"git_branch":"main","last_ts":"2025-06-01T00:00:00.000Z","last_usage":null,"model":null,'
    b'"parent":null,"project_dir":"/home/'
)
_STATE_WBITS = -10  # raw deflate, 1 KiB window: the states are small


def pack_state(state: dict[str, Any] | str | None) -> bytes | None:
    """A parser state (or its JSON text), deflated for keeping while its file is parked."""
    if state is None:
        return None
    data = orjson.dumps(state) if isinstance(state, dict) else state.encode()
    packer = zlib.compressobj(1, zlib.DEFLATED, _STATE_WBITS, 2, zlib.Z_DEFAULT_STRATEGY,
                              _STATE_ZDICT)  # fmt: skip
    return packer.compress(data) + packer.flush()


def unpack_state(packed: bytes) -> str:
    """The JSON text ``pack_state`` was given."""
    unpacker = zlib.decompressobj(_STATE_WBITS, _STATE_ZDICT)
    return (unpacker.decompress(packed) + unpacker.flush()).decode()


class _Tracked:
    """One file being tailed: its source, tail and parser, and what was last handed on."""

    __slots__ = (
        "active_at", "adopted", "bulk_done", "bulk_sent", "doc_hash", "live", "parser", "sent",
        "session_key", "size", "source", "tail",
    )  # fmt: skip

    def __init__(
        self,
        source: SourceFile,
        tail: FileTail | None,
        parser: TranscriptParser,
        sent: SavedFile,
    ) -> None:
        self.source = source
        self.tail = tail
        self.parser = parser
        self.doc_hash: str | None = None
        # The checkpoint and parser state of the last chunk put on the writer's queue: where
        # reading resumes if processing this file fails halfway (see ReaderThread._rewind).
        self.sent = sent
        # Lane (collector.ingest.lanes): backlog until a read reaches the end with no backlog chunk
        # of this file still queued; live from then on. bulk_done is counted by the writer.
        self.live = False
        self.bulk_sent = 0
        self.bulk_done = 0
        self.size = -1  # file size at the last read: a rescan seeing another size marks it
        self.active_at = time.monotonic()  # when it was last seen written to (see _hot)
        self.adopted = False  # renamed here from a known path: its files row is still to write
        self.session_key = sent.session_key  # set when not the session its path names

    def lane_for(self, eof: bool) -> bool:
        """True for the live lane; switching only when nothing of this file is queued keeps
        its chunks in order."""
        if not self.live and eof and self.bulk_sent == self.bulk_done:
            self.live = True
        if not self.live:
            self.bulk_sent += 1
        return self.live

    def bulk_committed(self) -> None:
        """Called by the writer thread after a backlog chunk of this file committed."""
        self.bulk_done += 1


class ReaderThread:
    """Reads dirty files and feeds the writer; ``mark_dirty`` is safe from any thread."""

    def __init__(
        self,
        writer: WriterThread,
        counters: Counters,
        options: ReaderOptions,
        saved: dict[str, SavedFile],
        moved: Mapping[tuple[int, int], SavedFile] | None = None,
    ) -> None:
        self.writer = writer
        self.counters = counters
        self.options = options
        self._saved = saved
        self._files: dict[str, _Tracked] = {}
        self._sources: dict[str, SourceFile] = {}
        self._sources_view = MappingProxyType(self._sources)
        self._dirty: dict[str, None] = {}  # backlog files, insertion-ordered set
        self._dirty_live: dict[str, None] = {}  # caught-up files: served first
        self._cond = threading.Condition()
        self._busy = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="reader", daemon=True)
        self.last_progress = time.monotonic()
        self._swept = 0.0
        # (dev, inode) → where a file renamed away from its path stopped: a new path with that
        # identity resumes there instead of reading it again (R11: identity kept in a root).
        # ``moved`` at start-up: recently retired files, in case one was renamed while the
        # daemon was down (or retired just before a crash, its new path not yet committed).
        self._moved: dict[tuple[int, int], SavedFile] = dict(moved or {})
        # Transcripts that cannot be read (permissions, a link, a FIFO) → why; for `status`.
        self._problems: dict[str, str] = {}

    # control -------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def close(self, timeout: float = 2.0) -> None:
        """Stop after the current step; idempotent. Queued-but-unsent work is simply re-read."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)
        for tracked in self._files.values():
            if tracked.tail is not None:
                tracked.tail.close()

    @property
    def alive(self) -> bool:
        """Is the thread running."""
        return self._thread.is_alive()

    def set_options(self, options: ReaderOptions) -> None:
        """New limits (SIGHUP); they apply to files opened from now on."""
        self.options = options

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
            saved = self._saved.get(path)
            if saved is not None and saved.session_key == found.source.session_id:
                # The usual case: its path names its session, so the key need not be kept.
                saved = self._saved[path] = SavedFile(saved.checkpoint, saved.parser_state,
                                                      saved.live)  # fmt: skip
            news = _saved_has_news(saved, found)
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
            return not self._dirty and not self._dirty_live and not self._busy

    def tracked_count(self) -> int:
        """How many transcript files are known."""
        return len(self._sources)

    def _mark(self, path: str) -> None:
        tracked = self._files.get(path)
        saved = self._saved.get(path) if tracked is None else None
        # A file read before (it has a checkpoint) most likely got an append: serve it first.
        known = bool(saved and (saved.live or saved.checkpoint is not None))
        live = tracked.live if tracked is not None else known
        lane = self._dirty_live if live else self._dirty
        if path not in lane:
            lane[path] = None
            self._cond.notify()

    # the thread -----------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            self.last_progress = time.monotonic()
            self._sweep()
            with self._cond:
                if not self._dirty and not self._dirty_live:
                    self._cond.wait(0.5)
                    continue
                if self._stop.is_set():
                    return
                lane = self._dirty_live or self._dirty
                path = next(iter(lane))
                del lane[path]  # cleared before reading: a new append marks it again
                self._busy = True
            try:
                more = self._step(path)
            except Exception as exc:  # one bad file never stops the others
                more = False
                self.counters.add("file_errors")
                _log.exception("file_processing_failed", path=path, offset=self._offset(path),
                               error=repr(exc))  # fmt: skip
                self._rewind(path)
            with self._cond:
                self._busy = False
                if more:
                    self._mark(path)

    def _rewind(self, path: str) -> None:
        """Forget what was read past the last chunk handed on: the lines read by the failed
        step were never sent, and the tail's in-memory position must not skip them. The next
        rescan marks the file again (size ≠ offset), which is also the retry's back-off."""
        tracked = self._files.pop(path, None)
        if tracked is None:
            return
        if tracked.tail is not None:
            tracked.tail.close()
        self._saved[path] = tracked.sent

    def _offset(self, path: str) -> int | None:
        tracked = self._files.get(path)
        cp = tracked.tail.checkpoint if tracked and tracked.tail else None
        return cp.offset if cp else None

    def _step(self, path: str) -> bool:
        """Read one step of ``path``; True when more is waiting."""
        tracked = self._files.get(path) or self._open(path)
        if tracked is None:
            return False
        if tracked.source.kind == "json-document":
            self._read_document(tracked)
            return False
        assert tracked.tail is not None
        # Backlog steps are short so a live file waits for at most one of them.
        step = self.options.read_chunk_bytes if tracked.live else _BULK_STEP
        # The tail keeps its descriptor at EOF; _settle decides whether the file stays open.
        read = tracked.tail.poll(min(step, self.options.read_chunk_bytes), keep_open=True)
        error = read.error if read is not None else tracked.tail.last_error
        self._note_problem(path, error if error != "vanished" else None)
        if read is None:
            return False
        if read.error:
            self.counters.add("read_errors")
        fragment = None
        if read.deleted and read.eof and read.partial_bytes:
            # R7: the file is gone, so no newline can complete its last line: parse it once
            # as it is (a problem record if it is not JSON) rather than dropping it silently.
            fragment = tracked.tail.take_fragment()
        self._send(tracked, read, fragment)
        tracked.size = read.size
        if read.eof and not tracked.live and tracked.bulk_sent == tracked.bulk_done:
            tracked.live = True  # its backlog is committed: an empty read at the end says so
        if read.eof:
            self._settle(path, tracked, read)
        return not read.eof

    def _settle(self, path: str, tracked: _Tracked, read: TailRead) -> None:
        """At EOF: retire a file whose path is gone, keep a hot one open, park or close the
        rest (R15: idle files hold no descriptor)."""
        if read.deleted or read.moved:
            # Renamed (seen through the descriptor), or gone from the path unseen (it may have
            # been renamed): remember where it stopped. Unlinked for sure (no link left): no.
            vanished = tracked.tail is not None and tracked.tail.last_error == "vanished"
            if read.moved or vanished:
                self._remember_moved(tracked)
            self._forget(path)
        elif self._hot(tracked):
            return
        elif not read.partial_bytes and tracked.live:
            self._park(path, tracked)
        elif tracked.tail is not None:
            tracked.tail.release()

    def _note_problem(self, path: str, error: str | None) -> None:
        """Count and log a file that cannot be read once per new reason; forget it once read."""
        if error is None:
            self._problems.pop(path, None)
            return
        if self._problems.get(path) == error:
            return
        self.counters.add("file_errors")
        _log.warning("file_unreadable", path=path, error=error)
        if path in self._problems or len(self._problems) < _PROBLEMS_SHOWN:
            self._problems[path] = error

    def problem_files(self) -> dict[str, str]:
        """Transcripts that could not be read at their last attempt, and why (a copy)."""
        return dict(self._problems)

    def _hot(self, tracked: _Tracked) -> bool:
        """Keep this caught-up file's descriptor open (it is being written to: modified in the
        last ``_HOT_SECONDS``; an old transcript just backfilled is not)?"""
        try:
            mtime = os.stat(tracked.source.path, follow_symlinks=False).st_mtime
        except OSError:
            return True  # gone since the read: the next poll drains the descriptor and retires it
        tracked.active_at = time.monotonic() - max(0.0, time.time() - mtime)
        if time.monotonic() - tracked.active_at > _HOT_SECONDS:
            return False
        held = sum(1 for t in self._files.values() if t.tail and t.tail.holds_descriptor)
        return held <= _HOT_MAX

    def _remember_moved(self, tracked: _Tracked) -> None:
        """Where a retired path stopped, by identity, and its session: if it was renamed (not
        unlinked) a path with that identity resumes there. A reused inode is harmless: its
        head and marker fail ``same_file``. Bounded: the oldest are dropped."""
        sent = tracked.sent
        cp = sent.checkpoint
        if cp is None:
            return
        session = tracked.source.session_id
        self._moved[(cp.dev, cp.inode)] = SavedFile(cp, sent.parser_state, session_key=session)
        while len(self._moved) > _MOVED_MAX:
            del self._moved[next(iter(self._moved))]

    def _sweep(self) -> None:
        """Once a second: park the files kept open that went quiet."""
        now = time.monotonic()
        if now - self._swept < 1.0:
            return
        self._swept = now
        for path, tracked in list(self._files.items()):
            tail = tracked.tail
            if tail is None or not tail.holds_descriptor or now - tracked.active_at < _HOT_SECONDS:
                continue
            if tail.buffered_bytes or not tracked.live:
                tail.release()
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
                    if old not in self._files or not self._step(old):
                        break
        if key not in self._moved:
            self._take_parked(path, key, agent)
        found = self._moved.pop(key, None)
        if found is None or found.checkpoint is None or not same_file(path, found.checkpoint):
            return None
        return found

    def _take_parked(self, path: str, key: tuple[int, int], agent: str) -> None:
        """A parked file with identity ``key`` whose path no longer names it was renamed to
        ``path``: retire the old path and remember where it stopped. A linear look, only for
        a path never seen before."""
        for old, saved in self._saved.items():
            cp = saved.checkpoint
            if cp is None or (cp.dev, cp.inode) != key or old == path or _names(old, key):
                continue
            del self._saved[old]
            source = self._sources.get(old)
            session = saved.session_key or (source.session_id if source else None)
            self._moved[key] = SavedFile(cp, saved.parser_state, session_key=session)
            self._forget(old)
            update = FileUpdate(path=old, agent=agent, session_key=None,
                                checkpoint=cp.to_dict(), parser_state=None, size=cp.offset,
                                deleted=True)  # fmt: skip
            self._put(Chunk([], update, 0))
            return

    def _bulk_committed(self, tracked: _Tracked) -> None:
        """Writer thread: a backlog chunk of ``tracked`` committed. After its last one, look at
        the file once more so it turns live and parks: a large transcript read in many backlog
        steps would otherwise keep its parser in memory until its next append (R15)."""
        tracked.bulk_committed()
        if tracked.bulk_done == tracked.bulk_sent:
            self.mark_dirty(tracked.source.path)

    def _park(self, path: str, tracked: _Tracked) -> None:
        """Free a caught-up file's tail and parser; keep only what resumes it (R15)."""
        sent = tracked.sent
        if tracked.tail is not None:
            tracked.tail.close()
        state = sent.parser_state
        if not isinstance(state, bytes):  # bytes: still packed, the file woke and read nothing
            state = pack_state(state)
        del self._files[path]
        self._saved[path] = SavedFile(sent.checkpoint, state, True, tracked.session_key)

    def _open(self, path: str) -> _Tracked | None:
        source = self._sources.get(path)
        if source is None:
            return None
        saved = self._saved.pop(path, None)
        adopted = False
        if saved is None:
            saved = self._adopt(path, source.agent)
            adopted = saved is not None
        if saved is not None and saved.session_key not in (None, source.session_id):
            source = replace(source, session_id=saved.session_key)
        elif saved is not None and saved.session_key is not None:
            saved = SavedFile(saved.checkpoint, saved.parser_state, saved.live)
        state = saved.parser_state if saved else None
        if isinstance(state, bytes):
            state = _decode_state(unpack_state(state))
        elif isinstance(state, str):
            state = _decode_state(state)
        parser = make_parser(source, state, self.options.parser, _sidecar(source))
        tail = None
        if source.kind == "jsonl":
            checkpoint = saved.checkpoint if saved else None
            tail = FileTail(path, checkpoint, self.options.max_line_bytes)
        tracked = _Tracked(source, tail, parser, saved or SavedFile(None, None))
        tracked.live = bool(saved and saved.live)
        tracked.adopted = adopted
        if saved and saved.checkpoint and source.kind == "json-document":
            tracked.doc_hash = saved.checkpoint.marker_hash
        self._files[path] = tracked
        return tracked

    def _forget(self, path: str) -> None:
        tracked = self._files.pop(path, None)
        if tracked and tracked.tail:
            tracked.tail.close()
        with self._cond:
            self._sources.pop(path, None)

    def _send(self, tracked: _Tracked, read: TailRead, fragment: Fragment | None = None) -> None:
        source = tracked.source
        if read.reset:
            self.counters.add("rewrites_detected")
            _log.info("file_rewritten", path=source.path, reason=read.reset_reason)
            tracked.parser = make_parser(source, None, self.options.parser, _sidecar(source))
        records: list[Record] = []
        nbytes = 0
        for offset, line in read.lines:
            text = line[len(_BOM) :] if offset == 0 and line.startswith(_BOM) else line
            records.extend(tracked.parser.parse_line(text, offset))  # a BOM is not JSON
            nbytes += len(line) + 1
        checkpoint = read.checkpoint
        if fragment is not None:
            records.extend(tracked.parser.parse_line(fragment.data, fragment.offset))
            nbytes += len(fragment.data)
            checkpoint = fragment.checkpoint
            self.counters.add("unterminated_lines")
        for big in read.oversized:
            reason = f"oversized line: {big.size} bytes, sha256 {big.sha256}"
            records.append(ParseProblem(source.path, big.offset, reason, line_prefix(big.prefix)))
            nbytes += big.size + 1
        problems = sum(1 for r in records if isinstance(r, ParseProblem))
        self.counters.add("lines_read", len(read.lines))
        self.counters.add("parse_problems", problems - len(read.oversized))
        self.counters.add("oversized_lines", len(read.oversized))
        news = records or nbytes or read.reset or read.deleted or read.moved or tracked.adopted
        if not news:
            return
        tracked.adopted = False
        update = FileUpdate(
            path=source.path, agent=source.agent, session_key=source.session_id,
            checkpoint=checkpoint.to_dict(), parser_state=tracked.parser.state(),
            size=read.size, lines=len(read.lines), problems=problems,
            oversized=len(read.oversized), reset=read.reset, deleted=read.deleted or read.moved,
        )  # fmt: skip
        live = tracked.lane_for(read.eof)
        on_commit = None if live else functools.partial(self._bulk_committed, tracked)
        self._put(Chunk(records, update, nbytes, on_commit=on_commit, live=live))
        tracked.sent = SavedFile(checkpoint, update.parser_state, session_key=tracked.session_key)

    def _read_document(self, tracked: _Tracked) -> None:
        """Whole-file JSON (Gemini ≤ 0.38): re-parse when the content changed."""
        path = tracked.source.path
        try:
            with open(open_regular(path), "rb") as handle:
                st = os.fstat(handle.fileno())
                if st.st_size > self.options.max_line_bytes:
                    self.counters.add("oversized_lines")
                    return
                data = handle.read()
        except OSError as exc:
            _log.warning("file_read_failed", path=path, error=f"{type(exc).__name__}: {exc}")
            return
        digest = hashlib.sha256(data).hexdigest()
        if digest == tracked.doc_hash:
            return
        records = tracked.parser.parse_document(data)
        checkpoint = {
            "dev": st.st_dev,
            "inode": st.st_ino,
            "offset": len(data),
            "head_hash": digest,
            "head_len": len(data),
            "marker_hash": digest,
        }
        update = FileUpdate(path=path, agent=tracked.source.agent,
                            session_key=tracked.source.session_id, checkpoint=checkpoint,
                            parser_state=None, size=len(data), lines=1)  # fmt: skip
        self.counters.add("documents_read")
        self._put(Chunk(records, update, len(data), on_commit=_setter(tracked, digest)))

    def _put(self, chunk: Chunk) -> None:
        # The one place parser output passes before it is queued for storage: redaction here
        # covers every parser and every text field (collector.privacy.scrub).
        if self.options.redact:
            redacted = scrub_records(chunk.records)
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


def _setter(tracked: _Tracked, digest: str) -> Callable[[], None]:
    def done() -> None:
        tracked.doc_hash = digest

    return done


def _saved_has_news(saved: SavedFile | None, found: FoundFile) -> bool:
    """May a file not open right now hold bytes past its resumable checkpoint."""
    if saved is None or found.source.kind != "jsonl":
        return True  # never read, or a whole-file document (a hash comparison decides)
    cp = saved.checkpoint
    if cp is None:
        return True
    return found.size != cp.offset or (found.dev, found.inode) != (cp.dev, cp.inode)


def _names(path: str, key: tuple[int, int]) -> bool:
    """Does ``path`` still name the file with identity ``key`` (a hard link, not a rename)."""
    try:
        st = os.stat(path, follow_symlinks=False)
    except OSError:
        return False
    return (st.st_dev, st.st_ino) == key


def _decode_state(text: str) -> dict[str, Any] | None:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None  # a damaged state: the parser starts from its defaults
    return value if isinstance(value, dict) else None


def _sidecar(source: SourceFile) -> dict[str, Any] | None:
    return read_sidecar(source.sidecar_path) if source.sidecar_path else None
