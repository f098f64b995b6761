"""What crosses the pipe to the parse process: jobs of transcript lines, answers of records.

A backlog read is parsed in a child process (collector.ingest.parse_process) so the parse runs
beside the writer instead of taking turns with it for this process's interpreter lock. Both ends
are plain values here, with no I/O: a job names the file's parser in the child (and, the first
time, how to build it), carries the read's lines, and the answer carries the records, the
parser's state after them and the number of redactions. A read's lines travel as the block of
bytes they were read in (``collector.ingest.lines.LineBlock``) after a small header, so the
child splits them, not the daemon.

Encoded with ``marshal``, not ``pickle``: pickling the records runs Python code per record (a
process pool that pickled them was measured slower than parsing in place); as tuples of
str/int/None they cross in marshal's C loops. Each record type is rebuilt positionally from its
``__match_args__`` (its fields in order).
"""

from __future__ import annotations

import marshal
import struct
from collections.abc import Callable, Iterable, Sequence
from operator import attrgetter
from typing import Any

import msgspec

from collector.ingest.lines import LineBlock, Lines, line_bytes
from collector.parsers import ParserOptions, TranscriptParser, make_parser
from collector.parsers.sources import SourceFile
from collector.privacy import scrub_records
from store.records import RECORD_TYPES, Record

__all__ = [
    "Answer", "Job", "JobRunner", "Setup", "line_bytes", "pack_records", "parse_lines",
    "unpack_records",
]  # fmt: skip

_BOM = b"\xef\xbb\xbf"
_HEADER_LENGTH = struct.Struct("=I")  # a job's header, before its block of lines

_INDEX = {cls: i for i, cls in enumerate(RECORD_TYPES)}
_VALUES: list[Callable[[Any], tuple[Any, ...]]] = [
    attrgetter(*cls.__match_args__) for cls in RECORD_TYPES
]


def parse_lines(
    parser: TranscriptParser,
    lines: Iterable[tuple[int, bytes]],
    fragment: tuple[int, bytes] | None = None,
) -> list[Record]:
    """The records of a read's complete lines and of a fragment given up on, in order (a BOM
    at the start of the file is not JSON). The same code runs in both processes."""
    records: list[Record] = []
    parse, add = parser.parse_line, records.extend  # looked up once per read
    for offset, line in lines:
        add(parse(line[len(_BOM) :] if offset == 0 and line.startswith(_BOM) else line, offset))
    if fragment is not None:
        add(parse(fragment[1], fragment[0]))
    return records


def pack_records(records: Sequence[Record]) -> list[tuple[int, tuple[Any, ...]]]:
    """Records as (type number, field values) pairs, in order."""
    index, values = _INDEX, _VALUES
    return [(i, values[i](r)) for r in records for i in (index[type(r)],)]


def unpack_records(packed: Sequence[tuple[int, Sequence[Any]]]) -> list[Record]:
    """The records ``pack_records`` was given."""
    types = RECORD_TYPES
    return [types[i](*values) for i, values in packed]


class Setup(msgspec.Struct, frozen=True):
    """How the child builds a file's parser: as this process would (``TrackedFile.resume``)."""

    source: SourceFile
    state: dict[str, Any] | None
    options: ParserOptions
    sidecar: dict[str, Any] | None

    def wire(self) -> tuple[Any, ...]:
        s, o = self.source, self.options
        source = (s.agent, s.path, s.session_id, s.kind, s.parent_session_id, s.subagent_id,
                  s.sidecar_path)  # fmt: skip
        return (source, self.state, (o.args_cap, o.raw_cap, o.preview_chars), self.sidecar)

    @classmethod
    def from_wire(cls, wire: Sequence[Any]) -> Setup:
        source, state, options, sidecar = wire
        return cls(SourceFile(*source), state, ParserOptions(*options), sidecar)

    def parser(self) -> TranscriptParser:
        return make_parser(self.source, self.state, self.options, self.sidecar)


class Job(msgspec.Struct):
    """Parse ``lines`` (and ``fragment``) with the child's parser ``file_id``; build that
    parser from ``setup`` first when given. ``drops``: parsers this process let go of."""

    file_id: int
    lines: Lines
    setup: Setup | None = None
    fragment: tuple[int, bytes] | None = None
    redact: bool = True
    drops: list[int] = msgspec.field(default_factory=list)

    def parts(self) -> tuple[bytes, bytes | memoryview]:
        """The encoded job in two pieces: the header (its length first), then the block's
        bytes as they were read (sent as they are, not copied into one body first)."""
        setup = self.setup.wire() if self.setup is not None else None
        lines = self.lines
        if not isinstance(lines, LineBlock):
            lines = LineBlock(list(lines))
        header = marshal.dumps((self.file_id, setup, lines.head, lines.start, lines.count,
                                self.fragment, self.redact, self.drops))  # fmt: skip
        return _HEADER_LENGTH.pack(len(header)) + header, lines.data

    def encode(self) -> bytes:
        """The job as one body (``parts`` joined)."""
        return b"".join(self.parts())

    @classmethod
    def decode(cls, data: bytes | memoryview) -> Job:
        end = _HEADER_LENGTH.size + _HEADER_LENGTH.unpack_from(data)[0]
        file_id, setup, head, start, count, fragment, redact, drops = marshal.loads(
            data[_HEADER_LENGTH.size : end]
        )
        built = Setup.from_wire(setup) if setup is not None else None
        lines = LineBlock(head, start, bytes(data[end:]), count)
        return cls(file_id, lines, built, fragment, redact, drops)


class Answer(msgspec.Struct):
    """A job's outcome: its records (redacted when asked), the parser's state after them and
    the redactions made; or ``error``, after which the child has forgotten the parser."""

    records: list[Record] = msgspec.field(default_factory=list)
    state: dict[str, Any] | None = None
    redactions: int = 0
    error: str | None = None

    def encode(self) -> bytes:
        if self.error is not None:
            return marshal.dumps((None, None, 0, self.error))
        return marshal.dumps((pack_records(self.records), self.state, self.redactions, None))

    @classmethod
    def decode(cls, data: bytes | memoryview) -> Answer:
        packed, state, redactions, error = marshal.loads(data)
        if error is not None:
            return cls(error=error)
        return cls(unpack_records(packed), state, redactions)


class JobRunner:
    """The child's side: the parsers of the files it was handed, and one job at a time."""

    def __init__(self) -> None:
        self._parsers: dict[int, TranscriptParser] = {}

    def __len__(self) -> int:
        return len(self._parsers)

    def run(self, data: bytes | memoryview) -> bytes:
        """An encoded job in, its encoded answer out. Never raises for one bad job: the
        parser that failed is forgotten (the other process parses that read itself)."""
        try:
            job = Job.decode(data)
        except Exception as exc:  # a job this end cannot read: say so, keep serving
            return Answer(error=f"bad job: {exc!r}").encode()
        for file_id in job.drops:
            self._parsers.pop(file_id, None)
        try:
            return self._answer(job).encode()
        except Exception as exc:
            self._parsers.pop(job.file_id, None)
            return Answer(error=f"{type(exc).__name__}: {exc}").encode()

    def _answer(self, job: Job) -> Answer:
        if job.setup is not None:
            self._parsers[job.file_id] = job.setup.parser()
        parser = self._parsers[job.file_id]
        records = parse_lines(parser, job.lines, job.fragment)
        redactions = scrub_records(records) if job.redact else 0
        return Answer(records, parser.state(), redactions)
