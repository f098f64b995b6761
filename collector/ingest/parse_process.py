"""The parse process: backlog reads parsed in a child process, beside this process's writer.

Why a process: the reader and the writer are threads of one interpreter, and measured they do
not run at the same time at all (bench/README.md, "Why the two threads do not add up"): sqlite3
lets the interpreter lock go around every row it steps, and each re-acquisition waits for the
parsing thread to yield, so a backfill took the parse's time plus the store's. Here the reader
hands a backlog read's lines to a child and reads on: up to ``DEPTH`` reads are in flight, so
the child parses on while the writer's commit holds this process, and the reader completes each
read (records on the writer's queue, in order) when its answer is back.

Live reads stay in this process: they are small, and a round trip would only add to their
latency. Nothing here commits, and nothing is lost when the child dies or fails: a read it did
not answer is parsed here from the parser state of the last answer, so every line is parsed
once. The child ends with its pipes: when this process exits or is killed, or after a quiet
spell (``IDLE_SECONDS``), when the reader lets it go to free its memory; a later backlog starts
another, which rebuilds each file's parser from its last state as a woken parked file does.

The child and its start are in collector.ingest.parse_child, the channel to it in
collector.ingest.parse_channel.
"""

from __future__ import annotations

import weakref
from collections import deque

import msgspec

from collector.counters import Counters
from collector.ingest.parse_child import ParseProcess
from collector.ingest.parse_jobs import Answer, Job, Setup, line_bytes
from collector.ingest.tail import Fragment, TailRead
from collector.ingest.tracked import RemoteParser, TrackedFile
from collector.log import get_logger
from collector.parsers import ParserOptions

__all__ = ["IDLE_SECONDS", "MIN_BYTES", "Offload", "Pending"]

_log = get_logger(component="parse_process")
IDLE_SECONDS = 10.0  # a child with no job for this long is let go
# A first read smaller than this is parsed in place: a round trip (~0.1 ms) buys nothing there.
MIN_BYTES = 64 * 1024


class Pending(msgspec.Struct):
    """A read handed to the child and not yet answered."""

    path: str
    tracked: TrackedFile
    read: TailRead
    fragment: Fragment | None
    file_id: int  # the file's parser in the child when it was sent
    sent: bool  # False: not sent (the child was gone, or the job too big)


