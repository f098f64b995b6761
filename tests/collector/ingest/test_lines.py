"""Tests for collector.ingest.lines: framing on b"\\n" only, exact offsets, bounded memory."""

from __future__ import annotations

import hashlib
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.ingest.lines import PREFIX_BYTES, LineBlock, LineSplitter, OversizedLine, line_bytes

Item = tuple[int, bytes] | OversizedLine  # a line is (start, data without its newline)

# Bytes that matter for framing are over-represented: newline, CR, NUL, and U+2028 pieces.
_BYTE = st.sampled_from(b'\n\n\n\r\x00ab\xe2\x80\xa8{}"')
STREAMS = st.lists(_BYTE, max_size=400).map(bytes)
settings.register_profile("lines", database=None, max_examples=300)


def model(stream: bytes, max_line: int, start: int = 0) -> list[Item]:
    """The obvious reference: split the whole stream at once with bytes.split."""
    out: list[Item] = []
    offset = start
    for piece in stream.split(b"\n")[:-1]:
        end = offset + len(piece) + 1
        if len(piece) <= max_line:
            out.append((offset, piece))
        else:
            digest = hashlib.sha256(piece).hexdigest()
            out.append(OversizedLine(offset, len(piece), digest, piece[:PREFIX_BYTES]))
        offset = end
    return out


def chunked(stream: bytes, cuts: list[int]) -> list[bytes]:
    """Cut the stream at the given (possibly repeated, unsorted) positions."""
    points = sorted({min(c, len(stream)) for c in cuts})
    bounds = [0, *points, len(stream)]
    return [stream[a:b] for a, b in itertools.pairwise(bounds)]


def feed_all(splitter: LineSplitter, chunks: list[bytes]) -> list[Item]:
    out: list[Item] = []
    for chunk in chunks:
        out.extend(splitter.feed(chunk))
        assert splitter.buffered <= splitter.max_line_bytes
    return out


def assert_model(
    splitter: LineSplitter,
    lines: list[tuple[int, bytes]],
    oversized: list[OversizedLine],
    stream: bytes,
) -> None:
    """What a splitter started at offset 7 gave for ``stream`` is the model's split, and it
    holds exactly the unterminated tail."""
    expected = model(stream, splitter.max_line_bytes, start=7)
    assert lines == [i for i in expected if not isinstance(i, OversizedLine)]
    assert oversized == [i for i in expected if isinstance(i, OversizedLine)]
    assert all(type(data) is bytes for _, data in lines)
    assert splitter.committed_end == 7 + stream.rfind(b"\n") + 1
    assert splitter.position == 7 + len(stream)


class TestProperties:
    """Properties that hold for every stream and every way of chunking it."""

    @settings(settings.get_profile("lines"))
    @given(stream=STREAMS, cuts=st.lists(st.integers(0, 400)), max_line=st.integers(1, 40))
    def test_any_chunking_matches_one_feed(
        self, stream: bytes, cuts: list[int], max_line: int
    ) -> None:
        """Chunk boundaries never change which lines come out or their offsets."""
        whole = LineSplitter(max_line).feed(stream)
        pieces = LineSplitter(max_line)
        assert feed_all(pieces, chunked(stream, cuts)) == whole == model(stream, max_line)
        assert pieces.position == len(stream)

    @settings(settings.get_profile("lines"))
    @given(stream=STREAMS, cuts=st.lists(st.integers(0, 400)), start=st.integers(0, 10**12))
    def test_offsets_are_exact(self, stream: bytes, cuts: list[int], start: int) -> None:
        """stream[start:end] is the line plus its newline, and lines tile the consumed prefix."""
        splitter = LineSplitter(1 << 20, start_offset=start)
        expected_start = start
        for item in feed_all(splitter, chunked(stream, cuts)):
            assert not isinstance(item, OversizedLine)
            line_start, data = item
            end = line_start + len(data) + 1
            assert line_start == expected_start
            assert stream[line_start - start : end - start] == data + b"\n"
            expected_start = end
        assert splitter.committed_end == expected_start

    @settings(settings.get_profile("lines"))
    @given(
        sizes=st.lists(st.integers(0, 3000), min_size=1, max_size=6),
        chunk=st.integers(1, 700),
        max_line=st.integers(1, 500),
    )
    def test_memory_stays_bounded(self, sizes: list[int], chunk: int, max_line: int) -> None:
        """However long the lines, the held buffer never exceeds max_line_bytes."""
        stream = b"".join(b"x" * n + b"\n" for n in sizes)
        splitter = LineSplitter(max_line)
        items = feed_all(splitter, [stream[i : i + chunk] for i in range(0, len(stream), chunk)])
        assert items == model(stream, max_line)
        assert [isinstance(i, OversizedLine) for i in items] == [n > max_line for n in sizes]

    @settings(settings.get_profile("lines"))
    @given(stream=STREAMS, tail=st.binary(min_size=1, max_size=50).filter(lambda b: b"\n" not in b))
    def test_unterminated_tail_is_held(self, stream: bytes, tail: bytes) -> None:
        """A fragment without its newline never comes out; committed_end stops before it."""
        full = stream + b"\n" + tail
        splitter = LineSplitter(1 << 20)
        items = splitter.feed(full)
        assert items == model(full, 1 << 20)
        assert splitter.committed_end == len(stream) + 1
        assert splitter.pending == splitter.buffered == len(tail)
        assert splitter.position == len(full)


