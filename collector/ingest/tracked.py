"""One transcript being read: its source, tail and parser, its lane, and what was handed on.

A ``TrackedFile`` exists only while its file is open (being read, or kept hot); a caught-up
file is parked as a ``SavedFile`` (collector.ingest.parked) and its tail and parser are freed.
"""

from __future__ import annotations

import time
from operator import countOf
from typing import Any

import msgspec

from collector.ingest.checkpoint import Checkpoint
from collector.ingest.parked import Handover, SavedFile, decode_state
from collector.ingest.parse_jobs import Answer, line_bytes, parse_lines
from collector.ingest.sidecars import read_sidecar
from collector.ingest.tail import FileTail, Fragment, TailRead
from collector.parsers import ParserOptions, TranscriptParser, make_parser
from collector.parsers.sanitize import line_prefix
from collector.parsers.sources import SourceFile
from store.records import FileUpdate, ParseProblem, Record

__all__ = ["Parsed", "RemoteParser", "TrackedFile"]


def _sidecar(source: SourceFile) -> dict[str, Any] | None:
    return read_sidecar(source.sidecar_path) if source.sidecar_path else None


class RemoteParser(msgspec.Struct):
    """A file's parser living in the parse process (collector.ingest.parse_process): its
    number there, the child it lives in, and its state after the last answer."""

    file_id: int
    generation: int
    state: dict[str, Any] | None


class Parsed(msgspec.Struct):
    """What one read of a file parsed into, and the checkpoint after it."""

    records: list[Record]
    nbytes: int
    checkpoint: Checkpoint
    problems: int  # ParseProblem records, oversized lines included


class TrackedFile:
    """One file being tailed: its source, tail and parser, and what was last handed on."""

    __slots__ = (
        "__weakref__", "active_at", "adopted", "bulk_done", "bulk_sent", "doc_hash", "handover",
        "live", "parser", "remote", "sent", "session_key", "sidecar", "size", "source", "tail",
    )  # fmt: skip

    def __init__(
        self,
        source: SourceFile,
        tail: FileTail | None,
        parser: TranscriptParser,
        sent: SavedFile,
        sidecar: dict[str, Any] | None = None,
    ) -> None:
        self.source = source
        self.tail = tail
        self.parser = parser
        self.sidecar = sidecar  # what the parser was built with (the parse process's is too)
        self.remote: RemoteParser | None = None  # set while the parser is in the parse process
        self.doc_hash: str | None = None
        # The checkpoint and parser state of the last chunk put on the writer's queue: where
        # reading resumes if processing this file fails halfway (see ReaderThread._rewind).
        self.sent = sent
        self.handover = Handover()  # are the chunks handed on committed (see _park)
        # Lane (collector.ingest.lanes): backlog until a read reaches the end with no backlog chunk
        # of this file still queued; live from then on. bulk_done is counted by the writer.
        self.live = False
        self.bulk_sent = 0
        self.bulk_done = 0
        self.size = -1  # file size at the last read: a rescan seeing another size marks it
        self.active_at = time.monotonic()  # when it was last seen written to (see _hot)
        self.adopted = False  # renamed here from a known path: its files row is still to write
        self.session_key = sent.session_key  # set when not the session its path names

    @classmethod
    def resume(
        cls, source: SourceFile, saved: SavedFile | None, options: ParserOptions, max_line: int
    ) -> TrackedFile:
        """Open ``source`` where ``saved`` left it (from the start without it), in the session
        ``saved`` names when that is not its path's (a renamed file)."""
        if saved is not None and saved.session_key not in (None, source.session_id):
            source = msgspec.structs.replace(source, session_id=saved.session_key)
        elif saved is not None and saved.session_key is not None:
            saved = saved.without_session()
        state = decode_state(saved.parser_state) if saved else None
        sidecar = _sidecar(source)
        parser = make_parser(source, state, options, sidecar)
        tail = None
        if source.kind == "jsonl":
            tail = FileTail(source.path, saved.checkpoint if saved else None, max_line)
        tracked = cls(source, tail, parser, saved or SavedFile(None, None), sidecar)
        tracked.live = bool(saved and saved.live)
        if saved and saved.checkpoint and source.kind == "json-document":
            tracked.doc_hash = saved.checkpoint.marker_hash
        return tracked

    def close(self) -> None:
        """Release its descriptor (and its parser in the parse process) for good; idempotent."""
        if self.tail is not None:
            self.tail.close()
        self.remote = None

    def reopen(self, options: ParserOptions) -> None:
        """A fresh parser (the file was rewritten), its sidecar read again."""
        self.sidecar = _sidecar(self.source)
        self.parser = make_parser(self.source, None, options, self.sidecar)
        self.remote = None

    def take_back(self, options: ParserOptions) -> None:
        """Rebuild here the parser that lives in the parse process, from its last state."""
        if self.remote is not None:
            self.parser = make_parser(self.source, self.remote.state, options, self.sidecar)
            self.remote = None

    def parser_state(self) -> dict[str, Any]:
        """The parser's state after the last read, wherever the parser lives."""
        if self.remote is not None:
            return self.remote.state or {}
        return self.parser.state()

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

    def parse(
        self, read: TailRead, fragment: Fragment | None = None, answer: Answer | None = None
    ) -> Parsed:
        """Parse a read's lines (and a fragment given up on), or take the parse process's
        ``answer`` for them; an oversized line becomes a problem record naming its size and
        hash."""
        if answer is not None:
            records = answer.records
        else:
            frag = (fragment.offset, fragment.data) if fragment is not None else None
            records = parse_lines(self.parser, read.lines, frag)
        nbytes = line_bytes(read.lines) + len(read.lines)
        checkpoint = read.checkpoint
        if fragment is not None:
            nbytes += len(fragment.data)
            checkpoint = fragment.checkpoint
        for big in read.oversized:
            reason = f"oversized line: {big.size} bytes, sha256 {big.sha256}"
            prefix = line_prefix(big.prefix)
            records.append(ParseProblem(self.source.path, big.offset, reason, prefix))
            nbytes += big.size + 1
        problems = countOf(map(type, records), ParseProblem)  # in C: a chunk has ~1,000
        return Parsed(records, nbytes, checkpoint, problems)

    def file_update(self, read: TailRead, parsed: Parsed) -> FileUpdate:
        """The ``files`` row to commit with a read's records."""
        source = self.source
        return FileUpdate(
            path=source.path, agent=source.agent, session_key=source.session_id,
            checkpoint=parsed.checkpoint.to_dict(), parser_state=self.parser_state(),
            size=read.size, lines=len(read.lines), problems=parsed.problems,
            oversized=len(read.oversized), reset=read.reset, deleted=read.deleted or read.moved,
        )  # fmt: skip
