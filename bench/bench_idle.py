#!/usr/bin/env python3
"""Idle-cost benchmark: CPU, memory and descriptors of a daemon watching 20,000 quiet transcripts.

What it measures: a fresh temporary HOME gets ``--files`` (default 20,000) small Claude Code
transcripts (1-3 valid lines each: a prompt, an assistant tool_use, a text answer) spread over
``--projects`` (default 200) project folders. ``agent-viz-monitor run`` ingests them (the time
until the ``files`` table accounts for every byte is printed: a many-small-files backfill), then
after ``--settle`` seconds nothing is written for ``--seconds`` (default 60) and we read, from
outside the process:

- CPU: ``psutil.Process(pid).cpu_times()`` user+system before and after, as % of one core (also
  per second, to show the periodic rescans every ``rescan_interval`` = 30 s by default);
- memory: RSS at the end, split into anonymous (heap, SQLite page cache) and file-backed (the
  database read through SQLite's mmap, shared libraries), and the peak so far (``VmHWM``,
  which includes the ingest);
- descriptors: ``/proc/PID/fd``, and inotify watches held (``inotify wd:`` lines of fdinfo);
- threads, and the system's inotify limits (``/proc/sys/fs/inotify``).

``--py-spy PATH`` then samples one more idle window (not the measured one: sampling costs the
target a little) and prints what the idle CPU is spent on.

    .venv/bin/python bench/bench_idle.py [--files 20000] [--projects 200] [--seconds 60]
        [--restart] [--maps] [--heap] [--py-spy PATH] [--json]

``--restart`` then stops the daemon and starts it again on the ingested store, and measures the
same window: the steady state of a daemon started at login (every file resumes from its
``files`` row; the first run's figures include what the ingest left behind). ``--maps`` prints
where the RSS is (``/proc/PID/smaps``: per file, ``[heap]``, the largest anonymous mappings).
``--heap`` runs both daemons under ``heap_probe.py`` and prints their tracemalloc top entries
(RSS is then inflated by the tracing); with ``HEAP_PROBE_MALLOC=1`` it prints pymalloc's own
statistics instead, untraced (arenas, unused pools, blocks per size class): what fragmentation
an ingest or a start-up left.

How to quote: ``idle: 0.21 % of a core over 60 s, RSS 48 MB (peak 55 MB), 23 fds, 201 inotify
watches; 20,000 files in 200 folders``. Goals: < 0.5 % of a core, RSS <= 60 MB, fds < 64. The
machine is shared: CPU time of *this* process is not inflated by other load the way wall time
is, but cache effects are; give the machine note printed with it.
"""

from __future__ import annotations

import argparse
import calendar
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from daemon_home import DaemonHome, machine_note, overrides
from spy_report import print_collapsed

_INGEST_TIMEOUT = 900.0


# the transcripts ----------------------------------------------------------------------------
def write_tree(root: Path, files: int, projects: int, seed: int) -> tuple[int, int]:
    """``files`` transcripts of 1-3 lines over ``projects`` folders; returns (files, bytes)."""
    rng = random.Random(seed)
    total = 0
    for i in range(files):
        folder = root / f"-home-dev-idle-p{i % projects:03d}"
        if i < projects:
            folder.mkdir(parents=True)
        session = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        lines = _lines(rng, session, f"/home/dev/idle/p{i % projects:03d}")
        data = b"".join(lines)
        path = folder / f"{session}.jsonl"
        path.write_bytes(data)
        # Quiet transcripts are old ones: their mtime is their last line's time, as the agent
        # left it (a tree of just-written files would all look recently active).
        last = orjson.loads(lines[-1])["timestamp"]
        stamp = calendar.timegm(time.strptime(last[:19], "%Y-%m-%dT%H:%M:%S"))
        os.utime(path, (stamp, stamp))
        total += len(data)
    return files, total


