"""Tests for collector.ingest.tail: real files in tmp_path, real writer processes, no sleeps."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec
import pytest

from collector.ingest.tail import HEAD_BYTES, Checkpoint, FileTail, Fragment, TailRead

MB = 1 << 20
_real_open = os.open


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture(autouse=True)
def _no_leaked_descriptors() -> Iterator[None]:
    """Every test leaves the process with the descriptors it started with."""
    before = open_fds()
    yield
    assert open_fds() == before


def drain(tail: FileTail, max_bytes: int = 1 << 30) -> list[TailRead]:
    """Poll until a read reaches EOF (it always does on a file nobody is writing)."""
    reads: list[TailRead] = []
    while True:
        read = tail.poll(max_bytes)
        assert read is not None
        reads.append(read)
        if read.eof:
            return reads


def lines_of(reads: list[TailRead]) -> list[tuple[int, bytes]]:
    return [line for read in reads for line in read.lines]


def numbered(n: int, start: int = 0) -> list[bytes]:
    return [json.dumps({"n": i, "pad": "x" * (i % 7)}).encode() for i in range(start, start + n)]


def with_offsets(lines: list[bytes], start: int = 0) -> list[tuple[int, bytes]]:
    out = []
    for line in lines:
        out.append((start, line))
        start += len(line) + 1
    return out


def write(path: Path, data: bytes, mode: str = "ab") -> None:
    with path.open(mode) as f:
        f.write(data)


def reopen_from(cp: Checkpoint, path: Path, **kwargs: int) -> FileTail:
    """A tail rebuilt the way the daemon does after a crash: from the stored JSON value."""
    stored = json.loads(json.dumps(cp.to_dict()))
    return FileTail(str(path), Checkpoint.from_dict(stored), kwargs.pop("max_line", MB), **kwargs)


# A writer process: appends argv lines one byte per write(), then a partial line, reports
# "partial" on stdout and waits for "go" on stdin before finishing the line.
WRITER = """
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
for line in sys.argv[3:]:
    for b in (line + "\\n").encode():
        os.write(fd, bytes([b]))
head, rest = sys.argv[2].split("|")
for b in head.encode():
    os.write(fd, bytes([b]))
print("partial", flush=True)
if sys.stdin.readline().strip() == "go":
    for b in (rest + "\\n").encode():
        os.write(fd, bytes([b]))
