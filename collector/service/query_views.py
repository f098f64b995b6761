"""What the query commands' tables show: the columns of each, and each row's human cells.

``--json`` and ``--jsonl`` carry every stored column unchanged; the tables pick a few and make
them readable: local times, durations with units, token counts, a message's preview, the one
detail that says what an event did (its command, file, tokens or text).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from collector.table import Column, format_count, format_duration, format_percent

__all__ = ["COLUMNS", "event_detail", "event_line", "local_time", "shape_rows"]

Row = dict[str, Any]


def local_time(stamp: Any) -> str:
    """A stored UTC timestamp as local ``YYYY-MM-DD HH:MM:SS`` ("" for None)."""
    if not isinstance(stamp, str) or not stamp:
        return ""
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return stamp
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _span(row: Row) -> int | None:
    """Milliseconds from a session's start to its last activity."""
    try:
        start = datetime.fromisoformat(str(row["started_at"]).replace("Z", "+00:00"))
        end = datetime.fromisoformat(str(row["last_activity"]).replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return None
    return max(0, int((end - start).total_seconds() * 1000))


COLUMNS: dict[str, tuple[Column, ...]] = {
    "sessions": (
        Column("id", justify="right"), Column("agent"), Column("status"),
        Column("started", fmt=local_time, drop=3),
        Column("last_activity", "last activity", local_time),
        Column("span", fmt=format_duration, justify="right", drop=2),
        Column("project_dir", "project", shrink="path", min_width=12),
        Column("git_branch", "branch", shrink="text", drop=1),
        Column("title", shrink="text", min_width=12),
    ),
    "events": (
        Column("id", justify="right", drop=4), Column("time"),
        Column("session_id", "session", justify="right"), Column("event_type", "type"),
        Column("tool_name", "tool", shrink="text"), Column("status", drop=2),
        Column("duration_ms", "took", format_duration, "right", drop=1),
        Column("exit_code", "exit", justify="right", drop=3),
        Column("detail", shrink="text", min_width=16),
    ),
    "files": (
        Column("session_id", "session", justify="right"),
        Column("file_path", "file", shrink="path", min_width=16),
        Column("total_operations", "ops", justify="right"),
        Column("reads", justify="right", drop=2), Column("writes", justify="right", drop=3),
        Column("edits", justify="right", drop=4), Column("deletes", justify="right", drop=5),
        Column("last_modified", "last modified", local_time, drop=1),
    ),
    "commands": (
        Column("session_id", "session", justify="right"), Column("command_category", "category"),
        Column("count", justify="right"), Column("failures", justify="right"),
        Column("failure_rate", "fail %", format_percent, "right"),
        Column("avg_duration", "avg", format_duration, "right", drop=2),
        Column("p50_ms", "p50", format_duration, "right"),
        Column("p95_ms", "p95", format_duration, "right"),
        Column("last_execution", "last run", local_time, drop=1),
    ),
}  # fmt: skip


def shape_rows(command: str, rows: Sequence[Row]) -> list[Row]:
    """Rows with the computed cells their table shows (``time``, ``span``, ``detail``)."""
    if command == "events":
        return [{**row, "time": local_time(row.get("timestamp")), "detail": event_detail(row)}
                for row in rows]  # fmt: skip
    if command == "sessions":
        return [{**row, "started": row.get("started_at"), "span": _span(row)} for row in rows]
    return list(rows)


def event_detail(row: Row) -> str:
    """The one thing that says what this event did."""
    kind = row.get("event_type")
    if kind == "usage":
        return _tokens(row)
    if kind == "message":
        return _message(row)
    if kind == "status_change":
        args = _mapping(row.get("tool_arguments"))
        return f"{args.get('from')} → {args.get('to')}: {args.get('reason') or ''}".strip()
    value = row.get("command") or row.get("file_path")
    if value:
        return str(value)
    given = row.get("tool_arguments")
    if isinstance(given, dict) and given:
        return " ".join(f"{k}={v}" for k, v in given.items() if v not in (None, "", [], {}))
    return str(row.get("model") or "")


def _tokens(row: Row) -> str:
    parts = [str(row["model"])] if row.get("model") else []
    for key, label in (("input_tokens", "in"), ("output_tokens", "out"),
                       ("cache_read_tokens", "cache read"),
                       ("cache_creation_tokens", "cache write"),
                       ("reasoning_tokens", "reasoning")):  # fmt: skip
        if row.get(key):
            parts.append(f"{label} {format_count(row[key])}")
    duplicate = _mapping(row.get("tool_arguments")).get("duplicate_of_session", None)
    if duplicate is not None:
        parts.append(f"(replay; counted in session {duplicate})")
    return " · ".join(parts)


def _message(row: Row) -> str:
    args = _mapping(row.get("tool_arguments"))
    role = args.get("role") or "message"
    preview = row.get("preview")
    if isinstance(preview, str) and preview:
        return f"{role}: {' '.join(preview.split())}"
    chars = args.get("chars")
    return f"{role} ({chars} chars)" if chars is not None else str(role)


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def event_line(row: Row) -> str:
    """One event on one line, fixed widths, for ``--follow``."""
    tool = row.get("tool_name") or ""
    status = row.get("status") or ""
    detail = " ".join(event_detail(row).split())
    return (f"{row['timestamp']}  {row['session_id']:>5}  {row['event_type']:<10} {tool:<14} "
            f"{status:<8} {detail[:160]}").rstrip() + "\n"  # fmt: skip
