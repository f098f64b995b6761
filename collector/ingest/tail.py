"""Read one transcript file: complete lines, an exact resumable position, and its identity.

``FileTail`` is the I/O edge for a single path, driven by the reader thread. Everything it needs
to resume is in a ``Checkpoint`` value, which the writer commits in the same SQLite transaction as
the events of the lines before it; after a crash the daemon rebuilds the tail from the last
committed checkpoint and re-reads whatever came after it (a held partial line included).

Identity: a file is known by more than its inode, so a replaced, rewritten or reused file is never
mistaken for the one whose offset we hold, and a renamed one is not read twice; the
``Checkpoint`` and its checks live in ``collector.ingest.checkpoint``, whose docstring has the
decision table. The tail applies it whenever it opens the path (first poll, and every poll after
it closed the descriptor at EOF).

Descriptors: idle files must cost nothing, running out of descriptors must never lose or re-read a
line, and a file deleted before it was fully read is still read to its end. The descriptor stays
open only while data remains (a poll stopped at ``max_bytes``); a poll that reaches EOF closes it,
so idle files hold none and each wake-up costs one ``open``, ``fstat`` and two small ``pread``s. A
file unlinked while the descriptor is open is drained through it to EOF and reported
``deleted=True``. The caller must clear the file's dirty mark *before* polling, so an append racing
with the EOF close marks it again.

Ordinary file problems never raise. If the path is missing, the read is ``deleted=True`` with
nothing read; any other ``OSError`` (permission denied, EMFILE) is reported in ``error`` and the
position is kept, so a retry neither loses nor re-reads anything. When there is nothing to
report against — no checkpoint was given and the file was never opened — ``poll`` returns
None and ``last_error`` says why. Only misuse (polling a closed tail, bad arguments) raises.
"""

from __future__ import annotations

import os
import stat

import msgspec

from collector.ingest.checkpoint import (
    HEAD_BYTES,
    MARKER_BYTES,
    Checkpoint,
    Verified,
    open_regular,
    same_file,
    sha,
    verify,
)
from collector.ingest.lines import LineBlock, Lines, LineSplitter, OversizedLine

# Checkpoint, open_regular and same_file are named here too for callers of the earlier layout.
__all__ = [
    "HEAD_BYTES", "MARKER_BYTES", "Checkpoint", "FileTail", "Fragment", "TailRead", "open_regular",
    "same_file",
]  # fmt: skip


def _describe(exc: OSError) -> str:
    """A one-line reason for an ordinary file problem: ``PermissionError: Permission denied``."""
    return f"{type(exc).__name__}: {exc.strerror or exc}"


class Fragment(msgspec.Struct, frozen=True):
    """An unterminated last line handed out under the EOF policy, and the position after it."""

    offset: int
    data: bytes
    checkpoint: Checkpoint


class TailRead(msgspec.Struct, frozen=True):
    """The outcome of one poll.

    ``checkpoint`` is the position after the last complete (or oversized) line returned; the
    writer commits it with these lines' events. ``partial_bytes`` is the unterminated fragment
    read past it and held back. A read flagged ``error`` or ``deleted`` before anything could be
    read has no lines, ``eof=True`` and ``size=0``.
    """

    checkpoint: Checkpoint
    lines: Lines = msgspec.field(default_factory=list)
    oversized: list[OversizedLine] = msgspec.field(default_factory=list)
    reset: bool = False
    reset_reason: str | None = None
    eof: bool = False
    size: int = 0
    deleted: bool = False
    error: str | None = None
    partial_bytes: int = 0
    moved: bool = False  # drained to EOF, and the path no longer names this file (renamed)