"""


def start_writer(
    path: Path, lines: list[bytes], partial: tuple[bytes, bytes]
) -> subprocess.Popen[str]:
    split = (partial[0] + b"|" + partial[1]).decode()
    args = [sys.executable, "-c", WRITER, str(path), split, *(x.decode() for x in lines)]
    return subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def poll_until(tail: FileTail, done: Callable[[list[tuple[int, bytes]]], bool]) -> list[TailRead]:
    """Busy-poll a file another process is writing until ``done`` holds (deadline, no sleep)."""
    reads: list[TailRead] = []
    deadline = time.monotonic() + 60
    while not done(lines_of(reads)):
        assert time.monotonic() < deadline, "writer made no progress"
        read = tail.poll(64)  # None until the writer has created the file
        if read is not None:
            reads.append(read)
    return reads


class TestCheckpoint:
    """The checkpoint value the writer stores."""

    def test_round_trips_through_json(self) -> None:
        """to_dict is JSON-able and from_dict restores an equal value."""
        cp = Checkpoint(1, 2, 3, "a" * 64, 3, "b" * 64)
        assert Checkpoint.from_dict(json.loads(json.dumps(cp.to_dict()))) == cp

    @pytest.mark.parametrize(
        "change", [{"offset": -1}, {"inode": "7"}, {"head_len": True}, {"marker_hash": 5}]
    )
    def test_malformed_values_raise(self, change: dict[str, object]) -> None:
        """A corrupt stored checkpoint is an error, never a silent restart from 0."""
        data = {**Checkpoint(1, 2, 3, "a", 3, "b").to_dict(), **change}
        with pytest.raises(ValueError, match="checkpoint"):
            Checkpoint.from_dict(data)

    def test_missing_field_raises(self) -> None:
        with pytest.raises(ValueError, match="lacks inode, offset"):
            Checkpoint.from_dict({"dev": 1})


class TestReading:
    """Complete lines only, exact offsets, partial lines held."""

    def test_append_and_poll_returns_exactly_the_complete_lines(self, tmp_path: Path) -> None:
        """Each poll returns the lines appended since the previous one, with their offsets."""
        path = tmp_path / "t.jsonl"
        first, second = numbered(5), numbered(3, 5)
        write(path, b"".join(x + b"\n" for x in first))
        with FileTail(str(path), None, MB) as tail:
            (read,) = drain(tail)
            assert read.lines == with_offsets(first)
            assert (read.eof, read.reset, read.deleted, read.error) == (True, False, False, None)
            assert read.checkpoint.offset == read.size == path.stat().st_size
            write(path, b"".join(x + b"\n" for x in second))
            assert lines_of(drain(tail)) == with_offsets(second, read.checkpoint.offset)

    def test_tiny_file_is_read_on_first_poll(self, tmp_path: Path) -> None:
        """A 1-line 20-byte file is read and fingerprinted in one poll (no minimum size)."""
        path = tmp_path / "tiny.jsonl"
        write(path, b'{"type":"x","n":12}\n')
        assert path.stat().st_size == 20
        with FileTail(str(path), None, MB) as tail:
            read = tail.poll(MB)
            assert read is not None
            assert read.lines == [(0, b'{"type":"x","n":12}')]
            assert read.eof
            assert read.checkpoint.head_len == 20
            assert read.checkpoint.head_hash == hashlib.sha256(path.read_bytes()).hexdigest()

    def test_head_grows_then_caps(self, tmp_path: Path) -> None:
        """head_len follows the committed offset up to HEAD_BYTES."""
        path = tmp_path / "grow.jsonl"
        with FileTail(str(path), None, MB) as tail:
            lens = []
            for _ in range(3):
                write(path, b"y" * 3000 + b"\n")
                lens.append(drain(tail)[-1].checkpoint.head_len)
        assert lens == [3001, HEAD_BYTES, HEAD_BYTES]

    def test_partial_line_is_held_until_its_newline(self, tmp_path: Path) -> None:
        """The checkpoint stops before a partial line; the line comes out whole later."""
        path = tmp_path / "p.jsonl"
        write(path, b'{"a":1}\n{"b":')
        with FileTail(str(path), None, MB) as tail:
            (read,) = drain(tail)
            assert read.lines == [(0, b'{"a":1}')]
            assert (read.checkpoint.offset, read.partial_bytes) == (8, 5)
            assert not tail.holds_descriptor
            write(path, b"2}\n")
            (read,) = drain(tail)
            assert read.lines == [(8, b'{"b":2}')]
            assert (read.checkpoint.offset, read.partial_bytes, read.reset) == (16, 0, False)

    def test_held_partial_rewritten_falls_back_to_checkpoint(self, tmp_path: Path) -> None:
        """If the bytes of a held partial line change, reading resumes at the committed offset."""
        path = tmp_path / "p.jsonl"
        write(path, b"a\npartial")
        with FileTail(str(path), None, MB) as tail:
            drain(tail)
            os.truncate(path, 2)
            write(path, b"other\n")
            (read,) = drain(tail)
            assert (read.lines, read.reset) == ([(2, b"other")], False)

    def test_max_bytes_keeps_descriptor_until_eof(self, tmp_path: Path) -> None:
        """A poll cut short by max_bytes keeps its descriptor; the EOF poll closes it."""
        path = tmp_path / "big.jsonl"
        lines = numbered(200)
        write(path, b"".join(x + b"\n" for x in lines))
        with FileTail(str(path), None, MB, chunk_bytes=100) as tail:
            first = tail.poll(500)
            assert first is not None
            assert not first.eof
            assert tail.holds_descriptor
            reads = [first, *drain(tail, 500)]
            assert not tail.holds_descriptor
        assert lines_of(reads) == with_offsets(lines)

    def test_real_writer_with_one_byte_writes(self, tmp_path: Path) -> None:
        """Polling while another process writes byte by byte never yields a partial line."""
        path = tmp_path / "w.jsonl"
        lines = numbered(20)
        proc = start_writer(path, lines, (b'{"last":', b"true}"))
        try:
            with FileTail(str(path), None, MB) as tail:
                reads = poll_until(tail, lambda got: len(got) >= len(lines))
                assert proc.stdout is not None
                assert proc.stdout.readline() == "partial\n"
                reads += drain(tail)
                assert lines_of(reads) == with_offsets(lines)
                assert reads[-1].partial_bytes == len(b'{"last":')
                assert proc.stdin is not None
                proc.stdin.write("go\n")
                proc.stdin.close()
                assert proc.wait(timeout=60) == 0
                end = reads[-1].checkpoint.offset
                assert lines_of(drain(tail)) == [(end, b'{"last":true}')]
        finally:
            proc.kill()
            proc.wait()
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    stream.close()

    def test_line_split_across_kill_and_restart_is_read_once(self, tmp_path: Path) -> None:
        """Writer killed mid-line, tail rebuilt from the checkpoint: the line is stored once."""
        path = tmp_path / "k.jsonl"
        lines = numbered(3)
        proc = start_writer(path, lines, (b'{"cut":', b""))
        assert proc.stdout is not None
        assert proc.stdout.readline() == "partial\n"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()
        with FileTail(str(path), None, MB) as tail:
            first = drain(tail)
        assert lines_of(first) == with_offsets(lines)
        write(path, b'"resumed"}\n{"after":1}\n')
        with reopen_from(first[-1].checkpoint, path) as again:
            second = drain(again)
        offset = first[-1].checkpoint.offset
        assert second[0].reset is False
        assert lines_of(second) == [(offset, b'{"cut":"resumed"}'), (offset + 18, b'{"after":1}')]


class TestResume:
    """Rebuilding a tail from a stored checkpoint."""

    def test_resume_at_checkpoint(self, tmp_path: Path) -> None:
        """Lines after the checkpoint come out once; those before never again."""
        path = tmp_path / "r.jsonl"
        write(path, b"one\ntwo\n")
        with FileTail(str(path), None, MB) as tail:
            cp = drain(tail)[-1].checkpoint
        write(path, b"three\n")
        with reopen_from(cp, path) as tail:
            (read,) = drain(tail)
        assert (read.lines, read.reset) == ([(8, b"three")], False)

    def test_resume_after_partial_line_rereads_it(self, tmp_path: Path) -> None:
        """A partial line held at crash time is re-read from the checkpoint and completed."""
        path = tmp_path / "r.jsonl"
        write(path, b"a\nb\npar")
        with FileTail(str(path), None, MB) as tail:
            cp = drain(tail)[-1].checkpoint
        assert cp.offset == 4
        write(path, b"tial\n")
        with reopen_from(cp, path) as tail:
            assert lines_of(drain(tail)) == [(4, b"partial")]

    def test_offset_zero_checkpoint_matches_any_file(self, tmp_path: Path) -> None:
        """Nothing was consumed at offset 0, so even another inode is not a reset."""
        path = tmp_path / "z.jsonl"
        write(path, b"x\n")
        cp = Checkpoint(
            0, 0, 0, hashlib.sha256(b"").hexdigest(), 0, hashlib.sha256(b"").hexdigest()
        )
        with reopen_from(cp, path) as tail:
            (read,) = drain(tail)
        assert (read.lines, read.reset) == ([(0, b"x")], False)


def rewritten(path: Path, data: bytes) -> None:
    """Rewrite in place (same inode): copytruncate, or a tool rewriting the whole file."""
    with path.open("r+b") as f:
        f.truncate(0)
        f.write(data)


class TestIdentity:
    """The identity decision table of collector.ingest.tail."""

    def test_truncate_while_idle_resets(self, tmp_path: Path) -> None:
        """A file shorter than the offset restarts at 0 with reason 'truncated'."""
        path = tmp_path / "t.jsonl"
        write(path, b"one\ntwo\n")
        with FileTail(str(path), None, MB) as tail:
            drain(tail)
            rewritten(path, b"x\n")
            (read,) = drain(tail)
        assert (read.reset, read.reset_reason, read.lines) == (True, "truncated", [(0, b"x")])
        assert read.checkpoint.offset == 2

    def test_truncate_while_descriptor_held_resets(self, tmp_path: Path) -> None:
        """Shrinking under an open descriptor is noticed on the next poll."""
        path = tmp_path / "t.jsonl"
        write(path, b"".join(x + b"\n" for x in numbered(50)))
        with FileTail(str(path), None, MB, chunk_bytes=64) as tail:
            assert tail.poll(128) is not None
            assert tail.holds_descriptor
            rewritten(path, b"new\n")
            (read,) = drain(tail)
        assert (read.reset_reason, read.lines) == ("truncated", [(0, b"new")])

    @pytest.mark.parametrize(
        ("old", "new", "reason"),
        [
            pytest.param(b"one\ntwo\n", b"ONE\nTWO\nthree\nfour\n", "head-changed", id="head"),
            pytest.param(
                b"h" * 5000 + b"\nold\n",
                b"h" * 5000 + b"\nnew\nmore\n",
                "marker-changed",
                id="marker",
            ),
        ],
    )
    def test_rewrite_larger_while_stopped_is_detected(
        self, tmp_path: Path, old: bytes, new: bytes, reason: str
    ) -> None:
        """Copytruncate then re-grow past the old offset while stopped: re-read from 0 (R10)."""
        path = tmp_path / "c.jsonl"
        write(path, old)
        with FileTail(str(path), None, MB) as tail:
            cp = drain(tail)[-1].checkpoint
        rewritten(path, new)
        assert path.stat().st_size > cp.offset
        with reopen_from(cp, path) as tail:
            reads = drain(tail)
        assert (reads[0].reset, reads[0].reset_reason) == (True, reason)
        assert lines_of(reads) == with_offsets(new.split(b"\n")[:-1])

    def test_inode_reuse_is_detected(self, tmp_path: Path) -> None:
        """Delete + create with the same inode and other content: read the new file from 0.

        Where the OS hands out a different inode, the same situation is built by giving the
        checkpoint the new file's (dev, inode) and the old content's fingerprints.
        """
        path = tmp_path / "i.jsonl"
        write(path, b'{"old":1}\n{"old":2}\n')
        with FileTail(str(path), None, MB) as tail:
            cp = drain(tail)[-1].checkpoint
        path.unlink()
        write(path, b'{"new":1}\n{"new":2}\n{"new":3}\n')
        st = path.stat()
        cp = msgspec.structs.replace(cp, dev=st.st_dev, inode=st.st_ino)
        with reopen_from(cp, path) as tail:
            reads = drain(tail)
        assert (reads[0].reset, reads[0].reset_reason) == (True, "head-changed")
        assert [line for _, line in lines_of(reads)] == [b'{"new":1}', b'{"new":2}', b'{"new":3}']

    @pytest.mark.parametrize("restart", [False, True], ids=["live", "restarted"])
    def test_replace_by_rename_with_same_prefix_continues(
        self, tmp_path: Path, restart: bool
    ) -> None:
        """Write-temp-then-rename keeping the consumed bytes: continue at the offset (R11)."""
        path, tmp = tmp_path / "a.jsonl", tmp_path / "a.jsonl.tmp"
        write(path, b"a\nb\n")
        tail = FileTail(str(path), None, MB)
        cp = drain(tail)[-1].checkpoint
        write(tmp, b"a\nb\nc\n")
        os.replace(tmp, path)
        if restart:
            tail.close()
            tail = reopen_from(cp, path)
        with tail:
            (read,) = drain(tail)
        assert (read.reset, read.lines) == (False, [(4, b"c")])
        assert read.checkpoint.inode == path.stat().st_ino != cp.inode

    def test_replace_by_rename_with_other_content_resets(self, tmp_path: Path) -> None:
        """A renamed-in file with different bytes is a new file: 'inode-changed', from 0."""
        path, tmp = tmp_path / "a.jsonl", tmp_path / "a.jsonl.tmp"
        write(path, b"a\nb\n")
        with FileTail(str(path), None, MB) as tail:
            drain(tail)
            write(tmp, b"z\ny\nc\n")
            os.replace(tmp, path)
            (read,) = drain(tail)
        assert (read.reset_reason, read.lines) == (
            "inode-changed",
            [(0, b"z"), (2, b"y"), (4, b"c")],
        )


class TestDeletion:
    """Deleted files: drained through the open descriptor, then reported gone."""

    def test_deleted_while_open_is_drained(self, tmp_path: Path) -> None:
        """An unlinked file is read to EOF through the descriptor and flagged deleted (R21)."""
        path = tmp_path / "d.jsonl"
        lines = numbered(100)
        write(path, b"".join(x + b"\n" for x in lines))
        with FileTail(str(path), None, MB, chunk_bytes=100) as tail:
            first = tail.poll(100)
            assert first is not None
            assert tail.holds_descriptor
            path.unlink()
            reads = [first, *drain(tail, 300)]
            assert lines_of(reads) == with_offsets(lines)
            assert reads[-1].deleted
            assert reads[-1].eof
            assert not tail.holds_descriptor
            after = tail.poll(MB)
        assert after is not None
        assert (after.deleted, after.lines, after.checkpoint) == (True, [], reads[-1].checkpoint)

    def test_unterminated_tail_of_deleted_file_can_be_taken(self, tmp_path: Path) -> None:
        """After a deleted file is drained, its held last fragment is available once (R7)."""
        path = tmp_path / "f.jsonl"
        write(path, b'a\n{"x": 1}')
        with FileTail(str(path), None, MB) as tail:
            assert tail.poll(1) is not None
            path.unlink()
            read = drain(tail)[-1]
            assert (read.deleted, read.partial_bytes, read.checkpoint.offset) == (True, 8, 2)
            fragment = tail.take_fragment()
            assert fragment is not None
            assert (fragment.offset, fragment.data) == (2, b'{"x": 1}')
            assert fragment.checkpoint.offset == 10
            assert tail.take_fragment() is None
        assert isinstance(fragment, Fragment)

    def test_missing_path(self, tmp_path: Path) -> None:
        """Never opened and no checkpoint: None; with a checkpoint: a deleted, empty read."""
        path = tmp_path / "never.jsonl"
        with FileTail(str(path), None, MB) as tail:
            assert tail.poll(MB) is None
            assert tail.last_error == "vanished"
        cp = Checkpoint(1, 2, 3, "h", 3, "m")
        with FileTail(str(path), cp, MB) as tail:
            read = tail.poll(MB)
        assert read is not None
        assert (read.deleted, read.lines, read.checkpoint, read.eof) == (True, [], cp, True)


class TestProblems:
    """Ordinary file problems are reported, never raised, and never move the position."""

    def test_open_failure_keeps_position(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """EMFILE on reopen: an error read, then the next poll continues exactly (R14)."""
        path = tmp_path / "e.jsonl"
        write(path, b"one\n")

        def refuse(p: str, flags: int, mode: int = 0o777) -> int:
            if p == str(path):
                raise OSError(errno.EMFILE, "Too many open files")
            return _real_open(p, flags, mode)

        with FileTail(str(path), None, MB) as tail:
            cp = drain(tail)[-1].checkpoint
            write(path, b"two\n")
            monkeypatch.setattr(os, "open", refuse)
            read = tail.poll(MB)
            assert read is not None
            assert (read.error, read.lines, read.checkpoint) == (
                "OSError: Too many open files",
                [],
                cp,
            )
            monkeypatch.undo()
            assert lines_of(drain(tail)) == [(4, b"two")]

    def test_permission_denied_before_first_open(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Without a checkpoint there is nothing to report against: None and last_error."""

        def deny(p: str, flags: int, mode: int = 0o777) -> int:
            raise PermissionError(errno.EACCES, "Permission denied")

        write(tmp_path / "x.jsonl", b"x\n")
        monkeypatch.setattr(os, "open", deny)
        tail = FileTail(str(tmp_path / "x.jsonl"), None, MB)
        assert tail.poll(MB) is None
        monkeypatch.undo()
        assert tail.last_error == "PermissionError: Permission denied"
        tail.close()

    def test_directory_is_an_error_not_a_crash(self, tmp_path: Path) -> None:
        with FileTail(str(tmp_path), None, MB) as tail:
            assert tail.poll(MB) is None
            assert tail.last_error is not None
            assert "not a regular file" in tail.last_error
            assert not tail.holds_descriptor

    def test_misuse_raises(self, tmp_path: Path) -> None:
        """Polling a closed tail or asking for nothing are programming errors."""
        tail = FileTail(str(tmp_path / "x"), None, MB)
        with pytest.raises(ValueError, match="max_bytes"):
            tail.poll(0)
        tail.close()
        tail.close()
        with pytest.raises(RuntimeError, match="closed"):
            tail.poll(MB)


