"""``status`` and ``doctor`` on a stopped and on a running daemon (real subprocesses)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.collector.service.daemon_harness import Instance, claude_lines, expect
from tests.collector.service.standins import Managers

SESSIONS = ("11111111-2222-4333-8444-555555555555", "22222222-2222-4333-8444-555555555555")
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as handle:
        handle.write(data)


def json_of(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    return dict(orjson.loads(done.stdout))


class Stopped:
    """Two transcripts ingested by ``run --once``; the second ends in a partial line."""

    def __init__(self, root: Path) -> None:
        self.instance = Instance(root)
        lines = claude_lines("drm-hello-world-script.jsonl")
        self.complete = self.instance.claude / "-p" / f"{SESSIONS[0]}.jsonl"
        self.partial = self.instance.claude / "-q" / f"{SESSIONS[1]}.jsonl"
        self.tail = lines[1][:25]
        write(self.complete, b"".join(lines))
        write(self.partial, lines[0] + self.tail)
        done = self.instance.run("run", "--once")
        assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def stopped(tmp_path_factory: pytest.TempPathFactory) -> Stopped:
    return Stopped(tmp_path_factory.mktemp("stopped"))


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[Instance, subprocess.Popen[bytes]]]:
    instance = Instance(tmp_path)
    write(instance.claude / "-p" / f"{SESSIONS[0]}.jsonl",
          b"".join(claude_lines("drm-coverage-test-fix.jsonl")))  # fmt: skip
    proc = instance.start()
    try:
        instance.wait_ready(proc)
        yield instance, proc
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0


class TestStatusStopped:
    """No daemon: exit 1, and what the database says."""

    def test_exit_1_and_not_running(self, stopped: Stopped) -> None:
        """The human form says so and the exit code lets scripts tell."""
        done = stopped.instance.run("status")
        assert done.returncode == 1, done.stderr
        assert "not running" in done.stdout

    def test_totals_lag_size_and_last_commit(self, stopped: Stopped) -> None:
        """Totals equal the database's counts; the partial last line is the only lag, per file
        and per source; the size covers the database and its WAL; a last commit time."""
        instance = stopped.instance
        done = instance.run("status", "--json")
        assert done.returncode == 1
        report = json_of(done)
        assert (report["daemon_running"], report["pid"], report["daemon"]) == (False, None, None)
        totals = report["totals"]
        assert totals["events"] == instance.query("SELECT COUNT(*) FROM events")[0][0] > 0
        assert totals["sessions"] == 2
        assert totals["files"] == 2
        assert totals["lag_bytes"] == len(stopped.tail)
        files = {entry["path"]: entry for entry in report["files"]}
        assert files[str(stopped.partial)]["lag"] == len(stopped.tail)
        assert files[str(stopped.partial)]["offset"] == stopped.partial.stat().st_size - len(
            stopped.tail
        )
        assert files[str(stopped.complete)]["lag"] == 0
        source = report["sources"]["claude-code"]
        assert source["files"] == 2
        assert source["lag_bytes"] == len(stopped.tail)
        assert source["lagging_files"] == 1
        sizes = sum(os.stat(f"{instance.database}{s}").st_size for s in ("", "-wal", "-shm")
                    if os.path.exists(f"{instance.database}{s}"))  # fmt: skip
        assert report["database"]["bytes"] == sizes
        assert ISO.fullmatch(report["database"]["last_commit"])
        assert set(report["errors"]) >= {"commit_failures", "parse_problems", "read_errors"}

    def test_lagging_file_is_listed(self, stopped: Stopped) -> None:
        """The human form names the lagging file."""
        done = stopped.instance.run("status")
        assert f"behind       25 B  {stopped.partial}" in done.stdout


class TestStatusRunning:
    """A daemon runs: exit 0, pid, uptime and its counters."""

    def test_pid_uptime_counters(self, running: tuple[Instance, subprocess.Popen[bytes]]) -> None:
        """The lock's pid, an uptime, pipeline counters with no errors, watch modes."""
        instance, proc = running

        def committed() -> dict[str, Any]:  # the status file catches up within a second
            done = instance.run("status", "--json")
            assert done.returncode == 0, done.stderr
            report = json_of(done)
            return report if report["counters"].get("commits") else {}

        report = expect(committed, 15)
        assert report["daemon_running"] is True
        assert report["pid"] == proc.pid
        daemon = report["daemon"]
        assert 0 <= daemon["uptime_s"] < 60
        assert daemon["status_age_s"] < 5
        assert daemon["watch_modes"][str(instance.claude)] in ("inotify", "polling")
        assert report["counters"]["commits"] >= 1
        assert not any(report["errors"].values())
        human = instance.run("status")
        assert human.returncode == 0
        assert f"running, pid {proc.pid}" in human.stdout


