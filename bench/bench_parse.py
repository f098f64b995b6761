#!/usr/bin/env python3
"""Parse benchmark: the parsers' lines/s and MB/s against ``orjson.loads`` alone.

Both run over the same lines of a ``../shared/bench/gen_corpus.py`` corpus, interleaved in the
same process, so machine noise hits both; the figure to quote is the ratio (goal ≥ 0.5: the
normalisation costs no more than the JSON parse itself).

    ../shared/bench/gen_corpus.py /tmp/corpus --mb 50
    python bench/bench_parse.py /tmp/corpus [--reps 5] [--clock cpu]

Lines are read into memory first (file I/O is not what is measured). Each rep parses every
file with a fresh parser, as the daemon does on backfill.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from collector.parsers import make_parser
from collector.parsers.sources import classify
from collector.privacy import scrub_records
from store.records import Record

_STEP = 256 * 1024
# ``--clock cpu``: this thread's CPU time, which other processes' load moves far less than the
# wall clock on a shared machine (the benchmark is single-threaded: nothing is left out).
CLOCK = [time.perf_counter]


def load(corpus: Path) -> list[tuple[str, list[bytes]]]:
    root = corpus / "projects"
    files = []
    for path in sorted(root.rglob("*.jsonl")):
        files.append((str(path), [line for line in path.read_bytes().split(b"\n") if line]))
    return files


def time_orjson(files: list[tuple[str, list[bytes]]]) -> float:
    loads = orjson.loads
    start = CLOCK[0]()
    for _, lines in files:
        for line in lines:
            loads(line)
    return CLOCK[0]() - start


SCRUB = [0.0]


def _keep(chunk: list[Record]) -> None:
    """What the run without redaction does with a chunk: nothing (the writer takes it)."""


def _scrub(chunk: list[Record]) -> None:
    start = CLOCK[0]()
    scrub_records(chunk)
    SCRUB[0] += CLOCK[0]() - start


def time_parsers(
    files: list[tuple[str, list[bytes]]], root: str, chunks: Callable[[list[Record]], None] | None
) -> tuple[float, int, float]:
    """Parse every line with a fresh parser per file. ``chunks``: also gather each read
    step's records into one list as the reader does (a backlog step is 256 KiB) and hand it
    to ``chunks`` (``_keep`` or ``_scrub``), so those two runs differ by the scrubbing alone;
    None: the parsers alone (their ratio to orjson). Returns the wall time, the records, and
    the process's CPU time (which other processes on a shared machine do not inflate)."""
    records = 0
    cpu = time.process_time()
    start = CLOCK[0]()
    for path, lines in files:
        source = classify("claude-code", root, path)
        assert source is not None
        parser = make_parser(source)
        offset = chunk_start = 0
        if chunks is None:
            for line in lines:
                records += len(parser.parse_line(line, offset))
                offset += len(line) + 1
            continue
        chunk: list[Record] = []
        for line in lines:
            parsed = parser.parse_line(line, offset)
            records += len(parsed)
            offset += len(line) + 1
            chunk.extend(parsed)
            if offset - chunk_start >= _STEP:
                chunks(chunk)
                chunk, chunk_start = [], offset
        if chunk:
            chunks(chunk)
    return CLOCK[0]() - start, records, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description="parser throughput vs orjson.loads")
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    args = parser.parse_args()
    CLOCK[0] = time.thread_time if args.clock == "cpu" else time.perf_counter
    files = load(args.corpus)
    n_lines = sum(len(lines) for _, lines in files)
    n_bytes = sum(len(line) + 1 for _, lines in files for line in lines)
    root = str(args.corpus / "projects")
    ours, base, ratios, redacted, costs, shares, cpu_costs = [], [], [], [], [], [], []
    records = 0
    for _ in range(args.reps):
        b = time_orjson(files)
        o, records, _ = time_parsers(files, root, None)
        k, _, k_cpu = time_parsers(files, root, _keep)
        SCRUB[0] = 0.0
        r, _, r_cpu = time_parsers(files, root, _scrub)
        cpu_costs.append(1 - k_cpu / r_cpu)
        shares.append(SCRUB[0] / r)
        base.append(b)
        ours.append(o)
        redacted.append(r)
        ratios.append(b / o)
        costs.append(1 - k / r)
        print(f"rep: orjson {n_lines / b:,.0f} lines/s, parsers {n_lines / o:,.0f} lines/s, "
              f"ratio {b / o:.2f}", file=sys.stderr)  # fmt: skip
    o, b = statistics.median(ours), statistics.median(base)
    print(
        f"parsers: {n_lines / o:,.0f} lines/s {n_bytes / o / 1e6:.1f} MB/s; "
        f"orjson.loads: {n_lines / b:,.0f} lines/s {n_bytes / b / 1e6:.1f} MB/s; "
        f"ratio {statistics.median(ratios):.2f} (median of {args.reps}; {n_lines:,} lines, "
        f"{n_bytes / 1e6:.1f} MB, {records:,} records)"
    )
    r = statistics.median(redacted)
    print(f"parsers + redaction: {n_lines / r:,.0f} lines/s; redaction costs "
          f"{statistics.median(costs):.1%} of parse throughput (median of {args.reps}; "
          "budget 10 %); scrubbing's share of the redacting run's time "
          f"{statistics.median(shares):.1%}; the cost on CPU time "
          f"{statistics.median(cpu_costs):.1%}")  # fmt: skip


if __name__ == "__main__":
    main()
