"""An isolated daemon instance for the benchmarks: a temporary HOME, its paths, the subprocess.

Not a benchmark itself; ``bench_backfill.py``, ``bench_latency.py``, ``bench_idle.py`` and
``bench_memory.py`` import it. The daemon derives every path from ``HOME``/XDG, so a fresh
``HOME`` under ``$TMPDIR`` gives a fresh instance whose database is on the same file system as
``ceiling.py``'s (which also uses ``$TMPDIR``):

- transcripts of Claude Code: ``$HOME/.claude/projects`` (a symlinked root is supported);
- database: ``$HOME/.local/share/agent-viz-monitor/events.db``, ``status.json`` beside it.

The child's environment is ours minus ``XDG_*``, ``CLAUDE_CONFIG_DIR`` and ``CODEX_HOME`` (they
would point it at the real transcripts); ``AGENT_VIZ_MONITOR_*`` overrides pass through, so a
config change can be benchmarked without editing anything, and ``overrides()`` names them for
the report.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

__all__ = [
    "CLI",
    "PROJECT",
    "SHARED_BENCH",
    "CorpusSize",
    "DaemonHome",
    "Exit",
    "corpus_size",
    "machine_note",
    "overrides",
    "percentile",
    "warm_page_cache",
]

PROJECT = Path(__file__).resolve().parents[1]
SHARED_BENCH = PROJECT.parent / "shared" / "bench"
CLI = Path(sys.executable).with_name("agent-viz-monitor")
_DROPPED_ENV = ("HOME", "CLAUDE_CONFIG_DIR", "CODEX_HOME")
_OVERRIDE_PREFIX = "AGENT_VIZ_MONITOR_"


@dataclass(frozen=True, slots=True)
class CorpusSize:
    """Transcript files, lines and bytes under a folder (``*.jsonl``, as ``ceiling.py`` counts)."""

    files: int
    lines: int
    bytes: int


@dataclass(frozen=True, slots=True)
class Exit:
    """How a daemon subprocess ended: wall seconds, exit code and its ``wait4`` resource usage."""

    seconds: float
    code: int
    cpu_user: float
    cpu_system: float
    max_rss_kib: int  # ru_maxrss: the peak resident set (VmHWM) of the child, in KiB on Linux


def corpus_size(root: str | os.PathLike[str]) -> CorpusSize:
    """Count files, ``b"\\n"``-terminated lines and bytes of every ``*.jsonl`` under ``root``."""
    files = lines = nbytes = 0
    for path in _jsonl_files(root):
        files += 1
        with open(path, "rb", buffering=0) as handle:
            while chunk := handle.read(1 << 20):
                lines += chunk.count(b"\n")
                nbytes += len(chunk)
    return CorpusSize(files, lines, nbytes)


def warm_page_cache(root: str | os.PathLike[str]) -> None:
    """Read every transcript once, untimed, as ``ceiling.py`` does before its reps."""
    for path in _jsonl_files(root):
        with open(path, "rb", buffering=0) as handle:
            while handle.read(1 << 20):
                pass


def _jsonl_files(root: str | os.PathLike[str]) -> Iterator[str]:
    for dirpath, _dirs, names in os.walk(root, followlinks=True):
        for name in sorted(names):
            if name.endswith(".jsonl"):
                yield os.path.join(dirpath, name)


def overrides() -> dict[str, str]:
    """The ``AGENT_VIZ_MONITOR_*`` variables passed to the daemon (print them with results)."""
    return {k: v for k, v in sorted(os.environ.items()) if k.startswith(_OVERRIDE_PREFIX)}


def machine_note() -> str:
    """Load, CPU pressure and the tree's state: the context a noisy number needs."""
    note = f"load {os.getloadavg()[0]:.2f}/{os.cpu_count()} cpus"
    with contextlib.suppress(OSError, IndexError, ValueError):
        some = Path("/proc/pressure/cpu").read_text().split()[2]  # some avg60=…
        note += f", cpu pressure {some.replace('=', ' ')} %"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        git = ["git", "-C", str(PROJECT)]
        head = _git(git, "rev-parse", "--short", "HEAD").strip()
        dirty = _git(git, "status", "--porcelain", "--", "collector", "store", "config")
        changed = [line[3:] for line in dirty.splitlines()]
        listed = ", ".join(changed[:6]) + (f" and {len(changed) - 6} more" if changed[6:] else "")
        note += f", tree {head}" + (f" + uncommitted {listed}" if changed else "")
    return note


def _git(git: list[str], *args: str) -> str:
    return subprocess.run([*git, *args], capture_output=True, text=True, check=True).stdout