def _lines(rng: random.Random, session: str, cwd: str) -> list[bytes]:
    base = {"sessionId": session, "cwd": cwd, "version": "2.0.76", "gitBranch": "main",
            "isSidechain": False, "userType": "external"}  # fmt: skip
    ms = 1_748_854_800_000 + rng.randrange(10**9)
    prompt_id, call_uuid = str(uuid.uuid4()), str(uuid.uuid4())
    prompt = base | {"type": "user", "uuid": prompt_id, "parentUuid": None, "timestamp": _iso(ms),
                     "message": {"role": "user", "content": "run the tests"}}  # fmt: skip
    call = base | {"type": "assistant", "uuid": call_uuid, "parentUuid": prompt_id,
                   "timestamp": _iso(ms + 900), "requestId": f"req_{uuid.uuid4().hex}",
                   "message": {"id": f"msg_{uuid.uuid4().hex}", "type": "message",
                               "role": "assistant", "model": "claude-sonnet-4-20250514",
                               "content": [{"type": "tool_use", "id": f"toolu_{uuid.uuid4().hex}",
                                            "name": "Bash",
                                            "input": {"command": "pytest -q"}}],
                               "usage": {"input_tokens": 12, "output_tokens": 30}}}  # fmt: skip
    answer = base | {"type": "assistant", "uuid": str(uuid.uuid4()), "parentUuid": call_uuid,
                     "timestamp": _iso(ms + 2500),
                     "message": {"id": f"msg_{uuid.uuid4().hex}", "type": "message",
                                 "role": "assistant", "model": "claude-sonnet-4-20250514",
                                 "content": [{"type": "text",
                                              "text": "All tests pass."}]}}  # fmt: skip
    return [orjson.dumps(x) + b"\n" for x in (prompt, call, answer)[: rng.randint(1, 3)]]


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}Z"


# the daemon ---------------------------------------------------------------------------------
def wait_ingested(home: DaemonHome, files: int, nbytes: int) -> float:
    """Seconds from spawn until the ``files`` table accounts for every file and byte."""
    started = time.monotonic()
    while time.monotonic() - started < _INGEST_TIMEOUT:
        if not home.alive():
            raise SystemExit(f"daemon exited:\n{home.log_tail()}")
        if home.database.exists():
            try:
                count, offsets = home.query("SELECT COUNT(*), SUM(offset) FROM files")[0]
            except Exception:
                count, offsets = 0, 0
            if count == files and offsets == nbytes:
                return time.monotonic() - started
        time.sleep(0.25)
    raise SystemExit(f"not ingested after {_INGEST_TIMEOUT} s:\n{home.log_tail()}")


def observe(pid: int, seconds: float) -> dict[str, Any]:
    """CPU over ``seconds`` of idleness (and per second), then memory, fds, threads, watches."""
    proc = psutil.Process(pid)
    before = proc.cpu_times()
    start = last_t = time.monotonic()
    last = before.user + before.system
    per_second = []
    while (now := time.monotonic()) - start < seconds:
        time.sleep(min(1.0, seconds - (now - start)))
        t = proc.cpu_times()
        used, now = t.user + t.system, time.monotonic()
        per_second.append(100 * (used - last) / (now - last_t))
        last, last_t = used, now
    after = proc.cpu_times()
    elapsed = time.monotonic() - start
    cpu = (after.user + after.system) - (before.user + before.system)
    status = _proc_status(pid)
    return {
        "seconds": round(elapsed, 1),
        "cpu_s": round(cpu, 3),
        "cpu_percent": round(100 * cpu / elapsed, 3),
        "cpu_percent_max_1s": round(max(per_second), 2),
        "seconds_above_1_percent": sum(1 for p in per_second if p > 1.0),
        "rss_MB": round(proc.memory_info().rss / 1e6, 1),
        "peak_rss_MB": round(status.get("VmHWM", 0) * 1024 / 1e6, 1),
        # RssFile counts the database pages SQLite reads through mmap (mmap_size), RssAnon the
        # heap: Python objects, SQLite's page cache (cache_size).
        "rss_anon_MB": round(status.get("RssAnon", 0) * 1024 / 1e6, 1),
        "rss_file_MB": round(status.get("RssFile", 0) * 1024 / 1e6, 1),
        "fds": len(os.listdir(f"/proc/{pid}/fd")),
        "inotify_watches": _inotify_watches(pid),
        "threads": proc.num_threads(),
    }