class TestFeedInto:
    """The tailer's form: ``(start, data)`` tuples and oversized lines in two lists."""

    @settings(settings.get_profile("lines"))
    @given(stream=STREAMS, cuts=st.lists(st.integers(0, 400)), max_line=st.integers(1, 40))
    def test_matches_the_model(self, stream: bytes, cuts: list[int], max_line: int) -> None:
        """Any chunking gives the model's lines as tuples, its oversized lines as they are."""
        splitter = LineSplitter(max_line, start_offset=7)
        lines: list[tuple[int, bytes]] = []
        oversized: list[OversizedLine] = []
        for chunk in chunked(stream, cuts):
            splitter.feed_into(chunk, lines, oversized)
            assert splitter.buffered <= max_line
        assert_model(splitter, lines, oversized, stream)

    def test_appends_to_the_lists_given(self) -> None:
        """What is already in the lists stays; a poll accumulates several chunks."""
        lines: list[tuple[int, bytes]] = [(0, b"earlier")]
        oversized: list[OversizedLine] = []
        splitter = LineSplitter(4, start_offset=8)
        splitter.feed_into(b"ab\ncd", lines, oversized)
        splitter.feed_into(b"e\n" + b"z" * 9 + b"\n", lines, oversized)
        assert lines == [(0, b"earlier"), (8, b"ab"), (11, b"cde")]
        digest = hashlib.sha256(b"z" * 9).hexdigest()
        assert oversized == [OversizedLine(15, 9, digest, b"z" * 9)]

    def test_fragment_spanning_chunks_is_joined_once(self) -> None:
        """A line fed a byte at a time comes out whole, and take_fragment sees the held part."""
        splitter = LineSplitter(64)
        lines: list[tuple[int, bytes]] = []
        for byte in b'{"a": 1}\n{"b"':
            splitter.feed_into(bytes([byte]), lines, [])
        assert lines == [(0, b'{"a": 1}')]
        assert splitter.buffered == splitter.pending == 4
        assert splitter.take_fragment() == (9, b'{"b"')


class TestFeedBlock:
    """The tailer's form: a chunk's complete lines kept as one block of bytes."""

    @settings(settings.get_profile("lines"))
    @given(stream=STREAMS, cuts=st.lists(st.integers(0, 400)), max_line=st.integers(1, 40))
    def test_matches_the_model(self, stream: bytes, cuts: list[int], max_line: int) -> None:
        """Any chunking gives the model's lines, offsets, oversized lines and held fragment,
        and each block's length and byte count say what iterating it gives."""
        splitter = LineSplitter(max_line, start_offset=7)
        lines: list[tuple[int, bytes]] = []
        oversized: list[OversizedLine] = []
        for chunk in chunked(stream, cuts):
            block = splitter.feed_block(chunk, oversized)
            got = list(block)
            assert len(block) == len(got)
            assert block.nbytes == line_bytes(got) == sum(len(data) for _, data in got)
            assert block == got
            lines += got
            assert splitter.buffered <= max_line
        assert_model(splitter, lines, oversized, stream)

    @settings(settings.get_profile("lines"))
    @given(stream=STREAMS, cuts=st.lists(st.integers(0, 400)))
    def test_blocks_joined_are_the_lines_in_order(self, stream: bytes, cuts: list[int]) -> None:
        """A poll of several chunks joins their blocks (``then``): the lines stay in order."""
        splitter = LineSplitter(1 << 20)
        joined = LineBlock([])
        for chunk in chunked(stream, cuts):
            joined = joined.then(splitter.feed_block(chunk, []))
        assert joined == [i for i in model(stream, 1 << 20) if not isinstance(i, OversizedLine)]

    def test_a_held_fragment_heads_the_next_block(self) -> None:
        """The line a chunk completes is a head line; the rest stay one block of bytes."""
        splitter = LineSplitter(64, start_offset=100)
        assert splitter.feed_block(b'{"a"', []) == []
        block = splitter.feed_block(b': 1}\n{"b": 2}\n{"c": 3}\n{"d"', [])
        assert block.head == [(100, b'{"a": 1}')]
        assert (block.start, block.data, block.count) == (109, b'{"b": 2}\n{"c": 3}\n', 2)
        assert list(block) == [(100, b'{"a": 1}'), (109, b'{"b": 2}'), (118, b'{"c": 3}')]
        assert splitter.committed_end == 127
        assert splitter.pending == 4

    def test_a_chunk_longer_than_the_bound_is_split_as_it_comes(self) -> None:
        """Lines inside such a chunk may be over the bound: they are found one by one."""
        oversized: list[OversizedLine] = []
        block = LineSplitter(4).feed_block(b"ab\n" + b"z" * 9 + b"\ncd\n", oversized)
        assert block == [(0, b"ab"), (13, b"cd")]
        digest = hashlib.sha256(b"z" * 9).hexdigest()
        assert oversized == [OversizedLine(3, 9, digest, b"z" * 9)]


