#!/usr/bin/env python3
"""What the sink seam costs the writer's hot path: CPU per stored record of the writer's
transaction (``apply_records`` + COMMIT in batches of 100, as the writer makes them) on a fresh
store, for this tree with no sink, this tree with the change feed's triggers (a sink enabled),
and optionally another tree with no sink (e.g. the branch point: ``git archive <commit> | tar -x
-C /tmp/base``). Each figure runs in its own child interpreter, in alternation, ``--reps`` times;
medians are printed. Process CPU time, so other load on the machine matters less than for wall
time (cache effects remain).

    .venv/bin/python bench/bench_writer_feed.py /tmp/corpus [--base /tmp/base] [--reps 5]

How to quote: ``writer 12.6 µs CPU per record without a sink (branch point 12.6), 16.1 with the
feed's triggers; medians of 5 on a 30 MiB corpus``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

_HERE = Path(__file__).resolve()
_TREE = _HERE.parents[1]


def child(projects: Path, feed: bool) -> float:
    """In a child: µs of CPU per record, whole corpus, one fresh store."""
    from corpus_records import apply_in_batches, parsed_records

    from store import EventStore

    records = parsed_records(projects)
    with tempfile.TemporaryDirectory() as tmp, EventStore(Path(tmp) / "events.db") as store:
        if feed:
            from store import sink_local

            sink_local.install_feed(store.connection, ["postgres"])
        return apply_in_batches(store, records) / len(records) * 1e6


def _run(tree: Path, projects: Path, feed: bool) -> float:
    env = os.environ | {"PYTHONPATH": str(tree)}
    argv = [sys.executable, str(_HERE), "--child", str(projects), *(["--feed"] if feed else [])]
    out = subprocess.run(argv, env=env, cwd=tree, check=True, capture_output=True, text=True)
    return float(out.stdout.strip())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--base", type=Path, help="another tree to compare (no sink)")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--feed", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    projects = args.corpus if args.child else args.corpus / "projects"
    if args.child:
        print(f"{child(projects, args.feed):.3f}")
        return 0
    runs: dict[str, list[float]] = {"no sink": [], "feed triggers": [], "base, no sink": []}
    for _ in range(args.reps):
        runs["no sink"].append(_run(_TREE, projects, False))
        runs["feed triggers"].append(_run(_TREE, projects, True))
        if args.base:
            runs["base, no sink"].append(_run(args.base, projects, False))
    for name, values in runs.items():
        if values:
            print(f"{name:>14}: {statistics.median(values):6.2f} µs CPU per record "
                  f"(runs {', '.join(f'{v:.2f}' for v in values)})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