def mappings(pid: int, top: int) -> str:
    """Where the RSS is, from ``/proc/PID/smaps``: file-backed mappings summed per file,
    ``[heap]`` (the main arena), and the largest anonymous mappings by their size (glibc's
    per-thread arenas reserve 64 MiB each, thread stacks 8 MiB plus a guard page)."""
    per: dict[str, int] = {}
    anon: list[tuple[int, int]] = []
    size = rss = 0
    name = ""

    def close() -> None:
        if name:
            per[name] = per.get(name, 0) + rss
        elif size:
            anon.append((rss, size))

    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        head = line.split()
        if "-" in head[0] and len(head) >= 5 and not head[0].endswith(":"):
            close()
            name, size, rss = (head[5] if len(head) > 5 else ""), 0, 0
        elif head[0] == "Size:":
            size = int(head[1])
        elif head[0] == "Rss:":
            rss = int(head[1])
    close()
    anon.sort(reverse=True)
    total_anon = sum(r for r, _ in anon)
    rows = sorted(per.items(), key=lambda kv: -kv[1])[:top]
    out = [f"anonymous mappings: {total_anon / 1024:.1f} MiB RSS in {len(anon)} mappings"]
    out += [f"  {r / 1024:7.1f} MiB of {z / 1024:7.1f} MiB" for r, z in anon[:top] if r]
    out += [f"{r / 1024:7.1f} MiB  {n}" for n, r in rows if r >= 256]
    return "\n".join(out)


def _proc_status(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if value.strip().endswith("kB"):
            out[key] = int(value.split()[0])
    return out


def _inotify_watches(pid: int) -> int:
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fdinfo"):
        try:
            text = Path(f"/proc/{pid}/fdinfo/{fd}").read_text()
        except OSError:
            continue
        count += sum(1 for line in text.splitlines() if line.startswith("inotify wd:"))
    return count


def inotify_limits() -> dict[str, int]:
    """The per-user inotify limits the daemon runs under."""
    out = {}
    for name in ("max_user_watches", "max_user_instances", "max_queued_events"):
        try:
            out[name] = int(Path(f"/proc/sys/fs/inotify/{name}").read_text())
        except (OSError, ValueError):
            continue
    return out


def sample_idle(home: DaemonHome, py_spy: str, seconds: float, top: int) -> None:
    """py-spy over another idle window of the running daemon: what the idle CPU is spent on."""
    out = home.base / "idle-profile.txt"
    cmd = [py_spy, "record", "--pid", str(home.pid), "--duration", str(int(seconds)),
           "--rate", "100", "--format", "raw", "--output", str(out), "--nonblocking"]  # fmt: skip
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    print(f"\n== py-spy over {seconds:.0f} s more of idleness (100 Hz; idle threads skipped) ==")
    print_collapsed(out, top, threads=("reader", "writer", "main", "other"))


def heap_top(pid: int, out: Path, timeout: float = 60.0) -> str:
    """Ask the traced daemon for its heap's top entries (SIGUSR1) and read them."""
    os.kill(pid, signal.SIGUSR1)
    deadline = time.monotonic() + timeout
    while not out.exists():
        if time.monotonic() > deadline:
            return "heap: no answer from the daemon"
        time.sleep(0.1)
    return "heap (tracemalloc, top entries by size):\n" + out.read_text()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--projects", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--settle", type=float, default=5.0, help="seconds after the ingest")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--py-spy", help="also sample another idle window with this py-spy")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--heap", action="store_true",
                        help="trace allocations (tracemalloc) and print the top entries after "
                        "the idle window; RSS is then inflated by the tracing")  # fmt: skip
    parser.add_argument("--restart", action="store_true",
                        help="then restart the daemon on the ingested store and measure again "
                        "(the usual steady state: a daemon started at login)")  # fmt: skip
    parser.add_argument("--maps", action="store_true",
                        help="print the RSS per mapping (smaps) after the idle window")  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="keep the temporary HOME")
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")
    args = parser.parse_args()
    print(f"idle: {machine_note()}; overrides {overrides() or 'none'}", flush=True)
    with DaemonHome(prefix="bench-idle-", keep=args.keep) as home:
        files, nbytes = write_tree(home.claude_root, args.files, args.projects, args.seed)
        heap_out = home.base / "heap-top.txt"
        probe = [sys.executable, str(Path(__file__).with_name("heap_probe.py")), str(heap_out)]
        home.start("run", wrapper=probe if args.heap else ())
        ingest = wait_ingested(home, files, nbytes)
        print(f"ingested {files} files ({nbytes / 1e6:.1f} MB) in {ingest:.1f} s from spawn "
              f"({files / ingest:,.0f} files/s)", flush=True)  # fmt: skip
        time.sleep(args.settle)
        result = observe(home.pid, args.seconds)
        status = home.status() or {}
        result.update(files=files, projects=args.projects, ingest_s=round(ingest, 1),
                      db_MB=round(home.database_bytes() / 1e6, 1),
                      watch_modes=status.get("watch_modes"), limits=inotify_limits())  # fmt: skip
        print(_report(result), flush=True)
        if args.maps:
            print(mappings(home.pid, args.top), flush=True)
        if args.heap:
            print(heap_top(home.pid, heap_out), flush=True)
        if args.py_spy:
            sample_idle(home, args.py_spy, args.seconds, args.top)
        if args.restart:
            result = restarted(home, args, files, nbytes, probe if args.heap else ())
        stopped = home.stop()
        print(f"stopped with exit code {stopped.code}; {machine_note()}")
    if args.json:
        print(json.dumps(result))
    return 0