class TestDoctor:
    """One line per check, ok / warn / fail with a fix."""

    def test_stopped_daemon_warns_and_passes(self, stopped: Stopped) -> None:
        """A healthy installation without a daemon: warnings only, exit 0."""
        done = stopped.instance.run("doctor", "--json")
        assert done.returncode == 0, done.stdout + done.stderr
        checks = {c["name"]: c for c in json_of(done)["checks"]}
        assert checks["config"]["level"] == "ok"
        assert checks["database"]["level"] == "ok"
        assert "quick_check ok" in checks["database"]["message"]
        assert checks["daemon"]["level"] == "warn"
        assert checks["daemon"]["fix"]
        assert checks["root claude-code"]["level"] == "ok"
        assert checks["permissions"]["level"] == "ok"

    def test_inotify_counts_the_folders_to_watch(self, stopped: Stopped) -> None:
        """The folder count is the roots' directories (counted here with os.walk)."""
        if not Path("/proc/sys/fs/inotify").is_dir():
            pytest.skip("no inotify on this system")
        expected = sum(1 for _ in os.walk(stopped.instance.claude))
        done = stopped.instance.run("doctor")
        assert re.search(
            rf"inotify\s+{expected} folders to watch, max_user_watches \d+", done.stdout
        )

    def test_running_daemon_passes(self, running: tuple[Instance, subprocess.Popen[bytes]]) -> None:
        """With the daemon up the daemon line is ok too."""
        instance, proc = running
        done = instance.run("doctor")
        assert done.returncode == 0, done.stdout
        assert re.search(rf"^ok\s+daemon\s+pid {proc.pid} running", done.stdout, re.M)

    def test_loose_permissions_warn_with_the_fix(self, tmp_path: Path) -> None:
        """A database others can read is a warning naming the chmod."""
        instance = Instance(tmp_path)
        assert instance.run("run", "--once").returncode == 0
        instance.database.chmod(0o644)
        done = instance.run("doctor")
        assert done.returncode == 0
        assert re.search(r"^warn\s+permissions\s+.*events\.db: mode 0644", done.stdout, re.M)
        assert f"fix: chmod 600 {instance.database}" in done.stdout

    def test_damaged_database_fails(self, tmp_path: Path) -> None:
        """A truncated database fails the database check: exit 1."""
        instance = Instance(tmp_path)
        write(instance.claude / "-p" / f"{SESSIONS[0]}.jsonl",
              b"".join(claude_lines("drm-coverage-test-fix.jsonl")))  # fmt: skip
        assert instance.run("run", "--once").returncode == 0
        data = instance.database.read_bytes()
        instance.database.write_bytes(data[: len(data) // 3])
        done = instance.run("doctor")
        assert done.returncode == 1, done.stdout
        assert re.search(r"^fail\s+database", done.stdout, re.M)

    def test_broken_config_is_a_failed_check_not_a_crash(self, tmp_path: Path) -> None:
        """doctor still runs the other checks and names file, line and key."""
        instance = Instance(tmp_path)
        config = instance.home / ".config" / "agent-viz-monitor" / "config.toml"
        config.parent.mkdir(parents=True)
        config.write_text('[collector]\nbatch_rows = "many"\n')
        done = instance.run("doctor")
        assert done.returncode == 1
        assert re.search(rf"^fail\s+config\s+{re.escape(str(config))}:2: collector.batch_rows",
                         done.stdout, re.M)  # fmt: skip
        assert re.search(r"^ok\s+root claude-code", done.stdout, re.M)

    def test_service_installed_and_active(self, tmp_path: Path) -> None:
        """After install-service (stand-in systemctl, see test_install_service) the service
        check is ok; once the manager reports it inactive it warns."""
        instance = Instance(tmp_path)
        managers = Managers(tmp_path)
        env = managers.env({**instance.env, "XDG_RUNTIME_DIR": str(tmp_path)})

        def cli(*args: str) -> subprocess.CompletedProcess[str]:
            argv = [sys.executable, "-m", "collector.cli", *args]
            return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60,
                                  check=False)  # fmt: skip

        assert cli("doctor", "--manager", "systemd").stdout.count("not installed") == 1
        assert cli("install-service", "--manager", "systemd").returncode == 0
        assert re.search(r"^ok\s+service\s+installed and active", cli("doctor", "--manager",
                         "systemd").stdout, re.M)  # fmt: skip
        managers.state.write_text('{"enabled": true, "active": false}')
        assert re.search(r"^warn\s+service\s+installed but inactive", cli("doctor", "--manager",
                         "systemd").stdout, re.M)  # fmt: skip
