"""Decoding Claude Code lines, with a typed fast path for large tool results.

A tool result line (``user`` with ``tool_result`` blocks) is mostly the tool's output, in the
block's ``content`` and again, in the tool's own form, in ``toolUseResult`` (stdout, the file
read, the edited file and its patch). The parser reads a few small fields of it, yet
``orjson`` builds every string. msgspec decodes the line into the ``dict`` the general decoder
gives, pruned to the keys ``collector.parsers.claude`` reads (TypedDicts below): it skips the
output instead of building it, and keeps the block's ``content`` as ``msgspec.Raw`` (read only
for a failed command's ``Exit code N``). On the benchmark corpus that decodes such lines in
~0.8 × the time, more for larger ones (bench/README.md, "Parse, redaction and hook").

The records must be the same as the general path's, so the typed path gives up (returns None,
and ``decode_line`` runs) on anything it cannot decode alike:

- invalid UTF-8 anywhere: msgspec does not check the bytes it skips, so a line that is not ASCII
  is decoded by ``bytes.decode`` first (the general path makes such a line a ``ParseProblem``);
- anything msgspec refuses: invalid JSON (it checks the syntax, escapes and control characters of
  what it skips), lone surrogates (the general path cleans those), a value of another type
  than declared (``msgspec.ValidationError``), an ``exitCode`` beyond 64 bits (orjson gives a
  float there, msgspec an int);
- any line not of type ``user``: assistant, system and the rest read keys not declared here,
  and gain nothing (their text is decoded either way).

Lines shorter than ``TYPED_MIN_BYTES`` go the general way at once: below it the typed path saves
nothing (tests/collector/parsers/test_claude_decode.py checks both paths agree on every fixture).
"""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

import msgspec
import orjson

from collector.parsers.decode import decode_line
from store.records import ParseProblem

__all__ = ["TYPED_MIN_BYTES", "decode_claude_line", "decode_typed", "raw_value"]

TYPED_MIN_BYTES = 2048
_TOOL_RESULT = b'"tool_result"'
_LOOK_BYTES = 1024

# orjson gives a float for an integer beyond 64 bits, msgspec an int: such values go the
# general way where the handlers would tell them apart (an int exit code is kept, a float not)
_Code = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)] | float | str | bool | None


class _Block(TypedDict, total=False):
    type: Any
    text: Any
    tool_use_id: Any
    is_error: Any
    content: msgspec.Raw  # a tool's output: read only for a failed command's exit code


class _Message(TypedDict, total=False):
    content: str | list[_Block] | None


class _Detail(TypedDict, total=False):
    """``toolUseResult``: what ``_result_status``, ``_duration_ms`` and ``_exit_code`` read."""

    interrupted: Any
    success: Any
    durationMs: Any
    totalDurationMs: Any
    duration_ms: Any
    durationSeconds: Any
    exitCode: _Code
    stdout: msgspec.Raw  # its presence only
    returnCodeInterpretation: Any
    backgroundTaskId: Any
    agentId: Any


class _UserLine(TypedDict, total=False):
    type: str
    timestamp: str | None
    cwd: str | None
    gitBranch: str | None
    version: str | None
    sessionId: str | None
    isSidechain: bool | None
    uuid: str | None
    isMeta: bool | None
    isCompactSummary: bool | None
    message: _Message | None
    toolUseResult: _Detail | str | list[msgspec.Raw] | None


_DECODER = msgspec.json.Decoder(_UserLine)


def decode_claude_line(line: bytes, offset: int, path: str) -> dict[str, Any] | ParseProblem:
    """The line's JSON object (typed when it is a large tool result), or a ``ParseProblem``.

    Claude Code writes a tool result block's ``type`` before its content, near the start of
    the line, so only the first ``_LOOK_BYTES`` are searched: a large assistant line (a long
    answer, a file written) is not scanned to its end for nothing. A result announced later
    still decodes alike, the general way. The usual line takes ``orjson`` directly;
    ``decode_line`` says why one fails.
    """
    if len(line) >= TYPED_MIN_BYTES and line.find(_TOOL_RESULT, 0, _LOOK_BYTES) >= 0:
        obj = decode_typed(line)
        if obj is not None:
            return obj
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        return decode_line(line, offset, path)
    return value if type(value) is dict else decode_line(line, offset, path)


def decode_typed(line: bytes) -> dict[str, Any] | None:
    """The pruned object of a ``user`` line, or None when the general decoder must decide."""
    if not line.isascii():
        try:
            line.decode()
        except UnicodeDecodeError:
            return None
    try:
        obj: dict[str, Any] = _DECODER.decode(line)  # type: ignore[assignment]
    except Exception:  # any refusal (DecodeError, ValidationError, nesting): the general way
        return None
    return obj if obj.get("type") == "user" else None


def raw_value(value: msgspec.Raw) -> Any:
    """A ``Raw`` the typed path kept, decoded as the general decoder would (valid JSON and
    UTF-8: both were checked before)."""
    return orjson.loads(memoryview(value))
