"""The typed decoding of Claude tool result lines gives exactly the general decoder's records.

``collector.parsers.claude_decode`` skips what the parser does not read; these tests hold it to
the general path (``decode_line``): on every real fixture line (decoded typed whatever its size
or kind), on a table of the lines it must hand back, and on generated tool result lines.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector.parsers import claude as claude_module
from collector.parsers import claude_decode
from collector.parsers.claude import ClaudeParser
from collector.parsers.claude_decode import TYPED_MIN_BYTES, decode_typed
from collector.parsers.decode import decode_line
from collector.parsers.sources import SourceFile, classify
from store.records import ParseProblem, Record, ToolResult

ROOT = Path(__file__).resolve().parents[2] / "fixtures" / "claude"
FIXTURES = sorted(ROOT.rglob("*.jsonl"))
SOURCE = SourceFile("claude-code", "/p/s.jsonl", "claude-code:s")
Decoder = Callable[[bytes, int, str], Any]


def _forced(counter: list[int]) -> Decoder:
    """The typed path for every line it accepts (not only large tool results)."""

    def decode(line: bytes, offset: int, path: str) -> Any:
        obj = decode_typed(line)
        if obj is None:
            return decode_line(line, offset, path)
        counter[0] += 1
        return obj

    return decode


@contextmanager
def decoder(decode: Decoder) -> Iterator[None]:
    saved = claude_module.decode_claude_line
    claude_module.decode_claude_line = decode
    try:
        yield
    finally:
        claude_module.decode_claude_line = saved


def run(source: SourceFile, lines: list[bytes]) -> list[Any]:
    """Each line's records followed by the parser's state after it."""
    parser = ClaudeParser(source)
    out: list[Any] = []
    offset = 0
    for line in lines:
        out.append(parser.parse_line(line, offset))
        out.append(parser.state())
        offset += len(line) + 1
    return out


def general(source: SourceFile, lines: list[bytes]) -> list[Any]:
    with decoder(decode_line):
        return run(source, lines)


class TestFixtures:
    @pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
    def test_every_line_gives_the_general_records(self, path: Path) -> None:
        source = classify("claude-code", str(ROOT), str(path)) or SOURCE
        lines = [line for line in path.read_bytes().split(b"\n") if line]
        want = general(source, lines)
        typed = [0]
        with decoder(_forced(typed)):
            assert run(source, lines) == want
        assert run(source, lines) == want  # the default: typed for large tool results only
        users = sum(b'"type":"user"' in line for line in lines)
        assert typed[0] >= users // 2  # the typed path did decode (most user lines)

    def test_fixtures_hold_large_tool_results(self) -> None:
        """The default path is exercised by the real files, not only by forcing."""
        large = [
            line
            for path in FIXTURES
            for line in path.read_bytes().split(b"\n")
            if len(line) >= TYPED_MIN_BYTES and b'"tool_result"' in line
        ]
        assert len(large) > 50
        assert sum(decode_typed(line) is not None for line in large) > 50


def tool_result_line(detail: Any = None, content: Any = "out", **extra: Any) -> dict[str, Any]:
    block = {"type": "tool_result", "tool_use_id": "toolu_1", "content": content}
    line: dict[str, Any] = {
        "type": "user",
        "uuid": "u-1",
        "timestamp": "2026-01-14T19:20:13.501Z",
        "sessionId": "s",
        "cwd": "/w",
        "message": {"role": "user", "content": [block]},
        "filler": "x" * TYPED_MIN_BYTES,
    }
    if detail is not None:
        line["toolUseResult"] = detail
    line.update(extra)
    return line


def encode(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode("utf-8", "surrogatepass")


FALLBACK = {
    "invalid UTF-8 in a skipped field": encode(tool_result_line(stdout="§")).replace(
        "§".encode(), b"\xff"
    ),
    "invalid UTF-8 in the kept content": encode(tool_result_line(content="§")).replace(
        "§".encode(), b"\xc3("
    ),
    "lone surrogate in a skipped field": encode(tool_result_line(stdout="a\udcb2b")).replace(
        b"a\xed\xb2\xb2b", b"a\\udcb2b"
    ),
    "NaN": encode(tool_result_line({"durationMs": float("nan")})),
    "exit code beyond 64 bits": encode(tool_result_line({"exitCode": 2**64})),
    "cwd not a string": encode(tool_result_line(cwd=7)),
    "tool result a number": encode(tool_result_line(5)),
    "content a dict": encode(tool_result_line(message={"content": {"type": "tool_result"}})),
    "block not an object": encode(
        tool_result_line(message={"content": ["x", {"type": "tool_result"}]})
    ),
    "assistant line": encode(tool_result_line(type="assistant")),
    "progress line": encode(tool_result_line(type="progress")),
    "truncated": encode(tool_result_line())[:-3],
    "raw control character": encode(tool_result_line(stdout="a\x01b")).replace(b"\\u0001", b"\x01"),
    "not an object": b"[" + encode(tool_result_line()) + b"]",
}


class TestFallback:
    @pytest.mark.parametrize("line", FALLBACK.values(), ids=FALLBACK.keys())
    def test_hands_back_and_records_stay_the_same(self, line: bytes) -> None:
        assert len(line) >= TYPED_MIN_BYTES
        assert b'"tool_result"' in line
        assert decode_typed(line) is None
        assert run(SOURCE, [line]) == general(SOURCE, [line])

    @pytest.mark.parametrize(
        ("line", "reason"),
        [
            (FALLBACK["invalid UTF-8 in a skipped field"], "invalid UTF-8"),
            (FALLBACK["raw control character"], "invalid JSON"),
            (FALLBACK["truncated"], "invalid JSON"),
        ],
    )
    def test_bad_lines_stay_problems(self, line: bytes, reason: str) -> None:
        (problem,) = run(SOURCE, [line])[0]
        assert isinstance(problem, ParseProblem)
        assert problem.reason.startswith(reason)

    def test_typed_line_keeps_its_records(self) -> None:
        """A large, valid tool result goes the typed way and gives the same result."""
        detail = {"stdout": "é" * 3000, "stderr": "", "interrupted": False, "durationMs": 12}
        line = encode(tool_result_line(detail, content="Exit code 3\nno"))
        typed = decode_typed(line)
        assert typed is not None
        assert "filler" not in typed
        records = run(SOURCE, [line])
        assert records == general(SOURCE, [line])
        (result,) = [r for r in records[0] if isinstance(r, ToolResult)]
        assert (result.status, result.duration_ms, result.exit_code) == ("success", 12, 0)

    def test_failed_command_reads_the_kept_content(self) -> None:
        blocks = [{"type": "text", "text": "Exit code 7\nboom"}]
        obj = tool_result_line("Error: Exit code 7", content=blocks)
        obj["message"]["content"][0]["is_error"] = True
        line = encode(obj)
        records = run(SOURCE, [line])
        assert records == general(SOURCE, [line])
        (result,) = [r for r in records[0] if isinstance(r, ToolResult)]
        assert (result.status, result.exit_code) == ("error", 7)

    @pytest.mark.parametrize(
        ("is_error", "content", "outcome"),
        [
            (True, "Exit code 2\nno such file", ("error", 2)),
            (True, "File does not exist.", ("error", None)),
            (False, "Exit code 2", ("success", None)),
            ("yes", "Exit code 2", ("success", None)),
        ],
    )
    def test_result_object_pruned_to_nothing(
        self, is_error: object, content: str, outcome: tuple[str, int | None]
    ) -> None:
        """A file tool's result object holds none of the keys the typed path keeps: only the
        block tells the outcome, as on the general path (which sees the whole object)."""
        detail = {"type": "text", "file": {"filePath": "/w/a", "content": "é" * 3000}}
        obj = tool_result_line(detail, content=content)
        obj["message"]["content"][0]["is_error"] = is_error
        line = encode(obj)
        assert decode_typed(line) is not None
        assert decode_typed(line)["toolUseResult"] == {}  # type: ignore[index]
        records = run(SOURCE, [line])
        assert records == general(SOURCE, [line])
        (result,) = [r for r in records[0] if isinstance(r, ToolResult)]
        assert (result.status, result.exit_code, result.duration_ms) == (*outcome, None)


_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
_DETAIL_KEYS = st.sampled_from(
    ["interrupted", "success", "durationMs", "totalDurationMs", "duration_ms", "durationSeconds",
     "exitCode", "stdout", "returnCodeInterpretation", "backgroundTaskId", "agentId", "other"]
)  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    detail=st.none() | _VALUES | st.dictionaries(_DETAIL_KEYS, _VALUES, max_size=6),
    content=_VALUES,
    is_error=_VALUES,
    text=st.text(max_size=40),
    ascii_only=st.booleans(),
    bad_byte=st.none() | st.integers(min_value=0, max_value=3000),
)
def test_generated_tool_results_match_the_general_path(  # noqa: PLR0917 (hypothesis)
    detail: Any, content: Any, is_error: Any, text: str, ascii_only: bool, bad_byte: int | None
) -> None:
    obj = tool_result_line(detail, content=content, note=text)
    obj["message"]["content"][0]["is_error"] = is_error
    line = json.dumps(obj, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    if bad_byte is not None:  # an invalid byte somewhere (it may land in a skipped string)
        at = bad_byte % len(line)
        line = line[:at] + b"\xfe" + line[at + 1 :]
    got: list[Record] = run(SOURCE, [line])
    assert got == general(SOURCE, [line])


def test_default_decoder_is_the_router() -> None:
    assert claude_module.decode_claude_line is claude_decode.decode_claude_line
