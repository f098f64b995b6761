#!/usr/bin/env python3
"""Store benchmark: ``insert_events`` of 1000 seed-like events into a database of 300,000.

Seed-like events: 45 % file operations, 35 % commands, the rest tool calls and messages; small
rows; agent event ids and tool call ids are random (as Claude's and Copilot's are), which is
the worst case for the natural-key index. A batch is what the writer commits while agents work:
the events of a few live sessions, each on its own project's files (a few hundred files, a
hot set drawn more often, as real sessions re-read and re-edit the same files).

    python bench/bench_store.py [--existing 300000] [--batches 30] [--batch 1000] [--live 3]
        [--checkpoint daemon|idle|auto] [--workload live|seed]

``--workload seed`` is the workload of ``../shared/bench/seed_store_bench.js`` (issue 16's
side-by-side): 100 sessions, every batch spread over all of them, a random 30-character tool
call id per event, 45 % file operations over 100 paths, 35 % commands in 8 categories, the
rest other tools, timestamps 1-3000 ms apart, small JSON arguments and raw data. The rows are
what our Claude parser stores for such calls: the tool call id is the event's key. Compare
with ``node ../shared/bench/seed_store_bench.js DB 300000 20`` run in the same invocation
(``--existing 300000 --batches 20``).

``--checkpoint`` says who copies the WAL into the database, and so what a timed batch pays:

- ``daemon`` (default): what the daemon does. The real checkpointer thread
  (``collector.ingest.commit.checkpointer``) runs on its own connection, nudged after every
  commit; the commit holds its lock as the writer's does, so a batch waits while the WAL is
  started over, and SQLite's in-commit autocheckpoint is only the writer's 128 MiB backstop.
  Batches come back to back (the next is built in ~10 ms), faster than any backfill commits,
  so the checkpoints overlap commits and their cost shows in the mean and p95.
- ``auto``: a store without the daemon (``EventStore`` alone): SQLite's automatic checkpoint
  runs inside the commit that takes the WAL past 32 MiB (``store.connection``), one in ~5.
  The seed's store works this way (at SQLite's default of 4 MiB: every commit).
- ``idle``: a checkpoint after each batch, untimed: the commit alone, no checkpoint cost.

Prints every batch's time, then median, mean and p95 ms per batch. Not a test: numbers depend
on the machine; quote medians and means of several runs against the seed in the same rounds.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from collector.ingest.commit.checkpointer import Checkpointer
from collector.ingest.commit.writer import AUTOCHECKPOINT_PAGES as WRITER_BACKSTOP_PAGES
from store import EventStore
from store.checkpoints import set_autocheckpoint
from store.records import Event

_CATEGORIES = ("git", "test", "build", "package", "run", "search", "filesystem")
_OPS = ("read", "read", "read", "edit", "write", "search")


class Project:
    """A session's project: its files, with a hot set that is touched most."""

    def __init__(self, rng: random.Random, key: str) -> None:
        root = f"/home/user/src/{key[-8:]}"
        self.files = [f"{root}/pkg/module_{i}.py" for i in range(300)]
        self.hot = self.files[:30]

    def pick(self, rng: random.Random) -> str:
        return rng.choice(self.hot) if rng.random() < 0.7 else rng.choice(self.files)


def make_events(
    rng: random.Random, count: int, start_ms: int, sessions: list[str], projects: dict[str, Project]
) -> list[Event]:
    out = []
    for i in range(count):
        ms = start_ms + i * 37
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}Z"
        session = sessions[rng.randrange(len(sessions))]
        common = {
            "session_id": session,
            "agent_event_id": str(uuid.UUID(int=rng.getrandbits(128))),
            "timestamp": stamp,
            "status": "success",
            "duration_ms": rng.randrange(5, 5000),
        }
        kind = rng.random()
        call = f"toolu_{rng.getrandbits(96):024x}"
        if kind < 0.45:
            out.append(Event(**common, event_type="file_op", tool_name="Read", tool_call_id=call,
                             file_path=projects[session].pick(rng), operation=rng.choice(_OPS),
                             tool_arguments='{"file_path":"x"}'))  # fmt: skip
        elif kind < 0.8:
            out.append(Event(**common, event_type="command", tool_name="Bash", tool_call_id=call,
                             command="cd /home/user/src/app && pytest -q tests/test_x.py",
                             command_category=rng.choice(_CATEGORIES), exit_code=0))  # fmt: skip
        elif kind < 0.9:
            out.append(Event(**common, event_type="tool_call", tool_name="TodoWrite",
                             tool_call_id=call))  # fmt: skip
        else:
            out.append(Event(**common, event_type="message",
                             tool_arguments='{"role":"assistant","chars":812}'))  # fmt: skip
    return out


