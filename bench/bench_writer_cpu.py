#!/usr/bin/env python3
"""The writer thread's CPU per stored record in a backfill, as ``run --once`` drives it.

Each figure runs in its own child interpreter: the Claude Code corpus is parsed first (not
timed) into the chunks the reader would hand on (one per file read of at most
``read_chunk_bytes``, 1 MiB, with the file's checkpoint and parser state), then the real
``WriterThread`` (``expect_live=False``, the configured batch bounds) is fed those chunks as
backlog and closed; the figure is the writer thread's own CPU time (``time.thread_time`` at
the end of its run loop, final commit and WAL checkpoint included) per record, beside the
process's CPU for the feeding (the checkpointer thread included). Trees alternate
(``--base`` runs the same child with ``PYTHONPATH`` on another tree, e.g. the branch point:
``git archive <commit> | tar -x -C /tmp/base``), ``--reps`` times; medians are printed.

    .venv/bin/python bench/bench_writer_cpu.py /tmp/startup_corpus [--base /tmp/base] [--reps 5]
        [--daemon] [--profile]

``--daemon`` feeds the writer as the running daemon has it (``expect_live=True``: backlog
batches of ``BACKLOG_SCALE`` x ``batch_rows`` once no live line came for a second).

``--profile`` adds one cProfile of this tree's writer thread (cumulative and own times; wall
times under the profiler, so the shares, not the sums, are the figures).

How to quote: ``writer 9.1 µs CPU per record (branch point 11.4), medians of 5, 51 MiB corpus``.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve()
_TREE = _HERE.parents[1]
_STEP = 1 << 20  # read_chunk_bytes: what one backlog read hands on


def _chunks(projects: Path) -> list[Any]:
    """The corpus as backlog chunks: each file in 1 MiB steps of whole lines."""
    from collector.parsers import make_parser
    from collector.parsers.sources import classify
    from store.records import Chunk, FileUpdate

    chunks: list[Any] = []
    for path in sorted(projects.rglob("*.jsonl")):
        source = classify("claude-code", str(projects), str(path))
        if source is None:
            continue
        parser = make_parser(source)
        data = path.read_bytes()
        offset = 0
        while offset < len(data):
            end = data.rfind(b"\n", offset, offset + _STEP) + 1 or len(data)
            records: list[Any] = []
            at = offset
            for line in data[offset:end].split(b"\n")[:-1]:
                records.extend(parser.parse_line(line, at))
                at += len(line) + 1
            checkpoint = {"dev": 1, "inode": 2, "offset": end, "head_hash": "h" * 64,
                          "head_len": 4096, "marker_hash": "m" * 64}  # fmt: skip
            lines = data.count(b"\n", offset, end)
            update = FileUpdate(str(path), "claude-code", source.session_id, checkpoint,
                                parser.state(), len(data), lines=lines)  # fmt: skip
            chunks.append(Chunk(records, update, end - offset, live=False))
            offset = end
    return chunks


def child(projects: Path, profile: bool, daemon: bool) -> str:
    """In a child: µs of writer CPU per record, µs of process CPU per record, records,
    events stored, commits."""
    from collector.counters import Counters
    from collector.ingest.commit.writer import WriterThread
    from config.model import CollectorConfig
    from store import EventStore

    chunks = _chunks(projects)
    records = sum(len(c.records) for c in chunks)
    cpu: list[float] = []
    profiler = cProfile.Profile() if profile else None

    class Timed(WriterThread):
        def _run(self) -> None:
            if profiler is not None:
                profiler.enable()
            started = time.thread_time()
            super()._run()
            cpu.append(time.thread_time() - started)
            if profiler is not None:
                profiler.disable()

    c = CollectorConfig()
    counters = Counters()
    with tempfile.TemporaryDirectory() as tmp, EventStore(Path(tmp) / "events.db") as store:
        writer = Timed(store, counters, flush_interval_ms=c.flush_interval_ms,
                       batch_rows=c.batch_rows, batch_bytes=c.batch_bytes,
                       queue_bound=c.queue_bound, expect_live=daemon)  # fmt: skip
        process = time.process_time()
        writer.start()
        for chunk in chunks:
            writer.put(chunk)
        writer.close(timeout=600)
        process = time.process_time() - process
        stored = store.connection.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    if profiler is not None:
        stats = pstats.Stats(profiler, stream=sys.stderr)
        stats.sort_stats("cumulative").print_stats(25)
        stats.sort_stats("tottime").print_stats(20)
    batches = counters.snapshot()["counters"].get("commits", 0)
    per_record = f"{cpu[0] / records * 1e6:.3f} {process / records * 1e6:.3f}"
    return f"{per_record} {records} {stored} {batches}"


def _run(tree: Path, projects: Path, daemon: bool) -> list[str]:
    env = os.environ | {"PYTHONPATH": f"{tree}{os.pathsep}{_HERE.parent}"}
    argv = [sys.executable, str(_HERE), "--child", str(projects), *(["--daemon"] if daemon else [])]
    out = subprocess.run(argv, env=env, cwd=tree, check=True, capture_output=True, text=True)
    return out.stdout.split()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--base", type=Path, help="another tree to compare")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument(
        "--daemon",
        action="store_true",
        help="as the daemon runs it (expect_live): backlog batches of 4 x 100 rows",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    projects = args.corpus if args.child else args.corpus / "projects"
    if args.child:
        print(child(projects, args.profile, args.daemon))
        return 0
    if args.profile:
        sys.path.insert(0, str(_TREE))
        print(child(projects, True, args.daemon))
        return 0
    trees = {"this tree": _TREE} | ({"base": args.base} if args.base else {})
    runs: dict[str, list[list[str]]] = {name: [] for name in trees}
    for _ in range(args.reps):
        for name, tree in trees.items():
            runs[name].append(_run(tree, projects, args.daemon))
    for name, values in runs.items():
        writer = [float(v[0]) for v in values]
        process = [float(v[1]) for v in values]
        print(f"{name:>10}: writer {statistics.median(writer):6.2f} µs CPU per record "
              f"(runs {', '.join(f'{v:.2f}' for v in writer)}); process "
              f"{statistics.median(process):6.2f}; {values[0][2]} records, "
              f"{values[0][3]} events stored, {values[0][4]} commits")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
