#!/usr/bin/env python3
"""A/B: msgspec typed decoding of Claude Code lines against the parser's general decoder.

Not part of the product: msgspec is not a dependency (``pip install msgspec`` to run this).
The typed decoder here decodes a line into the ``dict`` the general decoder gives, pruned to
the keys ``collector.parsers.claude`` reads (msgspec skips the rest: tool outputs, file
contents, signatures), so the Claude handlers run unchanged on it. Three ways of parsing the
same lines are timed, interleaved, in CPU time of this thread (other processes' load moves
it far less than wall time), beside ``orjson.loads`` alone:

- ``general``: the parser as it is.
- ``typed, exact``: typed decoding, with the line's UTF-8 checked first when it is not ASCII.
  msgspec does not check the bytes it skips, and the general path turns a line with invalid
  UTF-8 anywhere into a ``ParseProblem`` (tests/collector/parsers/test_claude.py pins it).
- ``typed, unchecked``: the same without that check: the records of a line whose *unread*
  bytes are not UTF-8 would change (kept instead of a problem); every other line parses alike.

``--verify`` first checks, line by line, that both typed variants give the records the
general path gives, on the corpus and on every Claude fixture (``tests/fixtures/claude``).

    python bench/ab_typed_decode.py /tmp/pp_corpus --reps 7 --verify
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypedDict

import msgspec
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from collector.parsers import claude, make_parser
from collector.parsers.decode import decode_line
from collector.parsers.sources import SourceFile, classify
from store.records import Record

# orjson gives a float for an integer beyond 64 bits, msgspec an int: such lines go the general way
_Count = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)] | float | None
# line types whose handlers read keys not declared below
_GENERAL_TYPES = frozenset({"system", "progress", "attachment", "custom-title", "ai-title"})


class _Usage(TypedDict, total=False):
    input_tokens: _Count
    output_tokens: _Count
    cache_read_input_tokens: _Count
    cache_creation_input_tokens: _Count
    cache_creation: Any


class _Block(TypedDict, total=False):
    type: Any
    text: Any
    thinking: Any
    id: Any
    name: Any
    input: msgspec.Raw  # decoded by orjson: it is dumped again, every value must match
    tool_use_id: Any
    is_error: Any
    content: msgspec.Raw  # a tool's output: read only for a failed command's exit code


class _Message(TypedDict, total=False):
    model: str | None
    id: str | None
    usage: _Usage | None
    content: str | list[_Block] | None


class _Detail(TypedDict, total=False):
    interrupted: Any
    success: Any
    durationMs: Any
    totalDurationMs: Any
    duration_ms: Any
    durationSeconds: Any
    exitCode: _Count | str | bool
    stdout: msgspec.Raw  # presence only
    returnCodeInterpretation: Any
    backgroundTaskId: Any
    agentId: Any


class _Line(TypedDict, total=False):
    type: str
    timestamp: str | None
    cwd: str | None
    gitBranch: str | None
    version: str | None
    sessionId: str | None
    isSidechain: bool | None
    uuid: str | None
    requestId: str | None
    isMeta: bool | None
    isCompactSummary: bool | None
    isApiErrorMessage: bool | None
    error: Any
    message: _Message | None
    toolUseResult: _Detail | str | list[msgspec.Raw] | None


_LINE = msgspec.json.Decoder(_Line)


def typed(line: bytes, check_utf8: bool) -> dict[str, Any] | None:
    """The pruned object, or None for the general path."""
    if check_utf8 and not line.isascii():
        try:
            line.decode()
        except UnicodeDecodeError:
            return None
    try:
        obj: dict[str, Any] = _LINE.decode(line)  # type: ignore[assignment]
        if obj.get("type") in _GENERAL_TYPES:
            return None
        message = obj.get("message")
        content = message.get("content") if message is not None else None
        if type(content) is list and obj.get("type") == "assistant":
            for block in content:
                if "input" in block:
                    block["input"] = orjson.loads(memoryview(block["input"]))
    except Exception:
        return None
    return obj


def _raw_first_text(block: dict[str, Any]) -> str | None:
    content = block.get("content")
    if isinstance(content, msgspec.Raw):
        try:
            block = {"content": orjson.loads(memoryview(content))}
        except orjson.JSONDecodeError:
            return None
    return _FIRST_TEXT(block)


_FIRST_TEXT = claude._first_text


def use(variant: str) -> None:
    """Point the Claude parser at one decoder: general, exact or unchecked."""
    if variant == "general":
        claude.decode_line = decode_line
        claude._first_text = _FIRST_TEXT
        return
    check = variant == "exact"

    def decode(line: bytes, offset: int, path: str) -> Any:
        obj = typed(line, check)
        return decode_line(line, offset, path) if obj is None else obj

    claude.decode_line = decode
    claude._first_text = _raw_first_text


def load(corpus: Path) -> list[tuple[str, list[bytes]]]:
    return [
        (str(p), [line for line in p.read_bytes().split(b"\n") if line])
        for p in sorted((corpus / "projects").rglob("*.jsonl"))
    ]


def parse_all(files: list[tuple[str, list[bytes]]], source: Callable[[str], SourceFile]) -> float:
    start = time.thread_time()
    for path, lines in files:
        parser = make_parser(source(path))
        offset = 0
        for line in lines:
            parser.parse_line(line, offset)
            offset += len(line) + 1
    return time.thread_time() - start


def records(
    files: list[tuple[str, list[bytes]]], source: Callable[[str], SourceFile]
) -> list[Record]:
    out: list[Record] = []
    for path, lines in files:
        parser = make_parser(source(path))
        offset = 0
        for line in lines:
            out.extend(parser.parse_line(line, offset))
            out.append(parser.state())  # type: ignore[arg-type]
            offset += len(line) + 1
    return out


def verify(files: list[tuple[str, list[bytes]]], source: Callable[[str], SourceFile]) -> None:
    use("general")
    want = records(files, source)
    for variant in ("exact", "unchecked"):
        use(variant)
        got = records(files, source)
        print(f"verify {variant}: {'identical' if got == want else 'DIFFERENT'} "
              f"({len(want):,} records and states)")  # fmt: skip
    use("general")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--verify", action="store_true")
    args = parser.parse_args()
    files = load(args.corpus)
    root = str(args.corpus / "projects")

    def source(path: str) -> SourceFile:
        found = classify("claude-code", root, path)
        assert found is not None
        return found

    if args.verify:
        verify(files, source)
        fixtures = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "claude"
        fx = [(str(p), [ln for ln in p.read_bytes().split(b"\n") if ln])
              for p in sorted(fixtures.rglob("*.jsonl"))]  # fmt: skip
        verify(fx, lambda p: classify("claude-code", str(fixtures), p) or SourceFile(
            "claude-code", p, "claude-code:" + Path(p).stem))  # fmt: skip
    n = sum(len(lines) for _, lines in files)
    times: dict[str, list[float]] = {"orjson": [], "general": [], "exact": [], "unchecked": []}
    for _ in range(args.reps):
        start = time.thread_time()
        for _, lines in files:
            for line in lines:
                orjson.loads(line)
        times["orjson"].append(time.thread_time() - start)
        for variant in ("general", "exact", "unchecked"):
            use(variant)
            times[variant].append(parse_all(files, source))
    use("general")
    base = statistics.median(times["orjson"])
    for name, values in times.items():
        t = statistics.median(values)
        print(f"{name:10} {t / n * 1e6:6.2f} us/line  ratio {base / t:.3f}")
    print(f"(CPU time, median of {args.reps}; {n:,} lines)")


if __name__ == "__main__":
    main()