_ALNUM = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz0123456789"
_SEED_FILES = [
    f"/home/dev/work/proj{p}/src/{a}/{b}.py"
    for p in range(5)
    for a in ("core", "api", "db", "cli", "util")
    for b in ("main", "models", "store", "io")
]
_SEED_COMMANDS = (
    ("git status", "git"), ("pytest -x -q tests/", "test"), ("npm install", "package"),
    ("make build", "build"), ("ls -la src/", "filesystem"), ("rg -n TODO src", "search"),
    ("docker ps", "container"), ("curl -s localhost:8080/health", "network"),
)  # fmt: skip
_SEED_FILE_TOOLS = (("Read", "read"), ("Read", "read"), ("Edit", "edit"), ("Write", "write"))


class SeedWorkload:
    """seed_store_bench.js's event stream, as rows of our store (same mix, sizes and keys)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.sessions = [f"claude-code:bench-{i:04d}-{rng.getrandbits(32):x}" for i in range(100)]
        self.ms = 1_748_854_800_000

    def batch(self, count: int) -> list[Event]:
        return [self._event() for _ in range(count)]

    def _event(self) -> Event:
        rng = self.rng
        self.ms += 1 + rng.randrange(3000)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(self.ms // 1000))
        call = "toolu_01" + "".join(rng.choice(_ALNUM) for _ in range(22))
        common: dict[str, object] = {
            "session_id": rng.choice(self.sessions), "agent_event_id": call,
            "timestamp": f"{stamp}.{self.ms % 1000:03d}Z", "tool_call_id": call,
            "status": "error" if rng.random() < 0.1 else "success",
            "duration_ms": 5 + rng.randrange(4995),
        }  # fmt: skip
        x = rng.random()
        fields: dict[str, object]
        if x < 0.45:
            name, op = rng.choice(_SEED_FILE_TOOLS)
            path = rng.choice(_SEED_FILES)
            args = orjson.dumps({"file_path": path}).decode()
            fields = {"event_type": "file_op", "tool_name": name, "file_path": path,
                      "operation": op, "tool_arguments": args}  # fmt: skip
        elif x < 0.8:
            cmd, cat = rng.choice(_SEED_COMMANDS)
            args = orjson.dumps({"command": cmd, "description": "bench"}).decode()
            fields = {"event_type": "command", "tool_name": "Bash", "command": cmd,
                      "command_category": cat, "tool_arguments": args}  # fmt: skip
        else:
            fields = {"event_type": "tool_call",
                      "tool_name": rng.choice(("Grep", "Glob", "Task", "TodoWrite")),
                      "tool_arguments": '{"pattern":"TODO"}'}  # fmt: skip
        raw = {"type": "tool_use", "id": call, "name": fields["tool_name"]}
        return Event(**common, **fields, raw_data=orjson.dumps(raw).decode())  # type: ignore[arg-type]


class Committer:
    """Commits batches as ``--checkpoint`` says: ``daemon`` as the daemon's writer does (the
    real checkpointer thread on its own connection, its lock held around each commit, nudged
    after it, SQLite's autocheckpoint only the writer's backstop); ``idle`` with a checkpoint
    after each batch, untimed; ``auto`` with SQLite's autocheckpoint inside commits."""

    def __init__(self, path: Path, mode: str) -> None:
        self.mode = mode
        self.store = EventStore(path, manual_checkpoint=mode != "auto")
        self.checkpointer: Checkpointer | None = None
        if mode == "daemon":
            set_autocheckpoint(self.store, WRITER_BACKSTOP_PAGES)
            self.checkpointer = Checkpointer(path)
            self.checkpointer.start()

    def insert(self, batch: list[Event]) -> int:
        """``insert_events`` (what is timed), under the commit lock in ``daemon`` mode."""
        if self.checkpointer is None:
            return self.store.insert_events(batch)
        with self.checkpointer.lock:
            inserted = self.store.insert_events(batch)
        self.checkpointer.nudge()
        return inserted

    def after(self) -> None:
        """Between batches, untimed: ``idle`` checkpoints here."""
        if self.mode == "idle":
            self.store.checkpoint()

    def close(self) -> str:
        """Stop the checkpointer; what it did, for the report."""
        total = self.store.health_check()["events"]
        done = ""
        if self.checkpointer is not None:
            ck = self.checkpointer
            ck.close()
            done = f", {ck.checkpoints} checkpoints, {ck.restarts} restarts"
        self.store.close()
        return f"now {total:,}{done}"


