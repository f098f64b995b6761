#!/usr/bin/env python3
"""A/B: the Claude parser's decoders, and what checking UTF-8 costs, on the same lines.

``collector.parsers.claude_decode`` decodes large tool result lines with msgspec (typed, the
tool's output skipped) and every other line with orjson. Four ways of parsing the same lines
are timed, interleaved, in CPU time of this thread (other processes' load moves it far less
than wall time), beside ``orjson.loads`` alone:

- ``general``: every line through ``decode_line`` (orjson), as before typed decoding.
- ``routed``: the parser as it is (typed for tool results of ``TYPED_MIN_BYTES`` or more).
- ``all typed``: typed decoding tried on every line (it gives up on any but ``user`` lines).
- ``unchecked``: ``routed`` without the UTF-8 check of non-ASCII lines. msgspec does not check
  the bytes it skips, and a line with invalid UTF-8 anywhere must stay a ``ParseProblem``
  (tests/collector/parsers/test_claude.py), so this variant is NOT exact: it shows what the
  check costs.

``--verify`` first checks, line by line, that each variant gives the records and parser states
the general path gives, on the corpus and on every Claude fixture (``tests/fixtures/claude``).
``--utf8`` times ways of checking the corpus's UTF-8: per line, and per 256 KiB read chunk as
the tailer reads (is one ``decode`` of a chunk cheaper than one per line?).

    python bench/ab_typed_decode.py /tmp/pp_corpus --reps 7 --verify --utf8
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from collector.parsers import claude, claude_decode, make_parser
from collector.parsers.decode import decode_line
from collector.parsers.sources import SourceFile, classify
from store.records import Record

_STEP = 256 * 1024
Files = list[tuple[str, list[bytes]]]


def _all_typed(line: bytes, offset: int, path: str) -> Any:
    obj = claude_decode.decode_typed(line)
    return decode_line(line, offset, path) if obj is None else obj


def _unchecked(line: bytes, offset: int, path: str) -> Any:
    """``decode_claude_line`` without the UTF-8 check (not exact: see the module's text)."""
    if len(line) >= claude_decode.TYPED_MIN_BYTES and line.find(b'"tool_result"', 0, 1024) >= 0:
        try:
            obj: dict[str, Any] = claude_decode._DECODER.decode(line)  # type: ignore[assignment]
        except Exception:
            obj = {}
        if obj.get("type") == "user":
            return obj
    return decode_line(line, offset, path)


VARIANTS: dict[str, Callable[[bytes, int, str], Any]] = {
    "general": decode_line,
    "routed": claude_decode.decode_claude_line,
    "all typed": _all_typed,
    "unchecked": _unchecked,
}


def use(variant: str) -> None:
    """Point the Claude parser at one decoder."""
    claude.decode_claude_line = VARIANTS[variant]  # type: ignore[assignment]


def load(root: Path) -> Files:
    return [
        (str(p), [line for line in p.read_bytes().split(b"\n") if line])
        for p in sorted(root.rglob("*.jsonl"))
    ]


def parse_all(files: Files, source: Callable[[str], SourceFile]) -> float:
    start = time.thread_time()
    for path, lines in files:
        parser = make_parser(source(path))
        offset = 0
        for line in lines:
            parser.parse_line(line, offset)
            offset += len(line) + 1
    return time.thread_time() - start


def records(files: Files, source: Callable[[str], SourceFile]) -> list[Record]:
    out: list[Record] = []
    for path, lines in files:
        parser = make_parser(source(path))
        offset = 0
        for line in lines:
            out.extend(parser.parse_line(line, offset))
            out.append(parser.state())  # type: ignore[arg-type]
            offset += len(line) + 1
    return out


def verify(label: str, files: Files, source: Callable[[str], SourceFile]) -> None:
    use("general")
    want = records(files, source)
    for variant in ("routed", "all typed", "unchecked"):
        use(variant)
        got = records(files, source)
        print(f"verify {label} {variant}: {'identical' if got == want else 'DIFFERENT'} "
              f"({len(want):,} records and states)")  # fmt: skip
    use("routed")


def utf8_costs(files: Files, reps: int) -> None:
    """CPU per line of checking UTF-8 per line (only lines not ASCII) and per read chunk."""
    lines = [line for _, ls in files for line in ls]
    chunks = [
        data[i : i + _STEP]
        for data in (b"\n".join(ls) + b"\n" for _, ls in files)
        for i in range(0, len(data), _STEP)
    ]

    def per_line() -> None:
        for line in lines:
            if not line.isascii():
                line.decode()

    def per_chunk() -> None:
        for chunk in chunks:  # "ignore": a chunk may end inside a character
            if not chunk.isascii():
                chunk.decode("utf-8", "ignore")

    for name, run in (("per line", per_line), ("per 256 KiB chunk", per_chunk)):
        times = []
        for _ in range(reps):
            start = time.thread_time()
            run()
            times.append(time.thread_time() - start)
        print(f"UTF-8 check {name:18} {statistics.median(times) / len(lines) * 1e6:6.2f} us/line")
    share = sum(not line.isascii() for line in lines) / len(lines)
    print(f"({share:.0%} of {len(lines):,} lines are not ASCII)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--verify", action="store_true")
    parser.add_argument("--utf8", action="store_true")
    args = parser.parse_args()
    files = load(args.corpus / "projects")
    root = str(args.corpus / "projects")

    def source(path: str) -> SourceFile:
        found = classify("claude-code", root, path)
        assert found is not None
        return found

    if args.verify:
        verify("corpus", files, source)
        fixtures = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "claude"
        verify("fixtures", load(fixtures), lambda p: classify("claude-code", str(fixtures), p)
               or SourceFile("claude-code", p, "claude-code:" + Path(p).stem))  # fmt: skip
    if args.utf8:
        utf8_costs(files, args.reps)
    n = sum(len(lines) for _, lines in files)
    times: dict[str, list[float]] = {"orjson": [], **{name: [] for name in VARIANTS}}
    for _ in range(args.reps):
        start = time.thread_time()
        for _, lines in files:
            for line in lines:
                orjson.loads(line)
        times["orjson"].append(time.thread_time() - start)
        for variant in VARIANTS:
            use(variant)
            times[variant].append(parse_all(files, source))
    use("routed")
    base = statistics.median(times["orjson"])
    for name, values in times.items():
        t = statistics.median(values)
        print(f"{name:10} {t / n * 1e6:6.2f} us/line  ratio {base / t:.3f}")
    print(f"(CPU time, median of {args.reps}; {n:,} lines)")


if __name__ == "__main__":
    main()
