"""The parse process itself: the daemon's handle on the child, and the child's loop.

The child should be ready when the reader starts: until then the daemon parses the backlog
itself, taking the interpreter lock from its writer. Started with the reader, it was ready
~100 ms later (its own imports, ~65 ms of CPU: the parsers, msgspec, the redaction rules), by
which time the daemon had parsed a third of a 51 MiB ``run --once`` (bench/README.md, "The
critical path of a full ingest"). So ``run`` starts it first (``collector.cli``):

- on Linux, *forked* once the daemon's modules are imported and before any thread starts
  (``forks``): it has every module already and serves at once, named ``agent-viz-parse`` in
  ``ps`` and ``top``;
- elsewhere (macOS: a fork of a process that loaded the system's frameworks is not safe)
  *spawned* before the daemon imports its modules, so that the two imports run side by side.

A child started later (the first one ended after a quiet spell, or failed) is spawned: the
daemon's threads are running then, and a fork would copy whatever locks they hold.
``python -m collector.ingest.parse_child JOBS ANSWERS MEMORY SLOT DEPTH`` is the spawned
child's entry point (collector.ingest.parse_channel describes the channel).
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import NoReturn

from collector.ingest.parse_channel import Channel, shared_file
from collector.ingest.parse_channel import size as channel_size

__all__ = [
    "CHILD_NAME", "CHILD_NICENESS", "DEPTH", "SLOT_BYTES", "ParseProcess", "forks", "serve",
    "slot_for", "start_for", "usable_cpus", "wanted",
]  # fmt: skip

# The largest job or answer by default: a read of ``read_chunk_bytes`` (1 MiB by default)
# encodes to ~1.1 MiB; a larger one (a longer line) is parsed in the daemon (``slot_for``).
SLOT_BYTES = 4 << 20
# Reads in flight: enough for the child to parse on through a writer's commit (~65 ms on the
# 200 MiB corpus, while it holds this process). bench/README.md: 2 → 16 in flight made a
# backfill 2.21 → 1.73-1.81 s (8: 1.88-1.94 s).
DEPTH = 16
CHILD_NICENESS = 10
CHILD_NAME = "agent-viz-parse"  # a forked child's name in ps and top (15 bytes at most)
_ROOT = str(Path(__file__).resolve().parents[2])  # the folder holding the `collector` package
# What a terminal or a service manager sends the daemon's whole group: for the daemon alone.
_GROUP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def slot_for(read_chunk_bytes: int) -> int:
    """A slot that holds a whole read of ``read_chunk_bytes`` and its records."""
    return max(SLOT_BYTES, read_chunk_bytes * 5 // 4 + (64 << 10))


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the system has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        return os.cpu_count() or 1


def wanted(setting: str) -> bool:
    """Does the ``[collector] parse_process`` setting (``auto``, ``on``, ``off``) ask for a
    child here: ``auto`` wants a second usable CPU, for the child to parse on."""
    return setting == "on" or (setting == "auto" and usable_cpus() > 1)


def forks() -> bool:
    """Would a child be forked here: on Linux, while this thread is the only one."""
    return sys.platform == "linux" and threading.active_count() == 1


def start_for(setting: str, read_chunk_bytes: int) -> ParseProcess | None:
    """A started child for a daemon with these settings (forked where ``forks``), or None
    (not wanted, or it could not be started: the reader then starts one, or parses in place)."""
    if not wanted(setting):
        return None
    process = ParseProcess(slot_for(read_chunk_bytes))
    try:
        process.start(fork=forks())
    except OSError:
        return None
    return process


class ParseProcess:
    """One child process and the channel to it; ``start`` and an idempotent ``close``."""

    def __init__(self, slot: int = SLOT_BYTES, depth: int | None = None) -> None:
        self.slot = slot  # the largest job or answer the channel carries
        self.depth = depth or DEPTH  # jobs in flight at most
        self.pid: int | None = None
        self._channel: Channel | None = None
        self.generation = 0  # counts children: a new one holds none of the old one's parsers
        self.used_at = 0.0

    @property
    def running(self) -> bool:
        return self._channel is not None

    def start(self, *, fork: bool = False) -> None:
        """Start a child (raises OSError when it cannot be started). It need not be ready:
        jobs wait in the channel while it imports. ``fork``: fork this process instead of
        spawning a new interpreter (only while no other thread runs, see the module's doc)."""
        if self._channel is not None:
            return
        jobs_read, jobs_write = os.pipe()
        answers_read, answers_write = os.pipe()
        memory = shared_file(channel_size(self.slot, self.depth))
        theirs, ours = (jobs_read, answers_write, memory), (answers_read, jobs_write)
        try:
            if fork:
                self.pid = self._fork(theirs, ours)
            else:
                self.pid = self._spawn(theirs)
            self._channel = Channel(ours, memory, self.slot, self.depth, daemon=True)
        except BaseException:
            for fd in (answers_read, jobs_write):
                os.close(fd)
            raise
        finally:
            for fd in theirs:
                os.close(fd)
        self.generation += 1
        self.used_at = time.monotonic()

    def _spawn(self, theirs: tuple[int, int, int]) -> int:
        for fd in theirs:
            os.set_inheritable(fd, True)
        # -P: not the working folder on its path; the package is where this module is.
        argv = [sys.executable, "-P", "-m", "collector.ingest.parse_child",
                *map(str, (*theirs, self.slot, self.depth))]  # fmt: skip
        path = os.environ.get("PYTHONPATH")
        env = {**os.environ, "PYTHONPATH": _ROOT + (os.pathsep + path if path else "")}
        # Born with the group's signals blocked (they would end it while it imports);
        # it ignores them once running (``serve``).
        return os.posix_spawn(sys.executable, argv, env, setsigmask=_GROUP_SIGNALS)

    def _fork(self, theirs: tuple[int, int, int], ours: tuple[int, int]) -> int:
        # The group's signals are blocked across the fork: the child keeps them blocked.
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, _GROUP_SIGNALS)
        try:
            pid = os.fork()
            if pid == 0:
                _serve_forked(theirs, ours, self.slot, self.depth)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        return pid

    def send(self, job: bytes | memoryview, *more: bytes | memoryview) -> bool:
        """Send a job (in pieces: ``Job.parts``); False when it is too big for the channel (it
        is then not sent); EOFError or OSError when the child is gone."""
        if self._channel is None:
            raise EOFError("no parse process")
        self.used_at = time.monotonic()
        return self._channel.send(job, *more)

    def ready(self) -> bool:
        """Is the child ready for jobs (it has said so)."""
        return self._channel is not None and self._channel.ready()

    def answer_waiting(self) -> bool:
        """Would ``receive`` return at once."""
        return self._channel is not None and self._channel.waiting()

    def receive(self) -> memoryview | None:
        """The oldest unanswered job's answer (None: too big to send); EOFError or OSError
        when the child is gone."""
        if self._channel is None:
            raise EOFError("no parse process")
        answer = self._channel.receive()
        self.used_at = time.monotonic()
        return answer

    def close(self) -> None:
        """Close the channel, end the child and reap it; idempotent."""
        channel, pid = self._channel, self.pid
        self._channel = self.pid = None
        if channel is not None:
            channel.close()
        if pid is not None:
            _reap(pid)