def run_seed(args: argparse.Namespace) -> None:
    """The seed's workload: fill ``--existing`` rows, then time ``--batches`` batches."""
    seed = SeedWorkload(random.Random(7))
    with tempfile.TemporaryDirectory() as tmp:
        committer = Committer(Path(tmp) / "events.db", args.checkpoint)
        for done in range(0, args.existing, 1000):
            committer.insert(seed.batch(min(1000, args.existing - done)))
            if args.checkpoint == "idle" and done % 20_000 == 0:
                committer.store.checkpoint()
        times = time_batches(committer, args, lambda: seed.batch(args.batch))
        what = committer.close()
    report(f"seed workload, 100 sessions, {what}", args, times)


def time_batches(
    committer: Committer, args: argparse.Namespace, make_batch: Callable[[], list[Event]]
) -> list[float]:
    """Milliseconds of ``insert_events`` per batch."""
    times = []
    for _ in range(args.batches):
        batch = make_batch()
        t0 = time.perf_counter()
        inserted = committer.insert(batch)
        times.append((time.perf_counter() - t0) * 1000)
        assert inserted == args.batch, inserted
        committer.after()
    return times


def report(what: str, args: argparse.Namespace, times: list[float]) -> None:
    print("ms per batch, in order:", " ".join(f"{t:.1f}" for t in times))
    times = sorted(times)
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    print(
        f"insert_events: {args.batch} events into {args.existing:,} ({what}), "
        f"checkpoint={args.checkpoint}: median {statistics.median(times):.2f} ms, "
        f"mean {statistics.mean(times):.2f} ms, p95 {p95:.2f} ms over {args.batches} batches"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="insert_events benchmark")
    parser.add_argument("--existing", type=int, default=300_000)
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--live", type=int, default=3, help="sessions active in each batch")
    parser.add_argument("--checkpoint", choices=("daemon", "idle", "auto"), default="daemon")
    parser.add_argument("--workload", choices=("live", "seed"), default="live")
    args = parser.parse_args()
    if args.workload == "seed":
        run_seed(args)
        return
    rng = random.Random(1)
    with tempfile.TemporaryDirectory() as tmp:
        committer = Committer(Path(tmp) / "events.db", args.checkpoint)
        store = committer.store
        sessions = [f"claude-code:{uuid.UUID(int=rng.getrandbits(128))}" for _ in range(200)]
        projects = {key: Project(rng, key) for key in sessions}
        start = 1_700_000_000_000
        for done in range(0, args.existing, 1000):
            live = rng.sample(sessions, args.live)
            committer.insert(
                make_events(rng, min(1000, args.existing - done), start, live, projects)
            )
            start += 1000 * 37
            if done % 20_000 == 0:
                store.checkpoint()
        store.checkpoint("TRUNCATE")

        def live_batch() -> list[Event]:
            nonlocal start
            batch = make_events(rng, args.batch, start, rng.sample(sessions, args.live), projects)
            start += args.batch * 37
            return batch

        times = time_batches(committer, args, live_batch)
        what = committer.close()
    report(f"{args.live} live sessions, {what}", args, times)


if __name__ == "__main__":
    main()
