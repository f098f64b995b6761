"""The database goes away or fills up under a running daemon (a real subprocess).

- ``rm events.db*``: the daemon would go on committing into an unlinked inode nobody can read.
  It must exit non-zero, naming the path, so the service manager restarts it on a fresh file.
- Disk full: simulated with ``RLIMIT_FSIZE`` set on the running daemon (``prlimit``), so every
  WAL write and the status file fail with EFBIG as they would with ENOSPC; the daemon's log goes
  to a pipe, which the limit does not cover. ``status`` must say its figures are stale, the
  failure must reach the log at error level and sd_notify ``STATUS=``, and nothing is lost
  once the limit is lifted.
"""

from __future__ import annotations

import resource
import signal
import subprocess
import threading
from pathlib import Path

import orjson

from tests.collector.service.daemon_harness import Instance, claude_lines, expect
from tests.collector.service.notify_listener import NotifyListener

SESSION = "11111111-2222-4333-8444-555555555555"


def append(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as handle:
        handle.write(data)


class PipedDaemon:
    """``run`` with its log on a pipe, collected by a thread."""

    def __init__(self, instance: Instance) -> None:
        self.proc = subprocess.Popen(instance.command("run"), env=instance.env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
        self._lines: list[str] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, name="daemon-log", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            with self._lock:
                self._lines.append(raw.decode(errors="replace"))

    def log(self) -> str:
        with self._lock:
            return "".join(self._lines)

    def close(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(15)
        self._thread.join(5)
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        return code


def events_of(instance: Instance) -> set[str]:
    return {str(r[0]) for r in instance.query("SELECT agent_event_id FROM events", strict=True)}


def test_deleted_database_stops_the_daemon_naming_it(tmp_path: Path) -> None:
    """``rm events.db*`` while running: a non-zero exit within 30 s, the path in the message."""
    instance = Instance(tmp_path)
    path = instance.claude / "-p" / f"{SESSION}.jsonl"
    append(path, b"".join(claude_lines("drm-hello-world-script.jsonl")))
    daemon = PipedDaemon(instance)
    try:
        expect(lambda: instance.committed_offset(path) == path.stat().st_size, 20)
        for item in instance.database.parent.glob("events.db*"):
            item.unlink()
        append(path, b"".join(claude_lines("drm-coverage-test-fix.jsonl")))
        code = daemon.proc.wait(30)
    finally:
        daemon.close()
    assert code != 0
    assert f"database {instance.database} was deleted" in daemon.log()
    assert "database_deleted" in daemon.log()


def test_disk_full_makes_status_stale_and_loses_nothing(tmp_path: Path) -> None:
    """Commits and the status file fail: ``status`` says stale (and since when), the log and
    sd_notify STATUS= say commits fail; after the limit is lifted every line is stored."""
    listener = NotifyListener(str(tmp_path / "notify"))
    instance = Instance(tmp_path / "i")
    instance.env["NOTIFY_SOCKET"] = listener.address
    lines = claude_lines("drm-hello-world-script.jsonl", "drm-coverage-test-fix.jsonl")
    path = instance.claude / "-p" / f"{SESSION}.jsonl"
    append(path, b"".join(lines[:5]))
    daemon = PipedDaemon(instance)
    try:
        expect(lambda: instance.committed_offset(path) == path.stat().st_size, 20)
        expect(lambda: instance.status().get("pid") == daemon.proc.pid)
        before = events_of(instance)
        limit = resource.prlimit(daemon.proc.pid, resource.RLIMIT_FSIZE)
        resource.prlimit(daemon.proc.pid, resource.RLIMIT_FSIZE, (64, limit[1]))
        append(path, b"".join(lines[5:]))
        expect(lambda: "commit_failed" in daemon.log(), 20)
        failed = [orjson.loads(line) for line in daemon.log().splitlines()
                  if '"commit_failed"' in line]  # fmt: skip
        assert failed[0]["level"] == "error"
        expect(lambda: any(f.get("STATUS", "").startswith("COMMITS FAILING")
                           for _, f in listener.messages()), 20)  # fmt: skip

        def stale() -> dict[str, object] | None:
            done = instance.run("status", "--json")
            report = orjson.loads(done.stdout)
            daemon_facts = report["daemon"] or {}
            return report if daemon_facts.get("status_stale") else None

        report = expect(stale, 60, interval=1.0)
        assert report["daemon"]["status_written"]
        human = instance.run("status").stdout
        assert "STALE" in human
        assert instance.committed_offset(path) < path.stat().st_size  # nothing moved meanwhile
        assert events_of(instance) == before
        resource.prlimit(daemon.proc.pid, resource.RLIMIT_FSIZE, limit)
        expect(lambda: instance.committed_offset(path) == path.stat().st_size, 30)
        expect(lambda: stale() is None, 20, interval=0.5)
        clean = Instance(tmp_path / "clean")
        append(clean.claude / "-p" / f"{SESSION}.jsonl", b"".join(lines))
        assert clean.run("run", "--once").returncode == 0
        assert events_of(instance) == events_of(clean)
        assert instance.status()["counters"]["commit_failures"] > 0
    finally:
        assert daemon.close() == 0
        listener.close()
