"""A transcript renamed within a root after it went idle keeps its identity (R10, R11).

Idle here means the daemon has closed the file's descriptor and parked it (only its committed
position is kept). A rename must then resume at that position under the file's first session,
whichever path the daemon happens to look at first:

- renamed in its folder: the watcher reports the old path, then the new one;
- its folder renamed (a Copilot session folder, which names the session): only the new folder
  is reported, so the new path is opened before the old one is noticed gone;
- renamed while the daemon was stopped: the next start sees only the new path.

Each case appends more lines after the rename and compares every stored event with a clean
ingest of the same lines: nothing stored twice, nothing lost, one session. The daemon is a real
subprocess; "parked" is a positive signal (no descriptor of the file in /proc/<pid>/fd).
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.collector.service.daemon_harness import FIXTURES, Instance, claude_lines, expect

SESSION = "11111111-2222-4333-8444-555555555555"
RENAMED = "99999999-2222-4333-8444-555555555555"
OLD = 1_000_000_000  # an mtime in 2001: the file is quiet, so the daemon parks it once read


def copilot_root(instance: Instance) -> Path:
    return instance.home / ".copilot" / "session-state"


def claude_corpus() -> list[bytes]:
    lines = claude_lines("drm-coverage-test-fix.jsonl", "drm-python-to-rust-port.jsonl")
    assert len(lines) > 60
    return lines[:60]


def copilot_corpus() -> list[bytes]:
    data = (FIXTURES / "copilot" / "qiaolei81-session-demo-EXCERPT.jsonl").read_bytes()
    lines = [line + b"\n" for line in data.split(b"\n") if line.strip()]
    assert len(lines) > 20
    return lines


def stored(instance: Instance) -> list[tuple[str, str]]:
    """(session key, event id) of every event, sorted."""
    return sorted(instance.event_keys())


def clean_ingest(tmp: Path, place: Callable[[Instance], Path], lines: list[bytes]) -> list[Any]:
    clean = Instance(tmp)
    path = place(clean)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"".join(lines))
    assert clean.run("run", "--once").returncode == 0
    return stored(clean)


def holds(proc: subprocess.Popen[bytes], path: Path) -> bool:
    """Does the daemon have a descriptor of ``path`` open."""
    fds = Path(f"/proc/{proc.pid}/fd")
    for fd in fds.iterdir():
        try:
            if os.readlink(fd) == str(path):
                return True
        except OSError:
            continue
    return False


def write_quiet(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, (OLD, OLD))


def parked(instance: Instance, proc: subprocess.Popen[bytes], path: Path) -> None:
    """Until every byte of ``path`` is committed and its descriptor is closed."""
    size = path.stat().st_size
    expect(lambda: instance.committed_offset(path) == size, 20)
    expect(lambda: not holds(proc, path), 20)


def append(path: Path, lines: list[bytes]) -> None:
    with open(path, "ab") as handle:
        handle.write(b"".join(lines))


def settle(instance: Instance, old: Path, new: Path, expected: list[Any]) -> None:
    """Until the new path is committed to its end and the old one retired, then compare."""
    retired = "SELECT deleted_at IS NOT NULL FROM files WHERE path = ?"
    expect(lambda: instance.committed_offset(new) == new.stat().st_size, 20)
    expect(lambda: instance.query(retired, (str(old),)) == [(1,)], 20)
    assert stored(instance) == expected
    assert instance.query("SELECT COUNT(*) FROM parse_problems", strict=True) == [(0,)]


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0


def test_renamed_in_its_folder_after_idle(tmp_path: Path) -> None:
    lines = claude_corpus()
    expected = clean_ingest(
        tmp_path / "clean", lambda i: i.claude / "-p" / f"{SESSION}.jsonl", lines
    )
    instance = Instance(tmp_path / "live", tracker__enabled="false")
    old = instance.claude / "-p" / f"{SESSION}.jsonl"
    new = instance.claude / "-p" / f"{RENAMED}.jsonl"
    write_quiet(old, b"".join(lines[:30]))
    proc = instance.start()
    try:
        instance.wait_ready(proc)
        parked(instance, proc, old)
        old.rename(new)
        append(new, lines[30:])
        settle(instance, old, new, expected)
    finally:
        stop(proc)


def test_session_folder_renamed_after_idle(tmp_path: Path) -> None:
    """Only the new folder is reported: the new path is read before the old is known gone.
    No periodic rescan gets in between (a long interval)."""
    lines = copilot_corpus()
    half = len(lines) // 2
    expected = clean_ingest(
        tmp_path / "clean", lambda i: copilot_root(i) / SESSION / "events.jsonl", lines
    )
    instance = Instance(
        tmp_path / "live", tracker__enabled="false", collector__rescan_interval="600"
    )
    old = copilot_root(instance) / SESSION / "events.jsonl"
    new = copilot_root(instance) / RENAMED / "events.jsonl"
    write_quiet(old, b"".join(lines[:half]))
    proc = instance.start()
    try:
        instance.wait_ready(proc)
        parked(instance, proc, old)
        old.parent.rename(new.parent)
        append(new, lines[half:])
        settle(instance, old, new, expected)
    finally:
        stop(proc)


@pytest.mark.parametrize("where", ["same-folder", "other-folder"])
def test_renamed_while_stopped(tmp_path: Path, where: str) -> None:
    lines = claude_corpus()
    expected = clean_ingest(
        tmp_path / "clean", lambda i: i.claude / "-p" / f"{SESSION}.jsonl", lines
    )
    instance = Instance(tmp_path / "live", tracker__enabled="false")
    old = instance.claude / "-p" / f"{SESSION}.jsonl"
    new = instance.claude / ("-p" if where == "same-folder" else "-q") / f"{RENAMED}.jsonl"
    write_quiet(old, b"".join(lines[:30]))
    assert instance.run("run", "--once").returncode == 0
    assert instance.committed_offset(old) == old.stat().st_size
    new.parent.mkdir(parents=True, exist_ok=True)
    old.rename(new)
    append(new, lines[30:])
    proc = instance.start()
    try:
        instance.wait_ready(proc)
        settle(instance, old, new, expected)
    finally:
        stop(proc)
    # A second restart resumes the new path under the same session, reading nothing again.
    append(new, [])
    assert instance.run("run", "--once").returncode == 0
    assert stored(instance) == expected
