"""FileTail with ``keep_open``: lines appended just before the path goes are read through the
descriptor, and the read says how the path went; ``open_regular`` never follows or blocks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from collector.ingest.tail import FileTail, open_regular

LINE = b'{"n": 1}\n'


def caught_up(path: Path) -> FileTail:
    path.write_bytes(LINE * 3)
    tail = FileTail(str(path), None, 1 << 20)
    read = tail.poll(1 << 20, keep_open=True)
    assert read is not None
    assert len(read.lines) == 3
    assert read.eof
    assert tail.holds_descriptor  # kept past EOF
    return tail


@pytest.mark.parametrize("how", ["rename", "unlink"])
def test_lines_before_the_path_went_are_read(tmp_path: Path, how: str) -> None:
    path = tmp_path / "t.jsonl"
    with caught_up(path) as tail:
        with open(path, "ab") as handle:
            handle.write(LINE * 5 + b'{"half"')
        if how == "rename":
            path.rename(tmp_path / "elsewhere.jsonl")
        else:
            path.unlink()
        read = tail.poll(1 << 20, keep_open=True)
        assert read is not None
        assert len(read.lines) == 5
        assert read.eof
        assert (read.moved, read.deleted) == ((True, False) if how == "rename" else (False, True))
        assert read.partial_bytes == len(b'{"half"')
        assert not tail.holds_descriptor


def test_replaced_path_is_followed_after_the_old_file_is_drained(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    with caught_up(path) as tail:
        with open(path, "ab") as handle:
            handle.write(LINE)
        other = tmp_path / "new.jsonl"
        other.write_bytes(b'{"other": 1}\n')
        os.replace(other, path)
        drained = tail.poll(1 << 20, keep_open=True)
        assert drained is not None
        assert len(drained.lines) == 1
        assert not drained.eof  # look again: the path names another file now
        fresh = tail.poll(1 << 20, keep_open=True)
        assert fresh is not None
        assert fresh.reset
        assert [line for _, line in fresh.lines] == [b'{"other": 1}']


def test_without_keep_open_the_descriptor_closes_at_eof(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(LINE)
    with FileTail(str(path), None, 1 << 20) as tail:
        assert tail.poll(1 << 20) is not None
        assert not tail.holds_descriptor


def test_open_regular_refuses_links_fifos_and_devices(tmp_path: Path) -> None:
    (tmp_path / "link").symlink_to("/etc/passwd")
    os.mkfifo(tmp_path / "fifo")  # no writer: a blocking open would hang here
    (tmp_path / "zero").symlink_to("/dev/zero")
    for name in ("link", "fifo", "zero"):
        with pytest.raises(OSError):  # noqa: PT011 - ELOOP or EINVAL, both "never read"
            os.close(open_regular(str(tmp_path / name)))
    with pytest.raises(OSError):  # noqa: PT011
        os.close(open_regular("/dev/null"))
    regular = tmp_path / "file"
    regular.write_bytes(LINE)
    fd = open_regular(str(regular))
    try:
        assert os.read(fd, 100) == LINE
    finally:
        os.close(fd)