class FileTail:
    """Tail one path: complete lines since the checkpoint, and the checkpoint after them."""

    def __init__(
        self,
        path: str,
        checkpoint: Checkpoint | None,
        max_line_bytes: int,
        chunk_bytes: int = 1 << 20,
    ) -> None:
        if chunk_bytes < 1:
            raise ValueError(f"chunk_bytes must be >= 1, got {chunk_bytes}")
        self._path = path
        self._max_line = max_line_bytes
        self._chunk = chunk_bytes
        self._saved = checkpoint
        self._splitter = LineSplitter(max_line_bytes, checkpoint.offset if checkpoint else 0)
        self._fd: int | None = None
        self._closed = False
        self._identity: tuple[int, int] | None = None
        self._head = b""
        self._recent = b""  # the MARKER_BYTES bytes before the read position
        self._marker = b""  # the MARKER_BYTES bytes before the committed offset
        self._head_cache: tuple[int, str] = (0, sha(b""))
        self._pending_reset: str | None = None
        self.last_error: str | None = None

    @property
    def path(self) -> str:
        """The path this tail follows."""
        return self._path

    @property
    def holds_descriptor(self) -> bool:
        """True while a descriptor is open (between a poll that stopped short of EOF and EOF)."""
        return self._fd is not None

    @property
    def buffered_bytes(self) -> int:
        """Bytes of a partial line held in memory; bounded by ``max_line_bytes``."""
        return self._splitter.buffered

    @property
    def checkpoint(self) -> Checkpoint | None:
        """The position after the last complete line read, or the one given if none read yet."""
        if self._identity is None:
            return self._saved
        return self._checkpoint_at(self._splitter.committed_end, self._marker)

    def close(self) -> None:
        """Release the descriptor; later polls refuse. Safe to call more than once."""
        self._release()
        self._closed = True

    def __enter__(self) -> FileTail:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def poll(self, max_bytes: int, keep_open: bool = False) -> TailRead | None:
        """Read up to about ``max_bytes`` more and return the complete lines among them.

        ``keep_open``: keep the descriptor at EOF (a file being written to), so lines appended
        just before a rename or unlink are still read through it. At each EOF the path is then
        checked: gone (or another file) means this one is drained and done — ``deleted`` when
        unlinked, ``moved`` when it lives on under another name.
        """
        if self._closed:
            raise RuntimeError(f"poll on a closed FileTail ({self._path})")
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be >= 1, got {max_bytes}")
        try:
            return self._poll(max_bytes, keep_open)
        except OSError as exc:
            self._release()
            return self._problem(error=_describe(exc))

    def take_fragment(self) -> Fragment | None:
        """Hand out the held unterminated last line and move the checkpoint past it (a
        last line without ``\\n`` is stored only once its file is gone).

        Only for when no ``\\n`` can follow any more (the read said ``deleted``, or the caller's
        idle policy gave up on the writer); None if nothing is held or it was oversized.
        """
        if self._identity is None:
            return None
        taken = self._splitter.take_fragment()
        if taken is None:
            return None
        self._marker = self._recent
        cp = self._checkpoint_at(self._splitter.committed_end, self._marker)
        return Fragment(taken[0], taken[1], cp)

    def release(self) -> None:
        """Close the descriptor kept past EOF (the file went quiet); polls may go on."""
        self._release()

    def _poll(self, max_bytes: int, keep_open: bool) -> TailRead | None:
        if self._fd is not None and os.fstat(self._fd).st_size < self._splitter.position:
            self._release()  # shrank under us: decide afresh below
        if self._fd is None:
            try:
                fd = open_regular(self._path)
            except FileNotFoundError:
                return self._problem(deleted=True)
            self._fd = fd
            self._attach(fd)
        lines = [LineBlock([])]  # the read's lines so far: kept if a later step fails
        oversized: list[OversizedLine] = []
        try:
            eof = self._read(self._fd, max_bytes, lines, oversized)
            st = os.fstat(self._fd)
        except OSError as exc:
            # Lines already consumed must still be handed out, or the in-memory position would
            # run ahead of what the writer ever sees.
            self._release()
            return self._result(lines[0], oversized, eof=True, error=_describe(exc))
        self.last_error = None
        deleted, moved = st.st_nlink == 0, False
        if eof and keep_open:
            gone = deleted or self._path_moved(st)
            if gone and self._path_taken():  # replaced: the new file is read on the next poll
                self._release()
                return self._result(lines[0], oversized, eof=False, size=st.st_size)
            moved = gone and not deleted
        if eof and not (keep_open and not deleted and not moved):
            self._release()
        return self._result(lines[0], oversized, eof=eof, size=st.st_size, deleted=deleted,
                            moved=moved)  # fmt: skip

    def _path_moved(self, st: os.stat_result) -> bool:
        """Does the path no longer name the open file (a stat of the path, no open)."""
        try:
            now = os.stat(self._path, follow_symlinks=False)
        except FileNotFoundError:
            return True
        return (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino)

    def _path_taken(self) -> bool:
        return os.path.lexists(self._path)

    def _result(
        self,
        lines: Lines,
        oversized: list[OversizedLine],
        *,
        eof: bool,
        size: int = 0,
        deleted: bool = False,
        error: str | None = None,
        moved: bool = False,
    ) -> TailRead:
        """Package a read, reporting a pending reset exactly once."""
        reason, self._pending_reset = self._pending_reset, None
        return TailRead(
            checkpoint=self._checkpoint_at(self._splitter.committed_end, self._marker),
            lines=lines,
            oversized=oversized,
            reset=reason is not None,
            reset_reason=reason,
            eof=eof,
            size=size,
            deleted=deleted,
            error=error,
            partial_bytes=self._splitter.pending,
            moved=moved,
        )

    def _attach(self, fd: int) -> None:
        """Decide where to read an opened file from, noting a reset for the next read."""
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(0, f"not a regular file: {self._path}")
        if self._identity is not None and self._splitter.pending:
            here = self._checkpoint_at(self._splitter.position, self._recent)
            if verify(fd, st, here).reason is None:
                self._identity = (st.st_dev, st.st_ino)
                return
        cp = self.checkpoint
        found = verify(fd, st, cp) if cp is not None else Verified(None)
        self._identity = (st.st_dev, st.st_ino)
        if found.reason is None and cp is not None:
            self._start(cp.offset, found.head, found.marker)
        else:
            self._start(0, b"", b"")
        if found.reason is not None:
            # Kept until a read reports it: an error right after the restart must not hide it.
            self._pending_reset = found.reason

    def _start(self, offset: int, head: bytes, marker: bytes) -> None:
        """Restart line splitting at ``offset`` with the bytes known to precede it."""
        self._splitter = LineSplitter(self._max_line, offset)
        self._head = head
        self._recent = self._marker = marker
        self._head_cache = (0, sha(b""))

    def _read(
        self,
        fd: int,
        max_bytes: int,
        lines: list[LineBlock],
        oversized: list[OversizedLine],
    ) -> bool:
        """Read chunks into ``lines[0]``/``oversized`` until ``max_bytes`` or EOF; True at EOF.

        A short read of a regular file means EOF for now; adding to the caller's block and
        list as we go keeps what was consumed even if a later read fails.
        """
        total = 0
        while total < max_bytes:
            want = min(self._chunk, max_bytes - total)
            chunk = os.pread(fd, want, self._splitter.position)
            self._consume(chunk, lines, oversized)
            total += len(chunk)
            if len(chunk) < want:
                return True
        return False

    def _consume(
        self, chunk: bytes, lines: list[LineBlock], oversized: list[OversizedLine]
    ) -> None:
        """Feed a chunk and keep the head and marker bytes in step with what was read."""
        begin = self._splitter.position
        before = self._splitter.committed_end
        lines[0] = lines[0].then(self._splitter.feed_block(chunk, oversized))
        after = self._splitter.committed_end
        if after != before:
            # The marker must fingerprint exactly the bytes before the committed offset, as read
            # here, so a checkpoint never vouches for bytes it did not see.
            upto = after - begin
            recent = self._recent + chunk[max(0, upto - MARKER_BYTES) : upto]
            self._marker = recent[-MARKER_BYTES:]
        self._recent = (self._recent + chunk[-MARKER_BYTES:])[-MARKER_BYTES:]
        if len(self._head) < HEAD_BYTES and begin <= len(self._head):
            self._head += chunk[len(self._head) - begin : HEAD_BYTES - begin]

    def _checkpoint_at(self, offset: int, marker: bytes) -> Checkpoint:
        """The checkpoint for ``offset``, whose preceding bytes are ``marker``."""
        assert self._identity is not None
        head_len = min(offset, HEAD_BYTES)
        if self._head_cache[0] != head_len:
            self._head_cache = (head_len, sha(self._head[:head_len]))
        dev, inode = self._identity
        return Checkpoint(dev, inode, offset, self._head_cache[1], head_len, sha(marker))

    def _problem(self, *, deleted: bool = False, error: str | None = None) -> TailRead | None:
        """A read with nothing in it, or None when there is no position to report against."""
        self.last_error = error or ("vanished" if deleted else None)
        if self._identity is not None:
            return self._result([], [], eof=True, deleted=deleted, error=error)
        if self._saved is None:
            return None
        return TailRead(self._saved, eof=True, deleted=deleted, error=error)

    def _release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