def _reap(pid: int) -> None:
    """End a child and wait for it. It holds nothing to keep (no file, no answer still wanted:
    reads in flight are dropped with it and read again), so it is killed, not asked: a child
    still importing would otherwise keep the daemon's exit waiting for its imports."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def _serve_forked(
    theirs: tuple[int, int, int], ours: tuple[int, int], slot: int, depth: int
) -> NoReturn:
    """The forked child: never returns into the daemon's code, and runs none of its exit
    handlers (nor flushes the stdio buffers it shares). The group's signals stay blocked, as
    a spawned child is born (``serve`` ignores them too)."""
    code = 1
    try:
        for fd in ours:  # else its own jobs pipe would never reach end of file
            os.close(fd)
        with contextlib.suppress(OSError), open("/proc/self/comm", "w") as comm:
            comm.write(CHILD_NAME)
        code = serve(*theirs, slot, depth)
    finally:
        os._exit(code)


def serve(jobs: int, answers: int, memory_fd: int, slot: int, depth: int) -> int:
    """The child: answer jobs in order until the daemon closes its end."""
    # It lives exactly as long as its pipes: a terminal's Ctrl-C, a service manager's SIGTERM
    # to the whole group or a hangup are for the daemon, which ends it (or dies, closing them).
    for signum in _GROUP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    # Backlog work: a live line's path through the daemon (and anything else the user runs)
    # comes first when CPUs are short; with a core free the niceness costs nothing.
    with contextlib.suppress(OSError):
        os.nice(CHILD_NICENESS)
    from collector.ingest.parse_jobs import JobRunner  # the parsers: this process's alone

    channel = Channel((jobs, answers), memory_fd, slot, depth, daemon=False)
    os.close(memory_fd)
    runner = JobRunner()
    gc.freeze()  # the imports' objects are never garbage: collections need not walk them
    try:
        channel.say_ready()
        while True:
            job = channel.receive()
            answer = runner.run(job) if job is not None else None
            if job is not None:
                job.release()
            channel.send(answer, answer=True)
    except (EOFError, OSError):
        return 0
    finally:
        channel.close()


if __name__ == "__main__":
    sys.exit(serve(*map(int, sys.argv[1:6])))
