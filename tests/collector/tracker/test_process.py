"""Process identity, argv recognition, ancestry and exit notification, on real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from collector.tracker.liveness import ExitWatcher
from collector.tracker.process import (
    ProcessIdentity,
    ancestry,
    is_alive,
    read_cwd,
    read_identity,
    read_info,
    recognize_agent,
    stored_identity_alive,
    worth_reading,
)


class TestRecognizeAgent:
    """Agents are recognised by argv, including node-wrapped ones; look-alikes are not."""

    @pytest.mark.parametrize(
        ("argv", "agent"),
        [
            (["claude"], "claude-code"),
            (["/home/u/.local/bin/claude", "--resume", "x"], "claude-code"),
            (["node", "/usr/lib/node_modules/@anthropic-ai/claude-code/cli.js"], "claude-code"),
            (["/usr/bin/node", "--no-warnings", "/home/u/.npm/bin/claude"], "claude-code"),
            (["codex"], "codex"),
            (["node", "/usr/lib/node_modules/@openai/codex/bin/codex.js", "exec"], "codex"),
            (["copilot"], "copilot"),
            (["node", "/opt/node_modules/@github/copilot/index.js"], "copilot"),
            (["gemini"], "gemini"),
            (["node", "/x/node_modules/@google/gemini-cli/dist/index.js"], "gemini"),
            (["bun", "/x/bin/gemini"], "gemini"),
            (["python3", "/tmp/claude.py"], "claude-code"),
            (["C:\\Tools\\codex.exe"], "codex"),
            (["node", "server.js"], None),
            (["vim", "claude.md"], None),
            (["python", "-m", "claude_tools"], None),
            (["grep", "claude"], None),
            (["sh", "-c", "claude"], None),
            ([], None),
            ([""], None),
        ],
    )
    def test_table(self, argv: list[str], agent: str | None) -> None:
        """argv[0], or an interpreter's first non-option argument, names the agent."""
        assert recognize_agent(argv) == agent

    @pytest.mark.parametrize(
        ("comm", "worth"),
        [("claude", True), ("node", True), ("python3.11", True), ("2.1.128", True),
         ("bash", False), ("sshd", False), (None, False), ("", False)],
    )  # fmt: skip
    def test_worth_reading(self, comm: str | None, worth: bool) -> None:
        """Only likely agents get their argv read (macOS sets comm to the version)."""
        assert worth_reading(comm) is worth


class TestIdentity:
    """(pid, start) plus the boot id: a reused pid is another process."""

    def test_own_identity_is_stable_and_alive(self) -> None:
        """Reading our own identity twice gives the same process, alive."""
        first, second = read_identity(os.getpid()), read_identity(os.getpid())
        assert first is not None
        assert second is not None
        assert first.matches(second)
        assert is_alive(first)
        assert abs(first.started_at - time.time()) < 24 * 3600 * 365

    def test_start_mismatch_is_not_the_same_process(self) -> None:
        """Same pid, different start tick (a reused pid): not alive, never matched."""
        own = read_identity(os.getpid())
        assert own is not None
        reused = ProcessIdentity(own.pid, own.started_at - 50, (own.start_ticks or 0) - 5000,
                                 own.boot_id)  # fmt: skip
        assert not reused.matches(own)
        assert not is_alive(reused)
        other_boot = ProcessIdentity(own.pid, own.started_at, own.start_ticks, "another-boot")
        assert not is_alive(other_boot)

    def test_stored_identity_compares_with_tolerance(self) -> None:
        """A stored ISO start names the live process; a start an hour off does not."""
        own = read_identity(os.getpid())
        assert own is not None
        assert stored_identity_alive(own.pid, own.started_iso) is not None
        off = ProcessIdentity(own.pid, own.started_at - 3600).started_iso
        assert stored_identity_alive(own.pid, off) is None
        stepped = ProcessIdentity(own.pid, own.started_at + 1.0).started_iso  # btime moved 1 s
        assert stored_identity_alive(own.pid, stepped) is not None
        near = ProcessIdentity(own.pid, own.started_at + 0.3).started_iso  # another process
        assert stored_identity_alive(own.pid, near) is None
        assert stored_identity_alive(own.pid, None) is None
        assert stored_identity_alive(own.pid, "not a time") is None

    def test_round_trip_through_dict(self) -> None:
        """Spool records carry identities as plain values."""
        own = read_identity(os.getpid())
        assert own is not None
        assert ProcessIdentity.from_dict(own.to_dict()) == own
        for bad in (None, {}, {"pid": "1", "started_at": 1.0}, {"pid": 1},
                    {"pid": True, "started_at": 1.0}, {"pid": -3, "started_at": 1.0}):  # fmt: skip
            assert ProcessIdentity.from_dict(bad) is None

    def test_dead_pid_has_no_identity(self) -> None:
        """A process that exited (and was reaped) has no identity."""
        child = subprocess.Popen([sys.executable, "-c", "pass"])
        child.wait(10)
        assert read_identity(child.pid) is None or not is_alive(
            ProcessIdentity(child.pid, 0.0, -1, None)
        )


