#!/usr/bin/env python3
"""Hook benchmark: wall time of one ``agent-viz-monitor hook`` call, as Claude Code makes it.

Claude Code runs the hook through ``sh -c`` on every hook event and waits for it (a prompt waits
on ``UserPromptSubmit``), writing the event's JSON to its stdin and — as seen in practice — not
closing it; the hook stops reading once the bytes parse. This script does the same, interleaved
with the interpreter alone (``python -c pass``, same interpreter, same environment) so machine
noise hits both; goal: median ≤ 30 ms.

    python bench/bench_hook.py [--runs 15] [--rounds 3] [--command "SHELL COMMAND"]

The default command is what ``install-hooks`` writes (``python -P -m collector.hooks.hook_call
hook``). ``--command`` times another hook command line, e.g. an older tree for a before/after in
one invocation: ``--command "cd /tmp/old && exec /tmp/old/.venv/bin/agent-viz-monitor hook"``,
or the console script of older installed hooks (``--command ".venv/bin/agent-viz-monitor hook"``).

Bytecode: users' installs have it cached (pip compiles at install; an editable install writes
``__pycache__`` on first import). When ``PYTHONDONTWRITEBYTECODE`` is set here, the children
get it unset and ``PYTHONPYCACHEPREFIX`` pointed at a temporary folder, and one untimed run of
each command fills it, so every command is timed as users run it rather than compiling its
sources on each call (~10 ms of CPU).

Each round runs both commands ``--runs`` times alternately and takes their medians; the figure
to quote is the median over rounds. The spool goes to a temporary XDG data folder.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAYLOAD = {
    "session_id": "3f0e2b7a-1111-4222-8333-944455556666",
    "transcript_path": "/home/u/.claude/projects/-w-app/3f0e2b7a-1111-4222-8333-944455556666.jsonl",
    "cwd": "/w/app",
    "permission_mode": "default",
    "hook_event_name": "UserPromptSubmit",
    "prompt": "refactor the tailer so that a rename drains the descriptor first",
}


def _command() -> str:
    return shlex.join([sys.executable, "-P", "-m", "collector.hooks.hook_call", "hook"])


def once(command: str, env: dict[str, str], data: bytes) -> tuple[float, float]:
    """One run through ``sh -c``, stdin written and left open as Claude Code does: wall and CPU
    (user + system of the shell and the hook) seconds. CPU time is what a loaded machine
    disturbs least."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(["/bin/sh", "-c", command], stdin=subprocess.PIPE, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    assert proc.stdin is not None
    if data:
        proc.stdin.write(data)
        proc.stdin.flush()
    # A blocking wait: ``wait(timeout=...)`` polls with doubling sleeps (0.5, 1, 2 … 16 ms),
    # which rounded every exit between 16 and 32 ms up to ~32 ms. The timer is the safety net.
    guard = threading.Timer(30.0, proc.kill)
    guard.start()
    proc.wait()
    took = time.perf_counter() - start
    guard.cancel()
    proc.stdin.close()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - usage.ru_utime + after.ru_stime - usage.ru_stime
    return took, cpu


def _medians(runs: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description="hook start-up against the bare interpreter")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--command", help="the hook command line (default: this tree's)")
    args = parser.parse_args()
    hook, bare = args.command or _command(), shlex.join([sys.executable, "-c", "pass"])
    data = json.dumps(PAYLOAD).encode()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "HOME": tmp, "XDG_DATA_HOME": f"{tmp}/data",
               "XDG_CONFIG_HOME": f"{tmp}/config"}  # fmt: skip
        if env.pop("PYTHONDONTWRITEBYTECODE", None):
            env.setdefault("PYTHONPYCACHEPREFIX", f"{tmp}/pycache")
        once(hook, env, data)  # untimed: fills the bytecode cache
        once(bare, env, b"")
        rounds: list[tuple[float, float, float, float]] = []
        for _ in range(args.rounds):
            hook_runs = []
            bare_runs = []
            for _ in range(args.runs):
                hook_runs.append(once(hook, env, data))
                bare_runs.append(once(bare, env, b""))
            rounds.append(_medians(hook_runs) + _medians(bare_runs))
            print("round: hook {:.1f} ms (cpu {:.1f}), python -c pass {:.1f} ms (cpu {:.1f})"
                  .format(*(x * 1e3 for x in rounds[-1])), file=sys.stderr)  # fmt: skip
        spooled = len(list(Path(tmp).rglob("spool/*.json"))) - 1  # less the untimed run
    h, hc, b, bc = (statistics.median(r[i] for r in rounds) * 1e3 for i in range(4))
    print(f"hook: median {h:.1f} ms wall, {hc:.1f} ms CPU; python -c pass: {b:.1f} ms wall, "
          f"{bc:.1f} ms CPU; hook minus interpreter {h - b:.1f} ms wall, {hc - bc:.1f} ms CPU "
          f"(median of {args.rounds} rounds × {args.runs} runs; {spooled} spool records; "
          "goal ≤ 30 ms)")  # fmt: skip
    if spooled != args.rounds * args.runs:
        sys.exit(f"expected {args.rounds * args.runs} spool records, found {spooled}")


if __name__ == "__main__":
    main()
