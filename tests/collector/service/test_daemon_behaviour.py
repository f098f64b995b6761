"""The daemon as a real subprocess: bad lines, rewritten files, bursts, locks, signals."""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from tests.collector.service.daemon_harness import Instance, claude_lines, expect

SESSION = "11111111-2222-4333-8444-555555555555"


def event_ids(instance: Instance) -> set[str]:
    return {str(r[0]) for r in instance.query("SELECT agent_event_id FROM events")}


def write(path: Path, data: bytes, mode: str = "ab") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, mode) as handle:
        handle.write(data)


def run_once(instance: Instance) -> None:
    result = instance.run("run", "--once")
    assert result.returncode == 0, result.stderr


class TestBadInput:
    """Invalid, oversized and partial lines never cost a valid one."""

    def test_invalid_and_oversized_lines_between_valid_ones_lose_nothing(
        self, tmp_path: Path
    ) -> None:
        """Garbage, invalid UTF-8, NUL and a line over max_line_bytes sit between valid
        lines; every valid line is stored, each bad one is one recorded problem."""
        instance = Instance(tmp_path, collector__max_line_bytes=4096)
        lines = claude_lines("drm-hello-world-script.jsonl")
        small = [line for line in lines if len(line) < 4000]
        bad = [b"{not json\n", b"\xff\xfe\xfd\n", b'{"a": "\x00"}\n',
               b'{"type": "user", "x": "' + b"y" * 10_000 + b'"}\n']  # fmt: skip
        mixed = []
        for i, line in enumerate(small):
            mixed.append(line)
            mixed.append(bad[i % len(bad)])
        path = instance.claude / "-p" / f"{SESSION}.jsonl"
        write(path, b"".join(mixed))
        run_once(instance)
        clean = Instance(tmp_path / "clean")
        write(clean.claude / "-p" / f"{SESSION}.jsonl", b"".join(small))
        run_once(clean)
        assert event_ids(instance) == event_ids(clean)
        problems = instance.query("SELECT reason FROM parse_problems")
        assert len(problems) == len(small)
        assert any("oversized" in r[0] for r in problems)
        assert instance.committed_offset(path) == path.stat().st_size

    def test_partial_last_line_is_held_until_its_newline(self, tmp_path: Path) -> None:
        """A line without its newline is not ingested; once completed it is, exactly once."""
        instance = Instance(tmp_path)
        lines = claude_lines("drm-hello-world-script.jsonl")
        path = instance.claude / "-p" / f"{SESSION}.jsonl"
        write(path, lines[0] + lines[1][:40])
        run_once(instance)
        first = event_ids(instance)
        assert instance.committed_offset(path) == len(lines[0])
        assert instance.query("SELECT COUNT(*) FROM parse_problems") == [(0,)]
        write(path, lines[1][40:])
        run_once(instance)
        assert event_ids(instance) > first
        assert instance.committed_offset(path) == len(lines[0]) + len(lines[1])

    def test_unterminated_last_line_of_a_deleted_file_is_parsed_once(self, tmp_path: Path) -> None:
        """R7: a last line without newline is held while the file lives; when the file is
        deleted no newline can come, so the fragment is parsed as it is."""
        instance = Instance(tmp_path)
        lines = claude_lines("drm-hello-world-script.jsonl")
        path = instance.claude / "-p" / f"{SESSION}.jsonl"
        write(path, lines[0] + lines[1].rstrip(b"\n"))
        clean = Instance(tmp_path / "clean")
        write(clean.claude / "-p" / f"{SESSION}.jsonl", lines[0] + lines[1])
        run_once(clean)
        proc = instance.start()
        try:
            instance.wait_ready(proc)
            expect(lambda: instance.committed_offset(path) == len(lines[0]))
            assert event_ids(instance) < event_ids(clean)
            path.unlink()
            expect(lambda: event_ids(instance) == event_ids(clean))
            assert instance.query("SELECT COUNT(*) FROM parse_problems") == [(0,)]
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(10) == 0


