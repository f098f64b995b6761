"""Split a byte stream into complete lines, with exact byte offsets and bounded memory.

Pure core: bytes in, lines out, no I/O. The tailer feeds whatever chunks ``read()`` returned;
this module decides what a line is.

- Lines end at ``b"\\n"`` only. ``str.splitlines()`` also breaks on ``\\r``, U+2028 and U+2029,
  which Node's ``JSON.stringify`` leaves raw inside JSON strings (github/copilot-cli#2490), so a
  ``\\r`` or the bytes ``e2 80 a8`` stay inside the line they occur in.
- Only complete lines come out. A trailing fragment without its ``\\n`` is held until the newline
  arrives, because a checkpoint taken after a partial line would cut that line in two for good.
- A line longer than ``max_line_bytes`` (agent transcripts carry multi-MB tool outputs) is never
  buffered whole: once the held fragment would exceed the bound, its bytes are hashed
  incrementally, the first ``PREFIX_BYTES`` are kept and the rest is dropped. When its newline
  arrives it is reported once as an ``OversizedLine`` and the stream goes on: a huge line is bounded
  in memory and never stops the file.

The tailer calls ``feed_block``: a chunk's complete lines stay the bytes they arrived in, a
``LineBlock`` found with two ``memchr``s, a count and one copy, and only whoever iterates the
block splits it into ``(start, data)`` lines. A backlog read goes to the parse process that
way, so the daemon's reader neither splits it nor encodes a list of its lines: the child splits
it (bench/README.md, "The critical path of a full ingest"). ``feed_into`` splits as it goes: a
line costs one ``memchr``, one copy of its bytes and a ``(start, data)`` tuple. Either way a
held fragment is kept as the pieces it arrived in and joined once. ``feed`` returns the same
``(start, data)`` lines and the oversized ones in one list, in stream order (tests compare it
with a reference split).
"""

from __future__ import annotations

from collections.abc import Iterator
from operator import itemgetter

import msgspec

from collector.digests import sha256

__all__ = ["PREFIX_BYTES", "LineBlock", "LineSplitter", "Lines", "OversizedLine", "line_bytes"]

PREFIX_BYTES = 256


class OversizedLine(msgspec.Struct, frozen=True):
    """A line longer than the bound, kept only as its size, hash and a short prefix.

    ``size`` and ``sha256`` cover the line without its ``\\n``, so the line occupies
    ``[offset, offset + size + 1)`` of the stream.
    """

    offset: int
    size: int
    sha256: str
    prefix: bytes

    @property
    def end(self) -> int:
        """Offset just after this line's ``\\n``."""
        return self.offset + self.size + 1


class LineBlock:
    """Complete lines, mostly still in the bytes they were read in: the lines of ``head``
    (each ``(start, data)``: one completed from a held fragment), then ``count`` lines in
    ``data``, each ending in ``\\n``, the first at stream offset ``start``.

    Iterating gives ``(start, data)`` lines, as a list of them would; ``len`` counts them and
    ``nbytes`` sums their bytes without their newlines, both without splitting.
    """

    __slots__ = ("count", "data", "head", "start")

    def __init__(
        self,
        head: list[tuple[int, bytes]],
        start: int = 0,
        data: bytes | memoryview = b"",
        count: int = 0,
    ) -> None:
        self.head = head
        self.start = start
        self.data = data
        self.count = count

    def __len__(self) -> int:
        return len(self.head) + self.count

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        yield from self.head
        data, start, pos = self.data, self.start, 0
        if isinstance(data, memoryview):  # the read's own buffer: copied once, to split here
            data = data.tobytes()
        find = data.find
        newline = find(b"\n")
        while newline >= 0:
            yield start + pos, data[pos:newline]
            pos = newline + 1
            newline = find(b"\n", pos)

    def __eq__(self, other: object) -> bool:
        """Equal to the same lines, as a block or as a list."""
        if isinstance(other, LineBlock | list):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by its lines

    def __repr__(self) -> str:
        return f"LineBlock({list(self)!r})"

    @property
    def nbytes(self) -> int:
        """The lines' bytes, newlines not counted."""
        return sum(len(line) for _, line in self.head) + len(self.data) - self.count

    def then(self, later: LineBlock) -> LineBlock:
        """These lines and then ``later``'s (a poll of several chunks; ``later`` keeps its
        block, these become head lines)."""
        if not len(later):
            return self
        if not len(self):
            return later
        return LineBlock([*self, *later.head], later.start, later.data, later.count)


