"""Links, FIFOs and devices planted in a root while the daemon runs are never read: one rule
for the live path, the rescan and the backfill (``run --once``)."""

from __future__ import annotations

import os
import signal
import stat
from pathlib import Path

from tests.collector.service.daemon_harness import Instance, claude_lines, expect

UUIDS = [f"{i:08x}-2222-4333-8444-555555555555" for i in range(8)]


def plant(instance: Instance, outside: Path) -> list[Path]:
    """Every kind of thing that must not be read, named like a transcript."""
    project = instance.claude / "-p"
    project.mkdir(parents=True, exist_ok=True)
    outside.mkdir(parents=True, exist_ok=True)
    secret = outside / "secret.jsonl"  # a valid transcript, but outside every root
    secret.write_bytes(b"".join(claude_lines("drm-coverage-test-fix.jsonl")))
    (outside / "project").mkdir(exist_ok=True)
    (outside / "project" / f"{UUIDS[0]}.jsonl").write_bytes(secret.read_bytes())
    planted = [project / f"{UUIDS[1]}.jsonl", project / f"{UUIDS[2]}.jsonl",
               project / f"{UUIDS[3]}.jsonl", project / f"{UUIDS[4]}.jsonl",
               instance.claude / "-linked-folder"]  # fmt: skip
    planted[0].symlink_to("/etc/passwd")
    planted[1].symlink_to(secret)
    os.mkfifo(planted[2])
    planted[3].symlink_to("/dev/zero")
    planted[4].symlink_to(outside / "project", target_is_directory=True)
    if os.geteuid() == 0:  # a real character device node (/dev/zero's numbers)
        device = project / f"{UUIDS[5]}.jsonl"
        os.mknod(device, stat.S_IFCHR | 0o600, os.makedev(1, 5))
        planted.append(device)
    return planted


def ingested_paths(instance: Instance) -> set[str]:
    return {str(r[0]) for r in instance.query("SELECT path FROM files", strict=True)}


def assert_nothing_planted_was_read(instance: Instance, legit: Path) -> None:
    assert ingested_paths(instance) == {str(legit)}
    assert instance.query("SELECT COUNT(*) FROM parse_problems", strict=True) == [(0,)]
    prefixes = instance.query("SELECT prefix FROM parse_problems", strict=True)
    assert not any("root:x:0:0" in str(p) for p in prefixes)
    sessions = instance.query("SELECT transcript_path FROM sessions", strict=True)
    assert {str(s[0]) for s in sessions} == {str(legit)}


def test_planted_while_running_are_never_read(tmp_path: Path) -> None:
    """File and folder symlinks to outside targets, a FIFO and /dev/zero appear while the
    daemon runs; a real transcript written after them is ingested (the daemon processed the
    notifications in between), the others never are, and the daemon stops at once."""
    instance = Instance(tmp_path)
    instance.claude.mkdir(parents=True)
    proc = instance.start()
    try:
        instance.wait_ready(proc)
        plant(instance, tmp_path / "outside")
        legit = instance.claude / "-p" / f"{UUIDS[7]}.jsonl"
        legit.write_bytes(b"".join(claude_lines("drm-hello-world-script.jsonl")))
        expect(lambda: instance.committed_offset(legit) == legit.stat().st_size)
        # two full rescan intervals pass with a positive signal: the status file is rewritten
        first = instance.status().get("uptime_s", 0)
        expect(lambda: instance.status().get("uptime_s", 0) >= first + 2.5, 20)
        assert_nothing_planted_was_read(instance, legit)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0


def test_backfill_never_reads_them_either(tmp_path: Path) -> None:
    """The same things present before ``run --once``: only the real transcript is read."""
    instance = Instance(tmp_path)
    plant(instance, tmp_path / "outside")
    legit = instance.claude / "-p" / f"{UUIDS[7]}.jsonl"
    legit.write_bytes(b"".join(claude_lines("drm-hello-world-script.jsonl")))
    done = instance.run("run", "--once", timeout=60)
    assert done.returncode == 0, done.stderr
    assert_nothing_planted_was_read(instance, legit)