class TestAncestry:
    """Walking up from a process through a short-lived shell."""

    def test_grandchild_sees_us_through_the_shell(self, tmp_path: Path) -> None:
        """sh -c → python: the python's ancestry holds the shell, then this process."""
        script = "import os,sys; from collector.tracker.process import ancestry; " \
                 "print(' '.join(str(a.identity.pid) for a in ancestry(os.getpid())))"  # fmt: skip
        out = subprocess.run(["/bin/sh", "-c", f"{sys.executable} -c \"{script}\"; true"],
                             capture_output=True, text=True, check=True,
                             cwd=Path(__file__).parents[3])  # fmt: skip
        pids = [int(p) for p in out.stdout.split()]
        assert os.getpid() in pids
        assert pids.index(os.getpid()) >= 1  # the shell comes first

    def test_info_reads_argv_and_cwd(self, tmp_path: Path) -> None:
        """argv[0] as given to exec, and the working directory."""
        child = subprocess.Popen(["claude", "-c", "import time; time.sleep(30)"],
                                 executable=sys.executable, cwd=tmp_path)  # fmt: skip
        try:
            deadline = time.monotonic() + 10
            while (info := read_info(child.pid)) is None or info.argv[:1] != ("claude",):
                assert time.monotonic() < deadline, "the child never exec'd"
                time.sleep(0.01)  # between fork and exec, argv is still ours
            assert info.argv[0] == "claude"
            assert recognize_agent(info.argv) == "claude-code"
            assert read_cwd(child.pid) == str(tmp_path)
            assert ancestry(child.pid)[0].identity.pid == os.getpid()
        finally:
            child.kill()
            child.wait(10)


def _sleeper() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


class TestExitWatcher:
    """Exit is noticed promptly: pidfd here; the bounded poll where pidfd is missing."""

    def test_pidfd_reports_a_sigkill_at_once(self) -> None:
        """wait() returns the key as soon as the process dies, long before its timeout."""
        child = _sleeper()
        watcher = ExitWatcher()
        try:
            identity = read_identity(child.pid)
            assert identity is not None
            watcher.watch(7, identity)
            assert watcher.wait(0.05) == []
            child.send_signal(signal.SIGKILL)
            started = time.monotonic()
            assert watcher.wait(5.0) == [7]
            assert time.monotonic() - started < 1.0
            assert watcher.watching(7) is None
        finally:
            child.kill()
            child.wait(10)
            watcher.close()
            watcher.close()

    def test_poll_fallback_without_pidfd(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without os.pidfd_open (macOS, old kernels — simulated by removing it) the identity
        is polled when wait() times out."""
        monkeypatch.delattr(os, "pidfd_open", raising=False)
        child = _sleeper()
        watcher = ExitWatcher()
        try:
            identity = read_identity(child.pid)
            assert identity is not None
            watcher.watch(1, identity)
            assert watcher.wait(0.05) == []
            child.kill()
            child.wait(10)
            assert watcher.wait(0.05) == [1]
        finally:
            watcher.close()

    def test_a_process_already_gone_is_reported(self) -> None:
        """Watching an identity whose process is gone reports it on the next wait."""
        child = _sleeper()
        identity = read_identity(child.pid)
        child.kill()
        child.wait(10)
        assert identity is not None
        watcher = ExitWatcher()
        try:
            watcher.watch(3, identity)
            assert watcher.wait(0.05) == [3]
        finally:
            watcher.close()

    def test_wake_returns_early(self) -> None:
        """wake() from another place ends a long wait."""
        watcher = ExitWatcher()
        try:
            watcher.wake()
            started = time.monotonic()
            assert watcher.wait(5.0) == []
            assert time.monotonic() - started < 1.0
        finally:
            watcher.close()


class TestScanCost:
    """The process scan reads the process table only when a session could be paired."""

    def test_no_candidates_means_no_process_table_read(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        import psutil

        from collector.tracker.book import SessionBook
        from collector.tracker.finders import ProcessScan
        from store import EventStore
        from store.reads.activity import ActivityReader, SessionRow

        EventStore(tmp_path / "events.db").close()
        reads: list[int] = []
        real = psutil.process_iter

        def counting(*args: object, **kwargs: object) -> object:
            reads.append(1)
            return real(*args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(psutil, "process_iter", counting)
        reader, watcher = ActivityReader(tmp_path / "events.db"), ExitWatcher()
        try:
            book = SessionBook(reader, watcher)
            scan = ProcessScan(book, tmp_path / "sessions", None)
            scan.run(time.time())
            assert reads == []  # an idle machine: nothing to pair, nothing read
            now = time.time()
            book.admit(SessionRow(1, "claude-code:s", "claude-code", str(tmp_path), None, None,
                                  now - 5, now - 1, "running", None, None, None, None))  # fmt: skip
            scan.run(time.time())
            assert reads == [1]  # an active session without a process: scan
        finally:
            watcher.close()
            reader.close()


class TestExactStart:
    """``started_at`` is the real start to a tick, not up to a second early (btime)."""

    def test_start_within_the_fork(self) -> None:
        before = time.time()
        proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"])
        after = time.time()
        try:
            identity = read_identity(proc.pid)
            assert identity is not None
            assert before - 0.02 <= identity.started_at <= after + 0.02, (before, identity, after)
        finally:
            proc.kill()
            proc.wait()

    @pytest.mark.skipif(not sys.platform.startswith("linux"), reason="btime is Linux's")
    def test_an_older_release_value_still_names_it(self) -> None:
        """A ``pid_started_at`` stored from btime (whole seconds) by an earlier release."""
        from collector.tracker.process import _btime, _clock_ticks

        own = read_identity(os.getpid())
        assert own is not None
        assert own.start_ticks is not None
        legacy = _btime() + own.start_ticks / _clock_ticks()
        stored = ProcessIdentity(own.pid, legacy).started_iso
        assert stored_identity_alive(own.pid, stored) is not None