# A read's complete lines: a block, or a plain list (what tests and older callers build).
Lines = LineBlock | list[tuple[int, bytes]]
_LINE = itemgetter(1)


def line_bytes(lines: Lines) -> int:
    """The bytes of a read's lines, newlines not counted (in C loops for a list: a read has
    thousands)."""
    if isinstance(lines, LineBlock):
        return lines.nbytes
    return sum(map(len, map(_LINE, lines)))


class _Oversize:
    """The running state of a line that has already crossed the bound."""

    __slots__ = ("hasher", "prefix", "size")

    def __init__(self) -> None:
        self.hasher = sha256()
        self.prefix = b""
        self.size = 0

    def add(self, piece: bytes | bytearray | memoryview) -> None:
        """Hash ``piece`` and keep whatever of it still fits in the prefix."""
        self.hasher.update(piece)
        if len(self.prefix) < PREFIX_BYTES:
            self.prefix += bytes(piece[: PREFIX_BYTES - len(self.prefix)])
        self.size += len(piece)


class LineSplitter:
    """Turn arbitrary chunks of one byte stream into complete lines.

    ``start_offset`` is the stream offset of the first byte that will be fed, so a splitter
    recreated at a checkpoint reports the same offsets as the one that wrote it.

    Read-only for callers: ``max_line_bytes``, the longest line (without its ``\\n``) returned
    whole; ``committed_end``, the offset just after the last complete or oversized line
    (everything before it is consumed); ``position``, the offset of the next byte to be fed
    (``committed_end`` plus the held fragment).
    """

    def __init__(self, max_line_bytes: int, start_offset: int = 0) -> None:
        if max_line_bytes < 1:
            raise ValueError(f"max_line_bytes must be >= 1, got {max_line_bytes}")
        if start_offset < 0:
            raise ValueError(f"start_offset must be >= 0, got {start_offset}")
        self.max_line_bytes = max_line_bytes
        self.committed_end = start_offset
        self.position = start_offset
        # The held fragment as the pieces it arrived in, joined once when its newline comes.
        self._held: list[bytes | memoryview] = []
        self._held_bytes = 0
        self._oversize: _Oversize | None = None

    @property
    def buffered(self) -> int:
        """Bytes held in memory for the current fragment; never more than ``max_line_bytes``."""
        return self._held_bytes

    @property
    def pending(self) -> int:
        """Bytes of the unterminated fragment seen so far, held or (if oversized) dropped."""
        return self.position - self.committed_end

    def feed(self, chunk: bytes) -> list[tuple[int, bytes] | OversizedLine]:
        """Consume the next chunk and return the lines it completes, in stream order: a line
        as ``(start, data)`` (``data`` without its ``\\n``), a line over the bound as an
        ``OversizedLine``."""
        lines: list[tuple[int, bytes]] = []
        oversized: list[OversizedLine] = []
        self.feed_into(chunk, lines, oversized)
        items: list[tuple[int, bytes] | OversizedLine] = list(lines)
        if oversized:
            items.extend(oversized)
            items.sort(key=_stream_offset)
        return items

    def feed_into(
        self, chunk: bytes, lines: list[tuple[int, bytes]], oversized: list[OversizedLine]
    ) -> None:
        """Consume the next chunk, appending what it completes to ``lines`` and ``oversized``.

        A line goes to ``lines`` as ``(start, data)`` with ``data`` its bytes without the
        ``\\n``; each list stays in stream order. ``bytes.find`` (memchr) locates the
        newlines: ``bytes.split`` would test every byte in a loop, slower for long lines.
        """
        find = chunk.find
        newline = find(b"\n")
        if newline < 0:
            if chunk:
                self._hold(chunk)
            self.position += len(chunk)
            return
        origin = self.position  # the stream offset of chunk[0]
        pos = 0
        if self.committed_end != origin:  # the first newline ends the held fragment
            self._finish(memoryview(chunk)[:newline], lines, oversized)
            pos = newline + 1
            newline = find(b"\n", pos)
        limit = self.max_line_bytes
        while newline >= 0:
            if newline - pos <= limit:
                lines.append((origin + pos, chunk[pos:newline]))  # the one copy of a line
            else:
                oversized.append(_oversized(origin + pos, memoryview(chunk)[pos:newline]))
            pos = newline + 1
            newline = find(b"\n", pos)
        # The committed offset is computed from the stream, never from chunk boundaries, so
        # any chunking of the same stream commits the same offsets.
        self.committed_end = origin + pos
        self.position = origin + len(chunk)
        if pos < len(chunk):
            self._hold(memoryview(chunk)[pos:])

    def feed_block(self, chunk: bytes, oversized: list[OversizedLine]) -> LineBlock:
        """Consume the next chunk and return the lines it completes as a block (appending a
        line over the bound to ``oversized``): the same lines, offsets and held fragment as
        ``feed_into``, without splitting. Only a line completing a held fragment can be over
        the bound unless the chunk itself is; such a chunk is split as ``feed_into`` does."""
        if len(chunk) > self.max_line_bytes:
            lines: list[tuple[int, bytes]] = []
            self.feed_into(chunk, lines, oversized)
            return LineBlock(lines)
        head: list[tuple[int, bytes]] = []
        newline = chunk.find(b"\n")
        if newline < 0:
            if chunk:
                self._hold(chunk)
            self.position += len(chunk)
            return LineBlock(head)
        origin = self.position  # the stream offset of chunk[0]
        pos = 0
        if self.committed_end != origin:  # the first newline ends the held fragment
            self._finish(memoryview(chunk)[:newline], head, oversized)
            pos = newline + 1
        end = chunk.rfind(b"\n") + 1
        # A view, not a copy: a backlog read's block goes to the parse process as it is.
        block = LineBlock(
            head, origin + pos, memoryview(chunk)[pos:end], chunk.count(b"\n", pos, end)
        )
        self.committed_end = origin + end
        self.position = origin + len(chunk)
        if end < len(chunk):
            self._hold(memoryview(chunk)[end:])
        return block

    def take_fragment(self) -> tuple[int, bytes] | None:
        """Hand out the held unterminated fragment and treat it as consumed.

        For the end-of-file policy (a last line without ``\\n`` is stored only once the file is
        gone): once the caller knows no ``\\n`` will ever come (the file is
        gone), it may store the fragment. An oversized fragment was not kept, so it gives None.
        """
        if self.pending == 0 or self._oversize is not None:
            return None
        start, data = self.committed_end, b"".join(self._held)
        self._held = []
        self._held_bytes = 0
        self.committed_end = self.position
        return start, data

    def _hold(self, piece: bytes | memoryview) -> None:
        """Keep a fragment, switching to hash-and-drop once it would exceed the bound.

        A kept view is copied, so the held bytes never pin a whole chunk in memory.
        """
        if self._oversize is not None:
            self._oversize.add(piece)
        elif self._held_bytes + len(piece) <= self.max_line_bytes:
            self._held.append(piece if isinstance(piece, bytes) else bytes(piece))
            self._held_bytes += len(piece)
        else:
            self._oversize = _Oversize()
            for held in self._held:
                self._oversize.add(held)
            self._oversize.add(piece)
            self._held = []
            self._held_bytes = 0

    def _finish(
        self,
        tail: memoryview,
        lines: list[tuple[int, bytes]],
        oversized: list[OversizedLine],
    ) -> None:
        """Complete the held fragment with ``tail``, the bytes before its ``\\n``."""
        start = self.committed_end
        over = self._oversize
        if over is None and self._held_bytes + len(tail) <= self.max_line_bytes:
            self._held.append(tail)
            lines.append((start, b"".join(self._held)))
        else:
            if over is None:
                over = _Oversize()
                for held in self._held:
                    over.add(held)
            over.add(tail)
            oversized.append(OversizedLine(start, over.size, over.hasher.hexdigest(), over.prefix))
        self.committed_end = self.position + len(tail) + 1  # position is still chunk[0]'s
        self._held = []
        self._held_bytes = 0
        self._oversize = None


def _stream_offset(item: tuple[int, bytes] | OversizedLine) -> int:
    return item[0] if isinstance(item, tuple) else item.offset


def _oversized(start: int, data: memoryview) -> OversizedLine:
    """A whole line over the bound, found inside one chunk."""
    over = _Oversize()
    over.add(data)
    return OversizedLine(start, over.size, over.hasher.hexdigest(), over.prefix)
