#!/usr/bin/env python3
"""Usage-report benchmark: ``usage daily`` and ``usage session`` over a store of about
1,000,000 events (200,000 usage rows, 2,000 sessions), against ``ccusage daily --json`` on
the transcripts the store was built from.

    python bench/bench_usage.py DIR [--sessions 2000] [--exchanges 100] [--reps 7]
        [--ccusage PATH] [--ccusage-reps 3]

DIR receives ``home/.claude/projects`` (Claude Code transcripts written here, reproducibly:
2,000 sessions × 100 exchanges; each exchange is a prompt, an assistant answer whose message
carries usage, two tool calls in the same message and their results — five events, one of
them a usage row) and the store ``run --once`` makes of them; both are reused when present.
Models and cache kinds vary (Sonnet 4.5, Opus 4.5, Haiku 4.5; 5-minute and 1-hour writes;
prompts either side of the 200k tier).

Timed, medians of ``--reps`` runs after one warm-up: ``build_usage`` in-process (what
``usage`` and the dashboard's ``/api/usage`` run), and the whole command as a subprocess
(interpreter start and imports included). Then ``ccusage daily --json --offline`` (installed
by .ci/run into .cache/ccusage, or ``--ccusage PATH``) on the same HOME, and the ratio.
Not a test: numbers depend on the machine; quote medians of several runs.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from collector.reports.usage import UsageQuery, build_usage

REPO = Path(__file__).resolve().parents[1]
MODELS = ("claude-sonnet-4-5-20250929", "claude-opus-4-5-20251101", "claude-haiku-4-5-20251001")
START = 1_760_000_000.0  # 2025-10-09


def stamp(seconds: float) -> str:
    whole = int(seconds)
    return (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{int(seconds % 1 * 1000):03d}Z"
    )


def write_session(path: Path, rng: random.Random, index: int, exchanges: int) -> None:
    sid = f"00000000-0000-4000-8000-{index:012d}"
    cwd = f"/home/user/src/project-{index % 40}"
    t = START + rng.uniform(0, 60 * 86400)
    model = MODELS[index % len(MODELS)]
    lines = []
    for n in range(exchanges):
        t += rng.uniform(5, 90)
        base = {
            "sessionId": sid,
            "cwd": cwd,
            "version": "2.0.76",
            "gitBranch": f"b{index % 7}",
            "isSidechain": False,
            "userType": "external",
        }
        lines.append(
            {
                **base,
                "type": "user",
                "uuid": f"u{index}-{n}",
                "timestamp": stamp(t),
                "message": {"role": "user", "content": f"step {n}: please continue"},
            }
        )
        prompt = rng.choice((2_000, 40_000, 150_000, 230_000))
        write = rng.randrange(0, 8_000)
        usage = {
            "input_tokens": rng.randrange(1, 50),
            "output_tokens": rng.randrange(10, 3_000),
            "cache_read_input_tokens": prompt,
            "cache_creation_input_tokens": write,
            "cache_creation": {
                "ephemeral_5m_input_tokens": write // 2,
                "ephemeral_1h_input_tokens": write - write // 2,
            },
        }
        message_id, request = f"msg_{index:05d}_{n:04d}", f"req_{index:05d}_{n:04d}"
        blocks = [{"type": "text", "text": "Working on it."}]
        blocks += [
            {
                "type": "tool_use",
                "id": f"toolu_{index}_{n}_{k}",
                "name": "Bash",
                "input": {"command": f"pytest -q tests/test_{k}.py"},
            }
            for k in range(2)
        ]
        for k, block in enumerate(blocks):
            t += 0.2
            lines.append(
                {
                    **base,
                    "type": "assistant",
                    "uuid": f"a{index}-{n}-{k}",
                    "timestamp": stamp(t),
                    "requestId": request,
                    "message": {
                        "id": message_id,
                        "type": "message",
                        "role": "assistant",
                        "model": model,
                        "content": [block],
                        "usage": usage,
                    },
                }
            )
        for k in range(2):
            t += rng.uniform(0.5, 5)
            lines.append(
                {
                    **base,
                    "type": "user",
                    "uuid": f"r{index}-{n}-{k}",
                    "timestamp": stamp(t),
                    "message": {
                        "role": "user",
                        "content": [
                            {
                                "type": "tool_result",
                                "tool_use_id": f"toolu_{index}_{n}_{k}",
                                "content": "ok",
                                "is_error": False,
                            }
                        ],
                    },
                }
            )
    path.write_text("".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines))


def build_corpus(home: Path, sessions: int, exchanges: int) -> None:
    projects = home / ".claude" / "projects"
    if projects.exists():
        return
    rng = random.Random(1)
    for index in range(sessions):
        folder = projects / f"-home-user-src-project-{index % 40}"
        folder.mkdir(parents=True, exist_ok=True)
        write_session(folder / f"00000000-0000-4000-8000-{index:012d}.jsonl", rng, index, exchanges)


def env_for(home: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("XDG_", "AGENT_VIZ")) and k not in ("CLAUDE_CONFIG_DIR", "CODEX_HOME")
    }
    env["HOME"] = str(home)
    return env


def median_ms(action: Callable[[], object], reps: int) -> tuple[float, float]:
    """Median wall and CPU milliseconds of ``reps`` runs after one warm-up. CPU time is this
    process's and its children's: on a shared, loaded machine it is what the work costs, where
    wall time also counts the waits for a core."""
    action()  # warm-up: page cache, imports, price list
    walls, cpus = [], []
    for _ in range(reps):
        wall, cpu = time.perf_counter(), _cpu()
        action()
        walls.append((time.perf_counter() - wall) * 1000)
        cpus.append((_cpu() - cpu) * 1000)
    return statistics.median(walls), statistics.median(cpus)


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", type=Path)
    parser.add_argument("--sessions", type=int, default=2000)
    parser.add_argument("--exchanges", type=int, default=100)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument(
        "--ccusage", type=Path, default=REPO / ".cache/ccusage/node_modules/.bin/ccusage"
    )
    parser.add_argument("--ccusage-reps", type=int, default=3)
    args = parser.parse_args()
    home = args.dir.resolve() / "home"
    database = home / ".local/share/agent-viz-monitor/events.db"
    build_corpus(home, args.sessions, args.exchanges)
    if not database.exists():
        started = time.perf_counter()
        cli = [sys.executable, "-m", "collector.cli"]
        subprocess.run([*cli, "run", "--once"], env=env_for(home), check=True, capture_output=True)
        print(f"ingest (run --once): {time.perf_counter() - started:.1f} s")
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
        events, usage, sessions = conn.execute(
            "SELECT COUNT(*), SUM(event_type = 'usage'), COUNT(DISTINCT session_id) FROM events"
        ).fetchone()
    size = sum(p.stat().st_size for p in (home / ".claude/projects").rglob("*.jsonl"))
    print(
        f"store: {events:,} events, {usage:,} usage rows, {sessions:,} sessions; "
        f"transcripts {size / 1e6:,.0f} MB"
    )
    results = {}
    for group in ("daily", "session"):
        query = UsageQuery(group=group)
        wall, cpu = median_ms(lambda q=query: build_usage(database, q), args.reps)
        results[group] = wall
        command = [sys.executable, "-m", "collector.cli", "usage", group, "--json"]
        command += ["--db", str(database)]
        whole = median_ms(
            lambda c=command: subprocess.run(c, env=env_for(home), check=True, capture_output=True),
            args.reps,
        )
        print(
            f"usage {group}: build_usage median {wall:.0f} ms wall, {cpu:.0f} ms CPU; "
            f"whole command median {whole[0]:.0f} ms wall, {whole[1]:.0f} ms CPU (of {args.reps})"
        )
    print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    if not args.ccusage.exists():
        print(f"ccusage not found at {args.ccusage}: no ratio (install: see .ci/run)")
        return
    ccusage = [str(args.ccusage), "daily", "--json", "--offline"]
    theirs, theirs_cpu = median_ms(
        lambda: subprocess.run(ccusage, env=env_for(home), check=True, capture_output=True),
        args.ccusage_reps,
    )
    print(
        f"ccusage daily --json --offline: median {theirs:.0f} ms wall, {theirs_cpu:.0f} ms CPU "
        f"(of {args.ccusage_reps}); usage daily (in-process) is {theirs / results['daily']:.1f}x "
        "faster in wall time"
    )


if __name__ == "__main__":
    main()