def _one(data: bytes, max_line: int = 8) -> list[Item]:
    return LineSplitter(max_line).feed(data)


class TestEdgeCases:
    """A table of framing edge cases, all with max_line_bytes=8."""

    @pytest.mark.parametrize(
        ("stream", "expected"),
        [
            pytest.param(b"", [], id="empty-stream"),
            pytest.param(b"\n", [(0, b"")], id="empty-line"),
            pytest.param(b"\n\n", [(0, b""), (1, b"")], id="two-empty-lines"),
            pytest.param(b"a\r\nb\n", [(0, b"a\r"), (3, b"b")], id="crlf-keeps-cr"),
            pytest.param(b"a\rb\n", [(0, b"a\rb")], id="lone-cr-is-not-a-break"),
            pytest.param(b"a\xe2\x80\xa8b\n", [(0, b"a\xe2\x80\xa8b")], id="u2028-inside"),
            pytest.param(b"\xe2\x80\xa9\n", [(0, b"\xe2\x80\xa9")], id="u2029-inside"),
            pytest.param(b"a\x00b\n", [(0, b"a\x00b")], id="nul-inside"),
            pytest.param(b"\x0b\x0c\x1c\x85\n", [(0, b"\x0b\x0c\x1c\x85")], id="vt-ff-fs"),
            pytest.param(b"12345678\n", [(0, b"12345678")], id="exactly-max"),
            pytest.param(b"abc", [], id="no-newline-held"),
        ],
    )
    def test_framing(self, stream: bytes, expected: list[Item]) -> None:
        """Only b"\\n" ends a line; everything else stays inside it."""
        assert _one(stream) == expected

    def test_one_byte_over_max_is_oversized(self) -> None:
        """A line of max_line_bytes + 1 is reported by size, hash and prefix, not content."""
        digest = hashlib.sha256(b"123456789").hexdigest()
        assert _one(b"123456789\nok\n") == [
            OversizedLine(0, 9, digest, b"123456789"),
            (10, b"ok"),
        ]

    def test_oversized_prefix_is_capped(self) -> None:
        """The kept prefix is at most PREFIX_BYTES even for a huge line fed byte by byte."""
        line = bytes(range(11, 256)) * 5
        splitter = LineSplitter(100)
        items = feed_all(splitter, [bytes([b]) for b in line + b"\n"])
        assert items == [
            OversizedLine(0, 1225, hashlib.sha256(line).hexdigest(), line[:PREFIX_BYTES])
        ]
        assert items[0].end == 1226 == splitter.committed_end

    def test_oversized_fragment_is_dropped_while_held(self) -> None:
        """Before its newline an oversized fragment holds nothing but counts as pending."""
        splitter = LineSplitter(4)
        assert splitter.feed(b"ok\n" + b"y" * 50) == [(0, b"ok")]
        assert (splitter.buffered, splitter.pending, splitter.committed_end) == (0, 50, 3)
        assert splitter.take_fragment() is None

    def test_take_fragment_consumes_the_tail(self) -> None:
        """take_fragment hands out the held bytes once and commits past them."""
        splitter = LineSplitter(16, start_offset=100)
        splitter.feed(b'a\n{"x":1}')
        assert splitter.take_fragment() == (102, b'{"x":1}')
        assert (splitter.committed_end, splitter.pending) == (109, 0)
        assert splitter.take_fragment() is None
        assert splitter.feed(b"b\n") == [(109, b"b")]

    @pytest.mark.parametrize(("max_line", "start"), [(0, 0), (1, -1)])
    def test_rejects_bad_arguments(self, max_line: int, start: int) -> None:
        """Nonsense bounds are programming errors."""
        with pytest.raises(ValueError, match=">= "):
            LineSplitter(max_line, start)