def percentile(values: Sequence[float], share: float) -> float:
    """The nearest-rank percentile (``share`` in 0..1) of ``values``."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), math.ceil(share * len(ordered) - 1e-9)))
    return ordered[rank - 1]


class DaemonHome:
    """A temporary HOME for one daemon instance; ``close()`` stops it and deletes the folder."""

    def __init__(self, prefix: str = "avm-bench-", keep: bool = False) -> None:
        self.base = Path(tempfile.mkdtemp(prefix=prefix))
        self.home = self.base / "home"
        self.claude_root = self.home / ".claude" / "projects"
        self.claude_root.parent.mkdir(parents=True)
        self.data_dir = self.home / ".local" / "share" / "agent-viz-monitor"
        self.database = self.data_dir / "events.db"
        self.status_file = self.data_dir / "status.json"
        self.log_file = self.base / "daemon.log"
        self.keep = keep
        self.process: subprocess.Popen[bytes] | None = None
        self._log: Any = None
        self._started = 0.0

    # environment ---------------------------------------------------------------------------
    @property
    def env(self) -> dict[str, str]:
        """The daemon's environment: ours, isolated to this HOME."""
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in _DROPPED_ENV and not k.startswith("XDG_")
        }
        env["HOME"] = str(self.home)
        return env

    def link_root(self, projects: str | os.PathLike[str]) -> None:
        """Make ``~/.claude/projects`` a symlink to an existing corpus' ``projects`` folder."""
        self.claude_root.symlink_to(Path(projects).resolve(), target_is_directory=True)

    # the subprocess ------------------------------------------------------------------------
    def command(self, *args: str) -> list[str]:
        """The console script with ``args`` (``run``, ``run --once``, …)."""
        return [str(CLI), *args]

    def start(self, *args: str, wrapper: Sequence[str] = ()) -> subprocess.Popen[bytes]:
        """Start ``agent-viz-monitor ARGS`` (default ``run``); its log goes to ``log_file``."""
        if self.process is not None:
            raise RuntimeError("daemon already started")
        self._log = open(self.log_file, "ab")  # noqa: SIM115 -- closed in wait()/close()
        self._started = time.perf_counter()
        self.process = subprocess.Popen(
            [*wrapper, *self.command(*(args or ("run",)))],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
            cwd=self.base,
        )
        return self.process

    def wait(self, timeout: float | None = None) -> Exit:
        """Reap the child with ``wait4`` (exact CPU time, peak RSS); kill it after ``timeout``."""
        proc = self._require()
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, 0 if deadline is None else os.WNOHANG)
            if pid:
                break
            assert deadline is not None
            if time.monotonic() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.002)
        seconds = time.perf_counter() - self._started
        proc.returncode = os.waitstatus_to_exitcode(status)
        self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None
        return Exit(seconds, proc.returncode, usage.ru_utime, usage.ru_stime, usage.ru_maxrss)

    def run_once(self, timeout: float = 3600.0) -> Exit:
        """``agent-viz-monitor run --once``, timed from spawn to exit."""
        self.start("run", "--once")
        return self.wait(timeout)

    def stop(self, timeout: float = 15.0) -> Exit:
        """SIGTERM our own child, wait for it (SIGKILL after ``timeout``)."""
        proc = self._require()
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def _require(self) -> subprocess.Popen[bytes]:
        if self.process is None:
            raise RuntimeError("daemon not started")
        return self.process

    @property
    def pid(self) -> int:
        """The running daemon's pid."""
        return self._require().pid

    def alive(self) -> bool:
        """Is the child still running (not reaped and not a zombie)."""
        proc = self.process
        if proc is None:
            return False
        try:
            with open(f"/proc/{proc.pid}/stat", "rb") as handle:
                return handle.read().rsplit(b")", 1)[1].split()[0] != b"Z"
        except OSError:
            return False

    # what it wrote -------------------------------------------------------------------------
    def status(self) -> dict[str, Any] | None:
        """The daemon's ``status.json`` (rewritten about every 0.25 s), or None."""
        try:
            value = orjson.loads(self.status_file.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return None
        return value if isinstance(value, dict) else None

    def connect(self) -> sqlite3.Connection:
        """A read-only connection to the daemon's database (it must exist)."""
        conn = sqlite3.connect(f"file:{self.database}?mode=ro", uri=True, isolation_level=None)
        conn.execute("PRAGMA busy_timeout=5000")
        return conn

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one read-only query on a short-lived connection."""
        conn = self.connect()
        try:
            return list(conn.execute(sql, params))
        finally:
            conn.close()

    def database_bytes(self) -> int:
        """Size of the database and its WAL."""
        total = 0
        for suffix in ("", "-wal"):
            with contextlib.suppress(OSError):
                total += os.path.getsize(f"{self.database}{suffix}")
        return total

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the daemon's log, for error reports."""
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def close(self) -> None:
        """Stop the daemon if it still runs and delete the folder (unless ``keep``)."""
        if self.process is not None:
            with contextlib.suppress(Exception):
                self.stop()
        if self._log is not None:
            self._log.close()
            self._log = None
        if self.keep:
            print(f"kept {self.base}", file=sys.stderr)
        else:
            shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> DaemonHome:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
