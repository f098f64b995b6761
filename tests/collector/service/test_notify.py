"""sd_notify: the Notifier in-process, then the daemon as a subprocess talking to a datagram
socket held by the test (a path socket and an abstract one), and the journal priority prefix."""

from __future__ import annotations

import itertools
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from collector.log import _json_renderer, _stream_is_journal
from collector.service.instance import running_pid
from collector.service.notify import Notifier
from config.paths import lock_path
from tests.collector.service.daemon_harness import Instance, claude_lines, expect
from tests.collector.service.notify_listener import NotifyListener

SESSION = "11111111-2222-4333-8444-555555555555"
WATCHDOG_S = 1.0  # WATCHDOG_USEC: pings every 0.5 s; no progress for 1-2 s stops them


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A folder with a short path: AF_UNIX socket paths are limited to 107 bytes."""
    folder = Path(tempfile.mkdtemp(prefix="avm-", dir="/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def path_listener(short_dir: Path) -> Iterator[NotifyListener]:
    listener = NotifyListener(str(short_dir / "notify"))
    yield listener
    listener.close()


@pytest.fixture
def abstract_listener() -> Iterator[NotifyListener]:
    listener = NotifyListener(f"@agent-viz-monitor-test-{uuid.uuid4().hex}")
    yield listener
    listener.close()


def append(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as handle:
        handle.write(data)


def supervised(instance: Instance, listener: NotifyListener) -> None:
    instance.env.update({"NOTIFY_SOCKET": listener.address,
                         "WATCHDOG_USEC": str(int(WATCHDOG_S * 1_000_000))})  # fmt: skip


def stop(proc: subprocess.Popen[bytes]) -> tuple[int, float]:
    """SIGTERM; the exit code and how long the exit took."""
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(10)
    return code, time.monotonic() - sent


def commit_failures(instance: Instance) -> int:
    return int(instance.status().get("counters", {}).get("commit_failures", 0))


class TestNotifier:
    """The Notifier on its own."""

    def test_unsupervised_is_a_no_op(self) -> None:
        """No NOTIFY_SOCKET (launchd, a terminal): nothing is sent, nothing raises."""
        notifier = Notifier({})
        assert not notifier.enabled
        assert notifier.send("READY=1") is False
        assert notifier.watchdog(True) is False

    def test_vsock_and_relative_addresses_are_ignored(self) -> None:
        """Only ``/path`` and ``@abstract`` are AF_UNIX addresses."""
        assert not Notifier({"NOTIFY_SOCKET": "vsock:2:1234"}).enabled
        assert not Notifier({"NOTIFY_SOCKET": "relative/sock"}).enabled

    def test_a_vanished_manager_does_not_raise(self, short_dir: Path) -> None:
        """A socket path nobody listens on: send returns False."""
        assert Notifier({"NOTIFY_SOCKET": str(short_dir / "gone")}).send("READY=1") is False

    def test_watchdog_only_for_the_named_pid_and_only_when_healthy(
        self, abstract_listener: NotifyListener
    ) -> None:
        """WATCHDOG_PID of another process disables pings; unhealthy sends nothing; pings
        are spaced by half the interval."""
        env = {"NOTIFY_SOCKET": abstract_listener.address, "WATCHDOG_USEC": "200000"}
        assert Notifier({**env, "WATCHDOG_PID": "1"}).watchdog(True) is False
        notifier = Notifier({**env, "WATCHDOG_PID": str(os.getpid())})
        assert notifier.watchdog(False) is False
        assert notifier.watchdog(True) is True
        assert notifier.watchdog(True) is False  # within half the interval
        time.sleep(0.11)
        assert notifier.watchdog(True) is True
        expect(lambda: len(abstract_listener.times("WATCHDOG")) == 2, 2)

    def test_status_is_sent_only_when_it_changes(self, abstract_listener: NotifyListener) -> None:
        """STATUS= lines are not repeated every tick."""
        notifier = Notifier({"NOTIFY_SOCKET": abstract_listener.address})
        notifier.ready("starting")
        for text in ("a", "a", "b", "b"):
            notifier.status(text)
        notifier.stopping()
        expect(lambda: any("STOPPING" in f for _, f in abstract_listener.messages()), 2)
        statuses = [f["STATUS"] for _, f in abstract_listener.messages()]
        assert statuses == ["starting", "a", "b", "stopping"]


class TestSupervisedDaemon:
    """``run`` as a subprocess with NOTIFY_SOCKET and WATCHDOG_USEC set."""

    def test_ready_then_pings_which_stop_while_the_writer_is_wedged(
        self, tmp_path: Path, path_listener: NotifyListener
    ) -> None:
        """READY=1 once the daemon holds its lock and watches; WATCHDOG=1 every half interval;
        no ping while the test's BEGIN EXCLUSIVE makes every commit fail; pings resume when the
        lock goes; SIGTERM gives STOPPING=1 and exit 0 within 5 s."""
        instance = Instance(tmp_path, store__busy_timeout_ms=100)
        supervised(instance, path_listener)
        path = instance.claude / "-p" / f"{SESSION}.jsonl"
        lines = claude_lines("drm-coverage-test-fix.jsonl")
        append(path, lines[0])
        proc = instance.start()
        try:
            ready_at, ready = path_listener.wait_for("READY")
            assert running_pid(lock_path(instance.database)) == proc.pid
            assert re.fullmatch(r"\d+ files, \d+ events, \d+ events/s.*", ready["STATUS"])
            expect(lambda: instance.committed_offset(path) == len(lines[0]))
            expect(lambda: len(path_listener.times("WATCHDOG", after=ready_at)) >= 3, 5)
            pings = path_listener.times("WATCHDOG", after=ready_at)
            gaps = [b - a for a, b in itertools.pairwise(pings)]
            assert all(0.3 < gap < WATCHDOG_S for gap in gaps), gaps  # systemd's deadline

            locker = sqlite3.connect(instance.database, isolation_level=None)
            locker.execute("BEGIN EXCLUSIVE")
            append(path, b"".join(lines[1:]))
            expect(lambda: commit_failures(instance) > 0)
            # The writer's last progress came before this failure was counted; the daemon
            # calls it wedged after max(2 s, WATCHDOG_USEC) and its loop ticks every 0.25 s.
            failed_at = time.monotonic()

            def looped_while_wedged() -> bool:
                # Positive signal: the main loop kept running (it reports the failing commits in
                # STATUS=) well past the point where a ping would be due; none may have come.
                return any(at > failed_at + 3.5 and "COMMITS FAILING" in f.get("STATUS", "")
                           for at, f in path_listener.messages())  # fmt: skip

            expect(looped_while_wedged, 15)
            late = path_listener.times("WATCHDOG", after=failed_at + 2.75)
            assert late == [], f"pings while wedged at +{[round(t - failed_at, 2) for t in late]}"
            assert path_listener.times("WATCHDOG", after=failed_at - 1.0)  # it did ping before
            assert instance.committed_offset(path) == len(lines[0])

            locker.execute("ROLLBACK")
            locker.close()
            released_at = time.monotonic()
            path_listener.wait_for("WATCHDOG", after=released_at, timeout=5)
            expect(lambda: instance.committed_offset(path) == path.stat().st_size)
        finally:
            code, took = stop(proc)
        assert code == 0, instance.logs()
        assert took < 5
        path_listener.wait_for("STOPPING", timeout=1)

    def test_abstract_socket(self, tmp_path: Path, abstract_listener: NotifyListener) -> None:
        """The same protocol over an ``@`` abstract socket: READY, pings, STOPPING, exit 0."""
        instance = Instance(tmp_path)
        supervised(instance, abstract_listener)
        proc = instance.start()
        try:
            ready_at, _ = abstract_listener.wait_for("READY")
            expect(lambda: len(abstract_listener.times("WATCHDOG", after=ready_at)) >= 2, 5)
        finally:
            code, took = stop(proc)
        assert code == 0, instance.logs()
        assert took < 5
        stopping_at, _ = abstract_listener.wait_for("STOPPING", timeout=1)
        assert stopping_at > ready_at


class TestFaulthandler:
    """A watchdog kill (SIGABRT, systemd's default WatchdogSignal) leaves every thread's stack."""

    def test_sigabrt_dumps_all_threads(self, tmp_path: Path) -> None:
        """The log (the journal, under systemd) gets the main thread and the workers' frames."""
        instance = Instance(tmp_path)
        proc = instance.start()
        instance.wait_ready(proc)
        proc.send_signal(signal.SIGABRT)
        assert proc.wait(10) == -signal.SIGABRT
        log = instance.logs(tail=None)
        assert "Fatal Python error: Aborted" in log
        assert log.count("Thread 0x") >= 3, log  # main, reader, writer at least
        assert "collector/service/daemon.py" in log
        assert "collector/ingest/commit/writer.py" in log


class TestJournalPrefix:
    """``<N>`` priority prefixes exactly when stderr is the journal stream."""

    def test_daemon_prefixes_lines_when_stderr_is_the_journal_stream(self, tmp_path: Path) -> None:
        """stderr is a stream socket whose device:inode is in JOURNAL_STREAM (what systemd does
        for StandardOutput=journal, stderr inheriting it): every line is ``<N>{json}``."""
        instance = Instance(tmp_path)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        with ours, theirs:
            st = os.fstat(theirs.fileno())
            env = {**instance.env, "JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}
            proc = subprocess.Popen(instance.command("run", "--once"), env=env,
                                    stdout=subprocess.DEVNULL, stderr=theirs)  # fmt: skip
            theirs.close()
            assert proc.wait(60) == 0
            ours.settimeout(5)
            data = b"".join(iter(lambda: ours.recv(65536), b""))
        lines = [line for line in data.decode().splitlines() if line]
        assert lines
        for line in lines:
            match = re.fullmatch(r"<([0-7])>(\{.*\})", line)
            assert match, line
            event = orjson.loads(match.group(2))
            assert int(match.group(1)) == {"info": 6, "warning": 4, "error": 3}[event["level"]]
        assert any('"daemon_started"' in line for line in lines)

    def test_no_prefix_when_the_stream_is_not_the_journal(self, tmp_path: Path) -> None:
        """JOURNAL_STREAM inherited by a process whose stderr is a pipe: plain JSON."""
        instance = Instance(tmp_path)
        env = {**instance.env, "JOURNAL_STREAM": "1:2"}
        done = subprocess.run(instance.command("run", "--once"), env=env, capture_output=True,
                              timeout=60, check=False)  # fmt: skip
        assert done.returncode == 0
        lines = done.stderr.decode().splitlines()
        assert lines
        assert all(line.startswith("{") for line in lines), lines

    def test_renderer_priorities(self) -> None:
        """sd-daemon(3) levels: error 3, warning 4, info 6, debug 7."""
        render = _json_renderer(True)
        for method, prefix in (("error", "<3>"), ("warning", "<4>"), ("info", "<6>"),
                               ("debug", "<7>"), ("critical", "<2>")):  # fmt: skip
            assert render(None, method, {"event": "x"}).startswith(prefix + "{")
        assert _json_renderer(False)(None, "error", {"event": "x"}).startswith("{")

    def test_stream_check_compares_device_and_inode(self, tmp_path: Path) -> None:
        """The stream matches only its own device:inode, and only while JOURNAL_STREAM is set."""
        with open(tmp_path / "f", "w") as handle:
            st = os.fstat(handle.fileno())
            saved = os.environ.get("JOURNAL_STREAM")
            try:
                os.environ["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
                assert _stream_is_journal(handle)
                os.environ["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino + 1}"
                assert not _stream_is_journal(handle)
                os.environ["JOURNAL_STREAM"] = "garbage"
                assert not _stream_is_journal(handle)
            finally:
                if saved is None:
                    os.environ.pop("JOURNAL_STREAM", None)
                else:
                    os.environ["JOURNAL_STREAM"] = saved
