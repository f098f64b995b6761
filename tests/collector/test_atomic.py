"""``write_atomic``: a reader sees the old file or the new one, at exactly the asked mode."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from collector.atomic import write_atomic


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("unique", [False, True])
def test_replaces_the_file_and_leaves_no_temporary(tmp_path: Path, unique: bool) -> None:
    path = tmp_path / "status.json"
    path.write_bytes(b"old")
    write_atomic(path, b"new" * 10_000, unique_temp=unique, fsync=unique)
    assert path.read_bytes() == b"new" * 10_000
    assert os.listdir(tmp_path) == ["status.json"]


def test_the_mode_is_exact_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        write_atomic(tmp_path / "a", b"x", mode=0o644)
        write_atomic(tmp_path / "b", b"x")
    finally:
        os.umask(old)
    assert _mode(tmp_path / "a") == 0o644
    assert _mode(tmp_path / "b") == 0o600


def test_a_private_file_replaces_a_readable_one_as_private(tmp_path: Path) -> None:
    path = tmp_path / "identities.json"
    path.write_bytes(b"{}")
    path.chmod(0o644)
    write_atomic(path, b"{}")
    assert _mode(path) == 0o600


def test_a_failed_write_keeps_the_old_file_and_removes_the_temporary(tmp_path: Path) -> None:
    target = tmp_path / "taken"
    target.mkdir()  # os.replace cannot put a file over a folder
    (target / "inside").write_bytes(b"kept")
    with pytest.raises(IsADirectoryError):
        write_atomic(target, b"new")
    assert sorted(os.listdir(tmp_path)) == ["taken"]
    assert (target / "inside").read_bytes() == b"kept"


def test_a_missing_folder_is_an_error_not_a_new_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_atomic(tmp_path / "nowhere" / "f", b"x")
    assert os.listdir(tmp_path) == []
