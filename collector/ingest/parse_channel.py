"""The channel between the daemon and its parse process: bodies in shared memory, notes on two
pipes.

Why not a pipe or socket for the bodies: a megabyte written through a buffer of a few hundred
kilobytes takes several system calls, and the daemon's reader thread lets the interpreter lock go
around each one; getting it back means waiting for the writer thread to be told to yield (up to
the switch interval, every time). Measured, sending the 200 MiB corpus through the socket cost the
reader 0.7 s of waiting. Here a body is copied into a slot of a shared memory file and
only a 9-byte note crosses a pipe (atomically): one system call each way per message.

Each direction has the same number of slots (``DEPTH`` in collector.ingest.parse_child), used in
turn: the daemon keeps at most that many jobs in flight and reads an answer before it sends the
job that reuses its slot, so a slot is never written while its message is unread. A job larger
than a slot is not sent, and an answer larger than a slot is replaced by a ``TOO_BIG`` note: the
daemon parses that read itself.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import struct

__all__ = ["TOO_BIG", "Channel", "shared_file", "size"]

_NOTE = struct.Struct("!BQ")  # kind, body length
_IN_SLOT, TOO_BIG, _READY = 0, 1, 2
# The shared file starts with a header the child writes: its ready flag and how many answers it
# has sent. The slots follow, page-aligned.
_COUNT = struct.Struct("=Q")
_READY_AT, _ANSWERS_AT, _HEADER = 0, 8, 4096


def size(slot: int, slots: int) -> int:
    """The shared file's size for ``slots`` slots of ``slot`` bytes each way."""
    return _HEADER + 2 * slots * slot


def shared_file(size: int) -> int:
    """A file descriptor of ``size`` bytes of memory both processes can map."""
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("agent-viz-monitor-parse", os.MFD_CLOEXEC)
    else:  # macOS: an unlinked temporary file (its pages stay in the page cache)
        import tempfile

        with tempfile.TemporaryFile() as handle:
            fd = os.dup(handle.fileno())
    os.ftruncate(fd, size)
    return fd


class Channel:
    """One end: ``send`` a body, ``receive`` the other end's next body (a memoryview valid until
    the next ``receive`` of the same slot; decode it before then)."""

    def __init__(
        self, pipes: tuple[int, int], fd: int, slot: int, slots: int, *, daemon: bool
    ) -> None:
        self.incoming, self.outgoing = pipes  # the read end of one pipe, the write end of another
        self.slot = slot
        self.slots = slots  # per direction
        self._map = mmap.mmap(fd, size(slot, slots))
        self._view = memoryview(self._map)
        # The daemon writes jobs in the first half of the slots and reads answers in the other.
        self._out, self._in = (0, slots) if daemon else (slots, 0)
        self._sent = self._received = 0
        self._ready = False

    def send(
        self, body: bytes | memoryview | None, *more: bytes | memoryview, answer: bool = False
    ) -> bool:
        """Send ``body`` (followed by ``more``, copied into the slot piece by piece, not joined
        first); False when it does not fit a slot: a job is then not sent at all, an answer (or
        None, no answer) is sent as a ``TOO_BIG`` note, in its turn."""
        length = len(body) + sum(map(len, more)) if body is not None else 0
        if body is None or length > self.slot:
            if answer:
                self._note(TOO_BIG, length, answer)
                self._sent += 1
            return False
        at = _HEADER + (self._out + self._sent % self.slots) * self.slot
        for piece in (body, *more):
            self._view[at : at + len(piece)] = piece
            at += len(piece)
        self._note(_IN_SLOT, length, answer)
        self._sent += 1
        return True

    def say_ready(self) -> None:
        """The child has imported what it needs: jobs are answered from now on."""
        _COUNT.pack_into(self._view, _READY_AT, 1)
        self._note(_READY, 0)

    def ready(self) -> bool:
        """Has the child said it is ready (a look at the shared header: no system call)."""
        flag: int = _COUNT.unpack_from(self._view, _READY_AT)[0]
        return self._ready or flag == 1

    def waiting(self) -> bool:
        """Would ``receive`` return at once: the child's count of answers in the shared
        header is ahead of ours (no system call, so no trip through the interpreter lock;
        the body itself is read after its note, which orders it)."""
        answers: int = _COUNT.unpack_from(self._view, _ANSWERS_AT)[0]
        return answers > self._received

    def receive(self) -> memoryview | None:
        """The next body, or None when the other end's was too big; EOFError at the end."""
        kind, size = _NOTE.unpack(self._exactly(_NOTE.size))
        if kind == _READY and not self._ready:  # (answers follow it)
            self._ready = True
            kind, size = _NOTE.unpack(self._exactly(_NOTE.size))
        elif kind == _READY:
            raise OSError("parse channel: a second ready note")
        index = self._received % self.slots
        self._received += 1
        if kind != _IN_SLOT:
            return None
        if size > self.slot:
            raise OSError(f"parse channel: a {size}-byte body for a {self.slot}-byte slot")
        start = _HEADER + (self._in + index) * self.slot
        return self._view[start : start + size]

    def _note(self, kind: int, size: int, answer: bool = False) -> None:
        if answer:  # counted in the header first: a look at it says an answer is on its way
            _COUNT.pack_into(self._view, _ANSWERS_AT, self._sent + 1)
        # One write of fewer than PIPE_BUF bytes: atomic, never split.
        if os.write(self.outgoing, _NOTE.pack(kind, size)) != _NOTE.size:
            raise OSError("parse channel: a note was cut")

    def _exactly(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            more = os.read(self.incoming, size - len(data))
            if not more:
                raise EOFError("parse channel closed")
            data += more
        return data

    def close(self) -> None:
        """Close the pipes and the mapping; idempotent."""
        for fd in (self.incoming, self.outgoing):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.incoming = self.outgoing = -1
        try:
            self._view.release()
            self._map.close()
        except BufferError:  # a body still referenced: the mapping goes with its last view
            pass
