#!/usr/bin/env python3
"""Run a console script under ``tracemalloc`` and dump the heap's top entries on SIGUSR1.

Used by ``bench/bench_idle.py --heap`` as the daemon's wrapper: ``heap_probe.py OUT SCRIPT
ARGS...`` traces every allocation (one frame each: attribution by source line) and, on
SIGUSR1, writes the ``--top`` entries by size and the traced total to OUT. Tracing costs memory
and time of its own, so RSS figures come from runs without it.
"""

from __future__ import annotations

import os
import runpy
import signal
import sys
import tracemalloc
from types import FrameType

_TOP = int(os.environ.get("HEAP_PROBE_TOP", "20"))
# HEAP_PROBE_MALLOC=1: no tracing; SIGUSR1 writes pymalloc's own statistics instead (arenas,
# and per size class the pools and blocks in use): what the ingest left fragmented.
_MALLOC_STATS = os.environ.get("HEAP_PROBE_MALLOC") == "1"


def _dump_malloc_stats(out: str) -> None:
    tmp = out + ".tmp"
    with open(tmp, "w") as handle:
        saved = os.dup(2)
        os.dup2(handle.fileno(), 2)  # _debugmallocstats writes to the C stderr
        try:
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    os.replace(tmp, out)


def _dump(out: str) -> None:
    snapshot = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(False, tracemalloc.__file__)]
    )
    stats = snapshot.statistics("lineno")
    total = sum(s.size for s in stats)
    lines = [f"traced total {total / 1e6:.1f} MB in {sum(s.count for s in stats)} blocks"]
    for stat in stats[:_TOP]:
        frame = stat.traceback[0]
        lines.append(f"{stat.size / 1e6:7.2f} MB {stat.count:8d} blocks  "
                     f"{frame.filename}:{frame.lineno}")  # fmt: skip
    tmp = out + ".tmp"
    with open(tmp, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    os.replace(tmp, out)


def main() -> None:
    out, script, *args = sys.argv[1:]
    if not _MALLOC_STATS:
        tracemalloc.start(1)

    def on_usr1(_signum: int, _frame: FrameType | None) -> None:
        (_dump_malloc_stats if _MALLOC_STATS else _dump)(out)

    signal.signal(signal.SIGUSR1, on_usr1)
    sys.argv = [script, *args]
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