class TestResources:
    """Memory and descriptor bounds."""

    def test_oversized_line_between_valid_lines(self, tmp_path: Path) -> None:
        """A 20 MB line with a 1 MB limit: neighbours intact, offsets exact, memory bounded."""
        path = tmp_path / "o.jsonl"
        big = 20 * MB
        with path.open("wb") as f:
            f.write(b'{"before":1}\n')
            for _ in range(big // MB):
                f.write(b"z" * MB)
            f.write(b'\n{"after":1}\n')
        start = 13
        tracemalloc.start()
        try:
            with FileTail(str(path), None, MB, chunk_bytes=256 * 1024) as tail:
                first = tail.poll(MB)
                assert first is not None
                assert first.lines == [(0, b'{"before":1}')]
                restart_cp = first.checkpoint
                reads = [first]
                while not reads[-1].eof:
                    read = tail.poll(MB)
                    assert read is not None
                    assert tail.buffered_bytes <= MB
                    reads.append(read)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 6 * MB
        oversized = [o for r in reads for o in r.oversized]
        digest = hashlib.sha256(b"z" * big).hexdigest()
        assert [(o.offset, o.size, o.sha256, o.prefix) for o in oversized] == [
            (start, big, digest, b"z" * 256)
        ]
        assert lines_of(reads) == [(0, b'{"before":1}'), (start + big + 1, b'{"after":1}')]
        assert reads[-1].checkpoint.offset == path.stat().st_size
        with reopen_from(restart_cp, path, chunk_bytes=MB) as again:
            redo = drain(again, 4 * MB)
        assert [o.offset for r in redo for o in r.oversized] == [start]
        assert lines_of(redo) == [(start + big + 1, b'{"after":1}')]

    def test_idle_files_hold_no_descriptor(self, tmp_path: Path) -> None:
        """Polling 200 files to EOF leaves the process with no more descriptors (R15)."""
        tails = []
        for i in range(200):
            path = tmp_path / f"{i}.jsonl"
            write(path, b'{"i":%d}\n' % i)
            tails.append(FileTail(str(path), None, MB))
        before = open_fds()
        reads = [t.poll(MB) for t in tails]
        assert open_fds() == before
        assert all(r is not None and r.eof and len(r.lines) == 1 for r in reads)
        assert not any(t.holds_descriptor for t in tails)
        for t in tails:
            t.close()