class TestFileIdentity:
    """Rewrites, truncation and inode reuse are detected; re-reading adds no row."""

    def test_offline_rewrite_to_larger_size_is_detected(self, tmp_path: Path) -> None:
        """While the daemon is stopped the file is replaced in place by different, longer
        content: it is re-read from 0 and the new content's events are stored."""
        instance = Instance(tmp_path)
        old = claude_lines("drm-hello-world-script.jsonl")
        new = claude_lines("drm-stop-hook-reflection-first-stop.jsonl")
        path = instance.claude / "-p" / f"{SESSION}.jsonl"
        write(path, b"".join(old))
        run_once(instance)
        before = event_ids(instance)
        inode = path.stat().st_ino
        write(path, b"".join(new), mode="r+b")  # same inode, rewritten from byte 0
        assert path.stat().st_ino == inode
        assert path.stat().st_size > len(b"".join(old))
        run_once(instance)
        clean = Instance(tmp_path / "clean")
        write(clean.claude / "-p" / f"{SESSION}.jsonl", b"".join(new))
        run_once(clean)
        assert event_ids(instance) == before | event_ids(clean)
        assert instance.query("SELECT resets FROM files") == [(1,)]

    def test_inode_reuse_is_detected(self, tmp_path: Path) -> None:
        """Delete the file and create another at the same path (the kernel often hands out
        the same inode): the new file is read from 0."""
        instance = Instance(tmp_path)
        path = instance.claude / "-p" / f"{SESSION}.jsonl"
        write(path, b"".join(claude_lines("drm-coverage-test-fix.jsonl")))
        run_once(instance)
        before = event_ids(instance)
        path.unlink()
        new = claude_lines("drm-hello-world-script.jsonl")
        write(path, b"".join(new))
        run_once(instance)
        clean = Instance(tmp_path / "clean")
        write(clean.claude / "-p" / f"{SESSION}.jsonl", b"".join(new))
        run_once(clean)
        assert event_ids(clean) <= event_ids(instance)
        assert event_ids(instance) == before | event_ids(clean)

    def test_rereading_from_zero_adds_no_row(self, tmp_path: Path) -> None:
        """Forgetting every offset and ingesting again leaves the event count unchanged."""
        instance = Instance(tmp_path)
        for name in ("drm-coverage-test-fix.jsonl", "drm-python-to-rust-port.jsonl"):
            write(instance.claude / "-p" / name, b"".join(claude_lines(name)))
        run_once(instance)
        count = instance.query("SELECT COUNT(*) FROM events")
        conn = sqlite3.connect(instance.database)
        conn.execute("DELETE FROM files")
        conn.commit()
        conn.close()
        run_once(instance)
        assert instance.query("SELECT COUNT(*) FROM events") == count


