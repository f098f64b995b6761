#!/usr/bin/env python3
"""Memory benchmark: peak RSS of ``agent-viz-monitor run --once`` over growing backlogs.

What it measures: for each size in ``--sizes`` (MiB, default 250,500,1000), a corpus made by
``../shared/bench/gen_corpus.py --mb SIZE --files N`` in ``$TMPDIR``, then one ``run --once`` on a
fresh temporary HOME whose ``~/.claude/projects`` is a symlink to it. The peak resident set is
the child's ``ru_maxrss`` from ``wait4`` (the kernel's high-water mark, ``VmHWM``, exact and
race-free); ``/proc/PID/status`` is also polled every ``--interval`` s, to show *when* memory
grows (RSS at 25/50/75/100 % of the run) and what it is: ``RssAnon`` (Python objects, SQLite's
page cache) or ``RssFile`` (database pages read through SQLite's ``mmap_size`` window, which
the kernel may drop at will; shared libraries). Corpus and database are deleted after each size.

Before each size the free space of ``$TMPDIR`` must exceed 3 x SIZE + 2 GiB (corpus, database
of about a quarter of the corpus, WAL, and room for the others on the machine); a size that does
not fit is skipped and said so.

    .venv/bin/python bench/bench_memory.py [--sizes 250,500,1000,2000] [--files 20] [--json]

How to quote: ``peak RSS 112 / 114 / 115 / 117 MB for 250 / 500 / 1000 / 2000 MiB backlogs
(+2 MB per GiB)``; the goal is <= 150 MB and flat in backlog size. RSS hardly depends on the
machine's load, but the numbers come from one run per size: a second run is the check.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from daemon_home import SHARED_BENCH, DaemonHome, corpus_size, machine_note, overrides

_MiB = 1 << 20
_GiB = 1 << 30


def fits(size_mib: int, where: str) -> tuple[bool, int]:
    """Is there room for a corpus of ``size_mib`` and its database; and the free bytes."""
    free = shutil.disk_usage(where).free
    return free > 3 * size_mib * _MiB + 2 * _GiB, free


def make_corpus(size_mib: int, files: int) -> tuple[Path, float]:
    """A fresh gen_corpus.py folder under ``$TMPDIR``; and the seconds it took."""
    folder = Path(tempfile.mkdtemp(prefix=f"bench-memory-corpus-{size_mib}-"))
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, str(SHARED_BENCH / "gen_corpus.py"), str(folder),
         "--mb", str(size_mib), "--files", str(files)],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    return folder, time.perf_counter() - started


def measure(corpus: Path, interval: float) -> dict[str, Any]:
    """One ``run --once`` over ``corpus``: peak RSS and the polled RSS curve."""
    size = corpus_size(corpus / "projects")
    with DaemonHome(prefix="bench-memory-") as home:
        home.link_root(corpus / "projects")
        pid = home.start("run", "--once").pid
        started = time.monotonic()
        curve: list[tuple[float, int]] = []
        split = {"RssAnon": 0, "RssFile": 0}
        while home.alive():
            status = _proc_status(pid)
            if not status:
                break
            curve.append((time.monotonic() - started, status.get("VmRSS", 0) * 1024))
            for key, high in split.items():
                split[key] = max(high, status.get(key, 0) * 1024)
            time.sleep(interval)
        done = home.wait(3600)
        if done.code != 0:
            raise SystemExit(f"run --once exited {done.code}:\n{home.log_tail()}")
        events = home.query("SELECT COUNT(*) FROM events")[0][0]
        db_bytes = home.database_bytes()
    return {
        "corpus_bytes": size.bytes,
        "lines": size.lines,
        "seconds": round(done.seconds, 1),
        "lines_per_s": round(size.lines / done.seconds),
        "events": events,
        "db_MB": round(db_bytes / 1e6, 1),
        "peak_rss_MB": round(done.max_rss_kib * 1024 / 1e6, 1),
        "polled_max_MB": round(max((r for _, r in curve), default=0) / 1e6, 1),
        "max_anon_MB": round(split["RssAnon"] / 1e6, 1),
        "max_file_MB": round(split["RssFile"] / 1e6, 1),
        "rss_at_MB": _quarters(curve),
    }


def _proc_status(pid: int) -> dict[str, int]:
    """The ``kB`` fields of ``/proc/PID/status``; empty once the process is gone."""
    out = {}
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return out
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if value.strip().endswith("kB"):
            out[key] = int(value.split()[0])
    return out


def _quarters(curve: list[tuple[float, int]]) -> list[float]:
    """Polled RSS at 25, 50, 75 and 100 % of the run (the last sample before each point)."""
    if not curve:
        return []
    end = curve[-1][0]
    out = []
    for share in (0.25, 0.5, 0.75, 1.0):
        rss = [r for t, r in curve if t <= share * end][-1:] or [curve[0][1]]
        out.append(round(rss[0] / 1e6, 1))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="250,500,1000", help="backlogs in MiB, comma-separated")
    parser.add_argument("--files", type=int, default=20, help="session files per corpus")
    parser.add_argument("--interval", type=float, default=0.05, help="RSS polling period, s")
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    where = tempfile.gettempdir()
    print(f"memory: TMPDIR={where}; {machine_note()}; overrides {overrides() or 'none'}",
          flush=True)  # fmt: skip
    results = []
    for size in sizes:
        ok, free = fits(size, where)
        if not ok:
            print(f"{size} MiB: skipped, only {free / _GiB:.1f} GiB free in {where}")
            continue
        corpus, gen_s = make_corpus(size, args.files)
        try:
            r = measure(corpus, args.interval) | {"size_MiB": size, "gen_s": round(gen_s, 1)}
        finally:
            shutil.rmtree(corpus, ignore_errors=True)
        results.append(r)
        print(f"{size:>5} MiB ({r['lines']} lines): peak RSS {r['peak_rss_MB']} MB "
              f"(polled max {r['polled_max_MB']} MB: anon {r['max_anon_MB']}, file-backed "
              f"{r['max_file_MB']}; at 25/50/75/100 % {r['rss_at_MB']}), "
              f"{r['seconds']} s, {r['lines_per_s']:,} lines/s, {r['events']} events, "
              f"db {r['db_MB']} MB", flush=True)  # fmt: skip
    if len(results) >= 2:
        first, last = results[0], results[-1]
        slope = (last["peak_rss_MB"] - first["peak_rss_MB"]) / (
            (last["corpus_bytes"] - first["corpus_bytes"]) / _GiB
        )
        worst = max(r["peak_rss_MB"] for r in results)
        print(f"peak RSS {' / '.join(str(r['peak_rss_MB']) for r in results)} MB for "
              f"{' / '.join(str(r['size_MiB']) for r in results)} MiB backlogs "
              f"({slope:+.1f} MB per GiB); goal <= 150 MB: {'met' if worst <= 150 else 'NOT met'}"
              f"; {machine_note()}")  # fmt: skip
    if args.json:
        print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
