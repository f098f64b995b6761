#!/usr/bin/env python3
"""Full ingest against ``ccusage session``: wall time and peak RSS, alternating runs, medians.

Issue 16's goal: ``agent-viz-monitor run --once`` over a corpus takes at most 2 x the wall time
of ``ccusage session --offline`` over the same transcripts (and its peak RSS ratio is stated).
Both read every line of every transcript; ccusage keeps nothing, we build the event store.

Each round runs, in turn (the order rotates every round so neither side always goes first on a
machine whose load drifts):

- ``CLAUDE_CONFIG_DIR=CORPUS ccusage session --offline`` (stdout discarded);
- ``HOME=H agent-viz-monitor run --once`` with a fresh ``H`` whose ``~/.claude/projects`` is a
  symlink to ``CORPUS/projects`` (``daemon_home.DaemonHome``, as ``bench_backfill.py``); each run
  is checked complete (exit 0, the ``files`` table accounts for every corpus line and byte);
- with ``--before TREE`` also the same command with ``PYTHONPATH=TREE`` (an older tree, e.g.
  ``git -C /work/main archive b3012f1 | tar -x -C /tmp/before``), so before/after ratios come from
  the same invocation.

Wall time is spawn to reap (``wait4``, which also gives CPU time and the peak RSS of the child
and its reaped descendants, as ``/usr/bin/time -v`` reports). One untimed run of each side comes
first: it fills the page cache and our bytecode cache (``PYTHONDONTWRITEBYTECODE`` is dropped for
the children: users' installs have bytecode). For our runs the daemon's JSON log
splits the wall time into start-up (spawn to ``daemon_started``), ingest (to ``daemon_stopped``)
and exit (to reap).

Each of our runs also gets a *floor*: its start-up and exit as they were, plus the rest of its
CPU time (the daemon's threads and the parse process) spread perfectly over the CPUs it may use.
No scheduling of the same work can be faster, so a floor above 2 x ccusage says the goal needs
less CPU, not better overlap (bench/README.md, "What bounds a full ingest, measured").

    ../shared/gen_corpus.py /tmp/corpus --mb 50
    .venv/bin/python bench/bench_ccusage.py /tmp/corpus [--rounds 3]
        [--ccusage PATH] [--before TREE] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from daemon_home import PROJECT, CorpusSize, DaemonHome, corpus_size, machine_note, warm_page_cache

from collector.ingest.parse_child import usable_cpus

_CCUSAGE = PROJECT / ".cache" / "ccusage" / "node_modules" / ".bin" / "ccusage"


def run_ccusage(ccusage: Path, corpus: Path) -> dict[str, Any]:
    """One ``ccusage session --offline`` over ``corpus``; raises if it failed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("XDG_")}
    env["CLAUDE_CONFIG_DIR"] = str(corpus)
    started = time.perf_counter()
    proc = subprocess.Popen(
        [str(ccusage), "session", "--offline"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _pid, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    assert proc.stderr is not None
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    if code != 0:
        raise SystemExit(f"ccusage exited {code}:\n{err[-2000:]}")
    return _result(seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss)


def run_ours(projects: Path, size: CorpusSize, tree: Path | None) -> dict[str, Any]:
    """One ``run --once`` on a fresh HOME (``tree``: an older tree on PYTHONPATH)."""
    own = os.environ.get("PYTHONPATH")
    if tree is not None:
        os.environ["PYTHONPATH"] = str(tree)
    try:
        with DaemonHome(prefix="bench-ccusage-") as home:
            home.link_root(projects)
            wall_start = time.time()
            done = home.run_once()
            wall_end = time.time()
            if done.code != 0:
                raise SystemExit(f"run --once exited {done.code}:\n{home.log_tail()}")
            sql = "SELECT SUM(lines), SUM(offset), COUNT(*) FROM files"
            lines, offsets, files = home.query(sql)[0]
            if (files, lines, offsets) != (size.files, size.lines, size.bytes):
                raise SystemExit(f"incomplete ingest: {files}/{lines}/{offsets} of {size}")
            result = _result(done.seconds, done.cpu_user + done.cpu_system, done.max_rss_kib)
            result.update(_phases(home.log_file, wall_start, wall_end))
            return result
    finally:
        if own is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = own


def _result(seconds: float, cpu: float, max_rss_kib: int) -> dict[str, Any]:
    rss_mb = round(max_rss_kib * 1024 / 1e6, 1)
    return {"seconds": round(seconds, 3), "cpu_s": round(cpu, 3), "rss_MB": rss_mb}


def _phases(log: Path, wall_start: float, wall_end: float) -> dict[str, float]:
    """Start-up, ingest and exit seconds from the log's ``daemon_started``/``_stopped`` stamps."""
    stamps: dict[str, float] = {}
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{") and '"daemon_st' in line:
            entry = json.loads(line)
            if entry.get("event") in ("daemon_started", "daemon_stopped"):
                stamps[entry["event"]] = datetime.fromisoformat(
                    entry["timestamp"].replace("Z", "+00:00")
                ).timestamp()
    if len(stamps) != 2:
        return {}
    return {
        "startup_s": round(stamps["daemon_started"] - wall_start, 3),
        "ingest_s": round(stamps["daemon_stopped"] - stamps["daemon_started"], 3),
        "exit_s": round(wall_end - stamps["daemon_stopped"], 3),
    }


def _floor(run: dict[str, Any], cpus: int) -> float | None:
    """The run's wall time if its ingest CPU (all but start-up and exit, which are counted as
    CPU time: one busy thread each) had kept all ``cpus`` busy."""
    if "ingest_s" not in run:
        return None
    serial = float(run["startup_s"]) + float(run["exit_s"])
    return round(serial + max(0.0, float(run["cpu_s"]) - serial) / cpus, 3)


def _median(runs: list[dict[str, Any]], key: str) -> float:
    values = [r[key] for r in runs if key in r]
    return round(statistics.median(values), 3) if values else float("nan")


def _describe(name: str, runs: list[dict[str, Any]]) -> str:
    walls = ", ".join(f"{r['seconds']:.2f}" for r in runs)
    text = (
        f"{name}: wall {_median(runs, 'seconds'):.3f} s ({walls}),"
        f" cpu {_median(runs, 'cpu_s'):.2f} s, peak rss {_median(runs, 'rss_MB'):.1f} MB"
    )
    if any("ingest_s" in r for r in runs):
        text += (
            f"; start-up {_median(runs, 'startup_s'):.3f} s,"
            f" ingest {_median(runs, 'ingest_s'):.3f} s, exit {_median(runs, 'exit_s'):.3f} s;"
            f" floor on {usable_cpus()} cpus {_median(runs, 'floor_s'):.3f} s"
        )
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path, help="a gen_corpus.py folder (holds projects/)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    parser.add_argument("--ccusage", type=Path, default=_CCUSAGE, help=f"default {_CCUSAGE}")
    parser.add_argument("--before", type=Path, help="an older tree to run on PYTHONPATH too")
    parser.add_argument("--json", action="store_true", help="print one JSON document at the end")
    args = parser.parse_args()
    projects = args.corpus / "projects"
    if not args.ccusage.exists():
        raise SystemExit(f"ccusage not found at {args.ccusage} (see .ci/run, or --ccusage PATH)")
    size = corpus_size(projects)
    print(f"corpus {args.corpus}: {size.files} files, {size.lines} lines, {size.bytes} bytes; "
          f"{machine_note()}", flush=True)  # fmt: skip
    warm_page_cache(projects)
    # Users' installs have bytecode (pip compiles at install, an editable install caches it on
    # first import): let the children write it, and fill it (and node's caches) untimed.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    sides: dict[str, Any] = {
        "ccusage": lambda: run_ccusage(args.ccusage, args.corpus),
        "ours": lambda: run_ours(projects, size, None),
    }
    if args.before is not None:
        sides["before"] = lambda: run_ours(projects, size, args.before.resolve())
    for warm in sides.values():
        warm()
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in sides}
    order = list(sides)
    for round_no in range(args.rounds):
        for name in order[round_no % len(order) :] + order[: round_no % len(order)]:
            result = sides[name]()
            if (floor := _floor(result, usable_cpus())) is not None:
                result["floor_s"] = floor
            runs[name].append(result)
            print(f"round {round_no + 1} {name}: {result}", flush=True)
    for name, done in runs.items():
        print(_describe(name, done))
    summary = _summary(runs)
    print(f"ours / ccusage: wall {summary['wall_ratio']:.2f} x, "
          f"peak rss {summary['rss_ratio']:.2f} x, floor {summary['floor_ratio']:.2f} x "
          f"(medians of {args.rounds} alternating rounds); "
          f"goal wall <= 2: "
          f"{'met' if summary['wall_ratio'] <= 2 else 'NOT met'}; {machine_note()}")  # fmt: skip
    if "before" in runs:
        print(f"before / ccusage: wall {summary['before_wall_ratio']:.2f} x, "
              f"peak rss {summary['before_rss_ratio']:.2f} x")  # fmt: skip
    if args.json:
        print(json.dumps({"runs": runs, "summary": summary}, indent=2))
    return 0


def _summary(runs: dict[str, list[dict[str, Any]]]) -> dict[str, float]:
    base_wall, base_rss = _median(runs["ccusage"], "seconds"), _median(runs["ccusage"], "rss_MB")
    summary = {
        "wall_ratio": round(_median(runs["ours"], "seconds") / base_wall, 2),
        "rss_ratio": round(_median(runs["ours"], "rss_MB") / base_rss, 2),
        "floor_ratio": round(_median(runs["ours"], "floor_s") / base_wall, 2),
    }
    if "before" in runs:
        summary["before_wall_ratio"] = round(_median(runs["before"], "seconds") / base_wall, 2)
        summary["before_rss_ratio"] = round(_median(runs["before"], "rss_MB") / base_rss, 2)
    return summary


if __name__ == "__main__":
    sys.exit(main())