def restarted(
    home: DaemonHome, args: argparse.Namespace, files: int, nbytes: int, wrapper: Any = ()
) -> dict[str, Any]:
    """Stop the daemon, start it again on the same store (nothing left to ingest: every file
    resumes from its ``files`` row) and measure the same idle window."""
    home.stop()
    heap_out = home.base / "heap-top.txt"
    heap_out.unlink(missing_ok=True)
    home.start("run", wrapper=wrapper)
    wait_ingested(home, files, nbytes)
    time.sleep(args.settle)
    result = observe(home.pid, args.seconds)
    status = home.status() or {}
    result.update(files=files, projects=args.projects, ingest_s=0.0,
                  db_MB=round(home.database_bytes() / 1e6, 1),
                  watch_modes=status.get("watch_modes"), limits=inotify_limits())  # fmt: skip
    print("\n== restarted on the ingested store ==\n" + _report(result), flush=True)
    if args.maps:
        print(mappings(home.pid, args.top), flush=True)
    if wrapper:
        print(heap_top(home.pid, heap_out), flush=True)
    return result


def _report(r: dict[str, Any]) -> str:
    goals = (r["cpu_percent"] < 0.5, r["rss_MB"] <= 60, r["fds"] < 64)
    claude = {k: v for k, v in (r["watch_modes"] or {}).items() if k.endswith(".claude/projects")}
    return "\n".join([
        f"idle over {r['seconds']} s: cpu {r['cpu_s']} s = {r['cpu_percent']} % of a core "
        f"(worst second {r['cpu_percent_max_1s']} %, {r['seconds_above_1_percent']} s above 1 %)",
        f"rss {r['rss_MB']} MB (anon {r['rss_anon_MB']}, file-backed {r['rss_file_MB']}; "
        f"peak {r['peak_rss_MB']} MB incl. ingest), {r['fds']} fds, "
        f"{r['threads']} threads, {r['inotify_watches']} inotify watches, "
        f"watch {list(claude.values())}",
        f"inotify limits {r['limits']}; database {r['db_MB']} MB (SQLite caches up to 64 MiB "
        f"of it in the anonymous RSS)",
        f"goals: cpu < 0.5 % {'met' if goals[0] else 'NOT met'}; rss <= 60 MB "
        f"{'met' if goals[1] else 'NOT met'}; fds < 64 {'met' if goals[2] else 'NOT met'}",
    ])  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
