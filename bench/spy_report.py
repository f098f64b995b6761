"""Summaries of profiles for the benchmarks: py-spy's collapsed stacks, shortened paths.

Not a benchmark itself. ``py-spy record --format raw`` writes one line per distinct stack,
``frame;frame;…;leaf COUNT``, each frame ``function (path:line)``. From that this module prints
the functions with the most *own* samples (the leaf: time in that function's code, including C
calls it makes, e.g. ``executemany``) and the most *cumulative* samples (anywhere on the stack),
overall and per daemon thread, the thread being recognised by its ``_run`` frame.
"""

from __future__ import annotations

import collections
import os
from pathlib import Path

__all__ = ["print_collapsed", "short_path"]

PROJECT = Path(__file__).resolve().parents[1]
Stack = tuple[list[str], int]


def print_collapsed(
    path: Path, top: int, threads: tuple[str, ...] = ("reader", "writer", "main")
) -> None:
    """Print the top ``top`` functions overall and for each of ``threads``."""
    samples = _read_collapsed(path)
    _print_spy(samples, "all threads", top)
    for thread in threads:
        _print_spy([(s, n) for s, n in samples if _thread_of(s) == thread], thread, top)


def short_path(file: str) -> str:
    """A path relative to the project or to the standard library / site-packages."""
    for marker in ("/site-packages/", "/lib/python3."):
        if marker in file:
            return file.split(marker, 1)[1]
    return os.path.relpath(file, PROJECT) if file.startswith(str(PROJECT)) else file


def _read_collapsed(path: Path) -> list[tuple[list[str], int]]:
    samples = []
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            samples.append((stack.split(";"), int(count)))
    return samples


def _thread_of(stack: list[str]) -> str:
    for frame in stack:
        func = frame.split(" (", 1)[0]
        if func == "_run" or func.endswith("._run"):
            if "reader.py" in frame:
                return "reader"
            if "writer.py" in frame:
                return "writer"
    return "main" if any("daemon.py" in f for f in stack) else "other"


def _print_spy(samples: list[tuple[list[str], int]], label: str, top: int) -> None:
    total = sum(n for _, n in samples)
    if not total:
        return
    own: collections.Counter[str] = collections.Counter()
    cum: collections.Counter[str] = collections.Counter()
    for stack, n in samples:
        frames = [_frame(f) for f in stack]
        own[frames[-1]] += n
        for frame in set(frames):
            cum[frame] += n
    for title, counter in (("cumulative", cum), ("own", own)):
        print(f"\n-- py-spy {label}: top {top} by {title} time ({total} samples) --")
        for frame, n in counter.most_common(top):
            print(f"{100 * n / total:6.1f} %  {frame}")


def _frame(frame: str) -> str:
    """``func (path:line)`` without the line number, path shortened."""
    func, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    return f"{func} ({short_path(path)})"
