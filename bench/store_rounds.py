#!/usr/bin/env python3
"""Issue 16's store figure: alternating rounds of the seed original's store and ours.

Each round runs ``../shared/bench/seed_store_bench.js`` (the anchor) and then every given
variant of ``bench_store.py --workload seed``, on the same machine one after the other, and
prints each variant's median and mean ms per batch as ratios to the seed's in that round; at
the end, the medians over the rounds. The seed prints its batch times; ours print theirs (or,
for an older ``bench_store.py``, its median and mean).

    NODE_PATH=/tmp/seedjs/node_modules python bench/store_rounds.py --rounds 6 \\
        [--seed-script ../shared/bench/seed_store_bench.js] \\
        after=bench/bench_store.py:daemon auto=bench/bench_store.py:auto \\
        before=/tmp/old_tree/bench/bench_store.py:auto

Each variant is ``NAME=SCRIPT:CHECKPOINT`` (``daemon``, ``auto`` or ``idle``, see
``bench_store.py``); a script runs with this interpreter and imports the tree it sits in.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


def seed(script: str, db: Path, rows: int, batches: int) -> tuple[float, float]:
    """The seed's median and mean ms per batch."""
    out = subprocess.run(["node", script, str(db), str(rows), str(batches)],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    times = json.loads(out)["times"]
    return statistics.median(times), statistics.mean(times)


def ours(script: str, mode: str, rows: int, batches: int) -> tuple[float, float]:
    """A ``bench_store.py``'s median and mean ms per batch."""
    command = [sys.executable, script, "--workload", "seed", "--existing", str(rows),
               "--batches", str(batches), "--checkpoint", mode]  # fmt: skip
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    first = out.splitlines()[0]
    if first.startswith("ms per batch"):
        times = [float(x) for x in first.split(":", 1)[1].split()]
        return statistics.median(times), statistics.mean(times)
    found = re.search(r"median ([0-9.]+) ms, mean ([0-9.]+) ms", out)
    assert found, out
    return float(found.group(1)), float(found.group(2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variants", nargs="+", help="NAME=SCRIPT:CHECKPOINT")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--existing", type=int, default=300_000)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--seed-script", default="../shared/bench/seed_store_bench.js")
    args = parser.parse_args()
    variants = [(name, *spec.rsplit(":", 1)) for name, spec in
                (v.split("=", 1) for v in args.variants)]  # fmt: skip
    results: dict[str, list[tuple[float, float]]] = {"seed": []}
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(args.rounds):
            results["seed"].append(
                seed(args.seed_script, Path(tmp) / "seed.db", args.existing, args.batches)
            )
            sm, sa = results["seed"][-1]
            line = f"round {n + 1} (load {os.getloadavg()[0]:.1f}): seed {sm:.1f}/{sa:.1f} ms"
            for name, script, mode in variants:
                m, a = ours(script, mode, args.existing, args.batches)
                results.setdefault(name, []).append((m, a))
                line += f" | {name} {m:.1f}/{a:.1f} = {m / sm:.2f}/{a / sa:.2f}"
            print(line, flush=True)
    summary(results)


def summary(results: dict[str, list[tuple[float, float]]]) -> None:
    """Medians over the rounds, and each round's ratios (median/median, mean/mean)."""
    anchor = results.pop("seed")
    sm = statistics.median(m for m, _ in anchor)
    sa = statistics.median(a for _, a in anchor)
    print(f"seed: median {sm:.1f} ms, mean {sa:.1f} ms (medians over the rounds)")
    for name, runs in results.items():
        m = statistics.median(x for x, _ in runs)
        a = statistics.median(y for _, y in runs)
        by_median = " ".join(f"{x / s:.2f}" for (x, _), (s, _) in zip(runs, anchor, strict=True))
        by_mean = " ".join(f"{y / s:.2f}" for (_, y), (_, s) in zip(runs, anchor, strict=True))
        print(f"{name}: median {m:.1f} ms = {m / sm:.2f} x, mean {a:.1f} ms = {a / sa:.2f} x; "
              f"per round: medians {by_median}; means {by_mean}")  # fmt: skip


if __name__ == "__main__":
    main()