class TestLiveDaemon:
    """Live tailing: bursts, locks, single instance, signals."""

    def test_burst_of_many_files_all_ingested(self, tmp_path: Path) -> None:
        """2,000 files created in a burst in new folders while the daemon runs: all ingested
        (the rescan catches what notifications miss). The 10,000-file run is marked slow."""
        self._burst(tmp_path, 2000)

    @pytest.mark.slow
    def test_burst_of_ten_thousand_files_all_ingested(self, tmp_path: Path) -> None:
        """The issue's figure: 10,000 files in a burst."""
        self._burst(tmp_path, 10_000)

    def test_without_notifications_the_rescan_finds_everything(self, tmp_path: Path) -> None:
        """R13: with notifications off (polling forced) files still arrive via the rescan,
        and status reports the degraded mode."""
        self._burst(tmp_path, 300, collector__force_polling="true")

    def _burst(self, tmp_path: Path, count: int, **overrides: str) -> None:
        instance = Instance(tmp_path, **overrides)
        instance.claude.mkdir(parents=True)
        proc = instance.start()
        try:
            instance.wait_ready(proc)
            line = claude_lines("drm-hello-world-script.jsonl")[0]
            for i in range(count):
                folder = instance.claude / f"-burst-{i % 100}"
                folder.mkdir(exist_ok=True)
                (folder / f"{i:08x}-0000-4000-8000-000000000000.jsonl").write_bytes(line)
            expect(lambda: instance.query("SELECT COUNT(*) FROM files") == [(count,)], 120)
            sessions = instance.query("SELECT COUNT(*) FROM sessions WHERE agent='claude-code'")
            assert sessions == [(count,)]
            if overrides:
                modes = instance.status()["watch_modes"]
                assert modes[str(instance.claude)] == "polling"
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(10) == 0

    def test_locked_database_delays_but_loses_nothing(self, tmp_path: Path) -> None:
        """Another process holds the write lock for 2 s while lines arrive: commits fail and
        are retried, the counter shows it, and every line lands afterwards."""
        instance = Instance(tmp_path, store__busy_timeout_ms=100)
        path = instance.claude / "-p" / f"{SESSION}.jsonl"
        lines = claude_lines("drm-coverage-test-fix.jsonl")
        write(path, lines[0])
        proc = instance.start()
        try:
            instance.wait_ready(proc)
            expect(lambda: instance.committed_offset(path) == len(lines[0]))
            locker = sqlite3.connect(instance.database, isolation_level=None)
            locker.execute("BEGIN EXCLUSIVE")
            write(path, b"".join(lines[1:]))
            expect(lambda: instance.status().get("counters", {}).get("commit_failures", 0) > 0)
            assert instance.committed_offset(path) == len(lines[0])  # no offset moved
            locker.execute("ROLLBACK")
            locker.close()
            expect(lambda: instance.committed_offset(path) == path.stat().st_size, 20)
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(10) == 0
        clean = Instance(tmp_path / "clean")
        write(clean.claude / "-p" / f"{SESSION}.jsonl", b"".join(lines))
        run_once(clean)
        assert event_ids(instance) == event_ids(clean)

    def test_corrupt_database_refuses_to_start_and_writes_nothing(self, tmp_path: Path) -> None:
        """R5: a damaged database is not silently re-created or re-ingested into: the daemon
        exits 1 naming the file, and the file is left as it was."""
        instance = Instance(tmp_path)
        write(instance.claude / "-p" / f"{SESSION}.jsonl",
              b"".join(claude_lines("drm-coverage-test-fix.jsonl")))  # fmt: skip
        run_once(instance)
        data = instance.database.read_bytes()
        instance.database.write_bytes(data[: len(data) // 3])
        for suffix in ("-wal", "-shm"):
            Path(f"{instance.database}{suffix}").unlink(missing_ok=True)
        damaged = instance.database.read_bytes()
        result = instance.run("run", "--once")
        assert result.returncode == 1, result.stderr
        assert str(instance.database) in result.stderr
        assert "Traceback" not in result.stderr
        assert instance.database.read_bytes() == damaged

    def test_second_instance_exits_3(self, tmp_path: Path) -> None:
        """One daemon per database: a second one exits 3 with a clear message."""
        instance = Instance(tmp_path)
        proc = instance.start()
        try:
            instance.wait_ready(proc)
            second = instance.run("run")
            assert second.returncode == 3
            assert "already" in second.stderr
            assert str(proc.pid) in second.stderr
            assert "Traceback" not in second.stderr
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(10) == 0

    def test_sigterm_during_large_backfill_exits_fast_and_restart_loses_nothing(
        self, tmp_path: Path
    ) -> None:
        """SIGTERM while a large backlog is being read: exit 0 within 5 s; a restart
        finishes it with nothing lost."""
        instance = Instance(tmp_path)
        pool = claude_lines("codemie-session-3fe1b6bc.jsonl", "codemie-session-196820da.jsonl",
                            "drm-python-to-rust-port.jsonl")  # fmt: skip
        for i in range(40):
            write(instance.claude / f"-p{i % 4}" / f"{i:08x}-0000-4000-8000-000000000000.jsonl",
                  b"".join(pool))  # fmt: skip
        proc = instance.start()
        instance.wait_ready(proc)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0, instance.logs()
        assert time.monotonic() - started < 5
        run_once(instance)
        total = sum(f.stat().st_size for f in instance.claude.rglob("*.jsonl"))
        committed = instance.query("SELECT SUM(offset) FROM files")[0][0]
        assert committed == total
        clean = Instance(tmp_path / "clean")
        write(clean.claude / "-p0" / "00000000-0000-4000-8000-000000000000.jsonl", b"".join(pool))
        run_once(clean)
        per_file = len(event_ids(clean))
        assert instance.query("SELECT COUNT(*) FROM events") == [(per_file * 40,)]

    def test_sighup_applies_new_roots_and_survives_a_bad_config(self, tmp_path: Path) -> None:
        """SIGHUP with an invalid config keeps running on the old one; with a valid config
        that enables a new root, that root's transcripts are ingested."""
        instance = Instance(tmp_path)
        config = instance.home / ".config" / "agent-viz-monitor" / "config.toml"
        config.parent.mkdir(parents=True)
        extra = tmp_path / "elsewhere"
        config.write_text("[sources.codex]\nenabled = false\n")
        codex_file = (
            extra
            / "2026"
            / "01"
            / "02"
            / "rollout-2026-01-02T18-39-45-0199a1b2-0000-7000-8000-000000000001.jsonl"
        )
        fixture = (
            Path(__file__).resolve().parents[2]
            / "fixtures"
            / "codex"
            / "codemie-rollout-2026-01-02T18-39-45-shell.jsonl"
        )
        write(codex_file, fixture.read_bytes())
        proc = instance.start()
        try:
            instance.wait_ready(proc)
            config.write_text("[sources.codex]\nenabled = maybe\n")
            proc.send_signal(signal.SIGHUP)
            expect(lambda: "config_reload_failed" in instance.logs())
            assert proc.poll() is None
            config.write_text(f'[sources.codex]\nenabled = true\nroot = "{extra}"\n')
            proc.send_signal(signal.SIGHUP)
            expect(lambda: instance.committed_offset(codex_file) == codex_file.stat().st_size, 20)
            assert instance.query("SELECT COUNT(*) FROM events")[0][0] > 0
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(10) == 0
        assert os.path.exists(instance.database)


class TestResourceLimits:
    """R14: running out of descriptors never causes re-ingestion or loss."""

    def test_two_hundred_files_under_a_descriptor_limit_of_64(self, tmp_path: Path) -> None:
        """``ulimit -n 64`` with 200 transcripts: idle files hold no descriptor, so all are
        ingested exactly once; a second run adds nothing."""
        import resource
        import subprocess

        instance = Instance(tmp_path)
        line = claude_lines("drm-hello-world-script.jsonl")
        for i in range(200):
            write(instance.claude / f"-p{i % 10}" / f"{i:08x}-0000-4000-8000-000000000000.jsonl",
                  b"".join(line[:3]))  # fmt: skip

        def limit() -> None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))

        for _ in range(2):
            result = subprocess.run(instance.command("run", "--once"), env=instance.env,
                                    capture_output=True, text=True, timeout=120,
                                    preexec_fn=limit, check=False)  # fmt: skip
            assert result.returncode == 0, result.stderr[-2000:]
        assert instance.query("SELECT COUNT(*) FROM files WHERE offset = size") == [(200,)]
        clean = Instance(tmp_path / "clean")
        write(clean.claude / "-p0" / "00000000-0000-4000-8000-000000000000.jsonl",
              b"".join(line[:3]))  # fmt: skip
        run_once(clean)
        per_file = len(event_ids(clean))
        assert instance.query("SELECT COUNT(*) FROM events") == [(per_file * 200,)]
        assert instance.query("SELECT SUM(resets) FROM files") == [(0,)]
