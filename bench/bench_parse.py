#!/usr/bin/env python3
"""Parse benchmark: the parsers' lines/s and MB/s against ``orjson.loads`` alone.

Both run over the same lines of a ``../shared/bench/gen_corpus.py`` corpus, interleaved in the
same process, so machine noise hits both; the figure to quote is the ratio (issue 16's goal:
≥ 0.60, the whole parse within 1.67 × the JSON decoding alone; bench/README.md has the figures).

    ../shared/bench/gen_corpus.py /tmp/corpus --mb 50
    python bench/bench_parse.py /tmp/corpus [--reps 5] [--clock cpu]

Lines are read into memory first (file I/O is not what is measured). Each rep parses every
file with a fresh parser, as the daemon does on backfill.

Redaction's cost is quoted twice: on the corpus (Claude-style lines whose generator writes
``token = <word>``, a secret by our rules, into one line in seventy) and on the real fixture
transcripts of every agent (tests/fixtures/, each line through its own agent's parser), where
secrets are as rare as in a user's store.
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


# A transcript read into memory: its agent, the agent's root, its path, its lines.
Source = tuple[str, str, str, list[bytes]]
FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures"
FIXTURE_AGENTS = (("claude", "claude-code"), ("codex", "codex"), ("copilot", "copilot"),
                  ("gemini", "gemini"))  # fmt: skip


def load(root: Path, agent: str = "claude-code") -> list[Source]:
    files = []
    for path in sorted(root.rglob("*.jsonl")):
        lines = [line for line in path.read_bytes().split(b"\n") if line]
        if classify(agent, str(root), str(path)) is not None:
            files.append((agent, str(root), str(path), lines))
    return files


def load_fixtures() -> list[Source]:
    """Every agent's fixture transcripts, each to go through its own agent's parser."""
    return [f for folder, agent in FIXTURE_AGENTS for f in load(FIXTURES / folder, agent)]


def time_orjson(files: list[Source]) -> float:
    loads = orjson.loads
    start = CLOCK[0]()
    for _, _, _, lines in files:
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
    files: list[Source], chunks: Callable[[list[Record]], None] | None
) -> tuple[float, int, float]:
    """Parse every line with a fresh parser per file. ``chunks``: also gather each read
    step's records into one list as the reader does (a backlog step is 256 KiB) and hand it
    to ``chunks`` (``_keep`` or ``_scrub``), so those two runs differ by the scrubbing alone;
    None: the parsers alone (their ratio to orjson). Returns the wall time, the records, and
    the process's CPU time (which other processes on a shared machine do not inflate)."""
    records = 0
    cpu = time.process_time()
    start = CLOCK[0]()
    for agent, root, path, lines in files:
        source = classify(agent, root, path)
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


def redaction_cost(files: list[Source]) -> tuple[float, float, float, float]:
    """One rep of the with/without-redaction pair on ``files``: the wall time with redaction,
    the cost (wall, then CPU time), and scrubbing's share of the redacting run."""
    k, _, k_cpu = time_parsers(files, _keep)
    SCRUB[0] = 0.0
    r, _, r_cpu = time_parsers(files, _scrub)
    return r, 1 - k / r, 1 - k_cpu / r_cpu, SCRUB[0] / r


def report_redaction(
    label: str, n_lines: int, reps: list[tuple[float, float, float, float]]
) -> None:
    r, cost, cpu_cost, share = (statistics.median(column) for column in zip(*reps, strict=True))
    print(f"{label} parsers + redaction: {n_lines / r:,.0f} lines/s; redaction costs "
          f"{cost:.1%} of parse throughput (median of {len(reps)}; budget 10 %); scrubbing's "
          f"share of the redacting run's time {share:.1%}; the cost on CPU time "
          f"{cpu_cost:.1%}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description="parser throughput vs orjson.loads")
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    args = parser.parse_args()
    CLOCK[0] = time.thread_time if args.clock == "cpu" else time.perf_counter
    files = load(args.corpus / "projects")
    fixtures = load_fixtures()
    n_lines = sum(len(lines) for _, _, _, lines in files)
    n_bytes = sum(len(line) + 1 for _, _, _, lines in files for line in lines)
    ours, base, ratios, corpus_reps, fixture_reps = [], [], [], [], []
    records = 0
    for _ in range(args.reps):
        b = time_orjson(files)
        o, records, _ = time_parsers(files, None)
        corpus_reps.append(redaction_cost(files))
        fixture_reps.append(redaction_cost(fixtures))
        base.append(b)
        ours.append(o)
        ratios.append(b / o)
        print(f"rep: orjson {n_lines / b:,.0f} lines/s, parsers {n_lines / o:,.0f} lines/s, "
              f"ratio {b / o:.2f}", file=sys.stderr)  # fmt: skip
    o, b = statistics.median(ours), statistics.median(base)
    print(
        f"parsers: {n_lines / o:,.0f} lines/s {n_bytes / o / 1e6:.1f} MB/s; "
        f"orjson.loads: {n_lines / b:,.0f} lines/s {n_bytes / b / 1e6:.1f} MB/s; "
        f"ratio {statistics.median(ratios):.2f} (median of {args.reps}; {n_lines:,} lines, "
        f"{n_bytes / 1e6:.1f} MB, {records:,} records)"
    )
    report_redaction("corpus:", n_lines, corpus_reps)
    f_lines = sum(len(lines) for _, _, _, lines in fixtures)
    f_bytes = sum(len(line) + 1 for _, _, _, lines in fixtures for line in lines)
    report_redaction(
        f"fixtures ({len(fixtures)} transcripts of 4 agents, {f_lines:,} lines, "
        f"{f_bytes / 1e6:.1f} MB):",
        f_lines,
        fixture_reps,
    )


if __name__ == "__main__":
    main()