class Offload:
    """Which reads the parse process gets, the jobs in flight, and each file's parser there.

    A file's backlog goes to the child from its first read of at least ``MIN_BYTES`` until the
    file turns live; its parser then lives in the child, and ``TrackedFile.remote`` holds the
    child's number for it and its state after the last answer. A live read takes the parser
    back: rebuilt here from that state, as a parked file is woken. Answers come back in the
    order of the jobs (one child, one queue), so the reader completes reads in the order it
    made them.
    """

    def __init__(
        self, counters: Counters, options: ParserOptions, redact: bool,
        process: ParseProcess | None = None,
    ) -> None:  # fmt: skip
        self.counters = counters
        self.options = options  # the reader's (set again on SIGHUP): what a new parser gets
        self.redact = redact
        self.process = process or ParseProcess()
        self.broken = False  # the child failed: parse in place for the rest of this run
        self.in_flight: deque[Pending] = deque()
        self.answered = 0  # reads whose records came from the child
        self.unanswered = 0  # reads handed to it and parsed here after all (failures, too big)
        self._next_id = 0
        self._owners: dict[int, weakref.ref[TrackedFile]] = {}

    def start(self) -> None:
        """Start the child (on the first read it gets)."""
        if self.broken:
            return
        try:
            self.process.start()
        except OSError as exc:
            self._fail(exc)

    def close(self) -> None:
        """End the child; idempotent. Reads in flight are dropped: never committed, they are
        read again from the last committed checkpoint."""
        self.in_flight.clear()
        self.process.close()

    def sweep(self, now: float) -> None:
        """Let an idle child go (its memory is the backlog's, not the daemon's)."""
        process = self.process
        if process.running and not self.in_flight and now - process.used_at >= IDLE_SECONDS:
            process.close()
            self._owners.clear()

    def wants(self, tracked: TrackedFile, read: TailRead) -> bool:
        """Should the child parse ``read`` (a backlog read of a file whose parser is there,
        or large enough to send it there)."""
        if self.broken or tracked.live or read.reset:  # a rewritten file: a new parser, here
            return False
        if tracked.remote is None:  # its parser is here: send it once its reads are done
            return line_bytes(read.lines) >= MIN_BYTES and not self.holds(tracked) and self._ready()
        return True

    def _ready(self) -> bool:
        """Is a child ready (started now when there is none): until it is, reads are parsed
        here rather than waiting for its imports."""
        if not self.process.running:
            self.start()
        try:
            return not self.broken and self.process.ready()
        except (EOFError, OSError) as exc:
            self._fail(exc)
            return False

    @property
    def full(self) -> bool:
        """As many reads in flight as the channel has slots."""
        return len(self.in_flight) >= self.process.depth

    def answer_waiting(self) -> bool:
        """Would ``collect`` return without waiting for the child."""
        if not self.in_flight:
            return False
        if self.broken or not self.in_flight[0].sent:
            return True
        return self.process.answer_waiting()

    def holds(self, tracked: TrackedFile) -> bool:
        """Has ``tracked`` reads in flight."""
        return any(p.tracked is tracked for p in self.in_flight)

    def submit(
        self, path: str, tracked: TrackedFile, read: TailRead, fragment: Fragment | None
    ) -> None:
        """Hand ``read`` to the child (its answer comes from ``collect``, in order)."""
        sent, file_id = False, 0
        if not self.broken and not self.process.running:
            self.start()
        if not self.broken:
            job = self._job(tracked, read, fragment)
            file_id = job.file_id
            try:
                sent = self.process.send(*job.parts())
            except (EOFError, OSError) as exc:
                self._fail(exc)
        self.in_flight.append(Pending(path, tracked, read, fragment, file_id, sent))

    def collect(self) -> tuple[Pending, Answer | None]:
        """The oldest read in flight and the child's answer, or None: parse it here (take the
        file's parser back first: ``TrackedFile.take_back``)."""
        pending = self.in_flight.popleft()
        tracked, answer = pending.tracked, None
        if pending.sent and not self.broken:
            try:
                answer = self._answer()
            except Exception as exc:  # gone, or an answer that cannot be read: stop using it
                self._fail(exc)
        if answer is not None and answer.error is not None:
            # Parsed here again, so any error is raised (and counted) as it would have been.
            _log.debug("parse_process_error", path=pending.path, error=answer.error)
            answer = None
        remote = tracked.remote
        if remote is None or remote.file_id != pending.file_id:
            answer = None  # an earlier read of the file was parsed here: so is this one
        if answer is None:
            self.unanswered += 1
            return pending, None
        assert remote is not None
        remote.state = answer.state
        self.answered += 1
        return pending, answer

    def _answer(self) -> Answer | None:
        body = self.process.receive()
        if body is None:
            return None
        with body:  # decoded before its slot is reused
            return Answer.decode(body)

    def _job(self, tracked: TrackedFile, read: TailRead, fragment: Fragment | None) -> Job:
        remote, generation = tracked.remote, self.process.generation
        setup = None
        if remote is None or remote.generation != generation:
            state = remote.state if remote is not None else tracked.parser.state()
            setup = Setup(tracked.source, state, self.options, tracked.sidecar)
            self._next_id += 1
            remote = tracked.remote = RemoteParser(self._next_id, generation, state)
            self._owners[remote.file_id] = weakref.ref(tracked)
        frag = (fragment.offset, fragment.data) if fragment is not None else None
        return Job(remote.file_id, read.lines, setup, frag, self.redact, self._drops())

    def _drops(self) -> list[int]:
        """The child's parsers whose files let go of them (closed, parked, taken back)."""
        if len(self._owners) < 64:
            return []
        drops = []
        for file_id, ref in list(self._owners.items()):
            tracked = ref()
            if tracked is None or tracked.remote is None or tracked.remote.file_id != file_id:
                drops.append(file_id)
                del self._owners[file_id]
        return drops

    def _fail(self, exc: BaseException) -> None:
        self.broken = True
        self.counters.add("parse_process_failures")
        _log.warning("parse_process_failed", error=repr(exc), fallback="parsing in the daemon")
        self.process.close()
        self._owners.clear()
