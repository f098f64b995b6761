"""Read-only commands: ``status``, ``sessions``, ``events``, ``files``, ``commands``.

They open the database read-only (``mode=ro``): WAL lets them read while the daemon writes and
they never take the write lock, so they cannot block or slow ingestion. Each query is one short
read transaction (rows are fetched whole), so a reader never pins the WAL either.

Output: a table for people (a few columns, long values cut), ``--json`` one JSON document with
every column, ``--jsonl`` one JSON object per line. ``events --follow`` keeps streaming new
events as the daemon commits them (``collector.follow``).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import orjson

from collector.daemon_status import run_status
from collector.follow import follow_events, recent_events
from config import Config
from store import EventStore

__all__ = ["add_query_commands", "emit", "run_query"]

Row = dict[str, Any]
EXIT_USAGE = 2
_FOLLOW_LIMIT = 10
_EVENTS_LIMIT = 100

# Columns of the human tables; --json and --jsonl carry every column.
_TABLE_COLUMNS = {
    "sessions": ("id", "agent", "status", "project_dir", "title", "last_activity", "pid"),
    "events": ("id", "timestamp", "session_id", "event_type", "tool_name", "status",
               "duration_ms", "exit_code", "detail"),
}  # fmt: skip


def add_query_commands(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    """Register the query subcommands on ``sub``."""
    sessions = sub.add_parser("sessions", help="list sessions, newest activity first")
    _output_flags(sessions, common)
    for flag in ("status", "importance", "agent", "project-dir", "since"):
        sessions.add_argument(f"--{flag}")
    sessions.add_argument("--limit", type=int, default=50)
    events = sub.add_parser("events", help="list events in time order (--follow: stream)")
    _output_flags(events, common)
    events.add_argument("--session", help="session id or key")
    for flag in ("type", "tool", "file", "category", "status", "since", "until"):
        events.add_argument(f"--{flag}")
    events.add_argument(
        "--limit",
        type=int,
        default=None,
        help=f"at most this many ({_EVENTS_LIMIT}; {_FOLLOW_LIMIT} with --follow)",
    )
    events.add_argument("--offset", type=int, default=0)
    events.add_argument(
        "-f",
        "--follow",
        action="store_true",
        help="print the last events, then new ones as they are committed",
    )
    for name, text in (("files", "file activity per session"),
                       ("commands", "command statistics per session")):  # fmt: skip
        view = sub.add_parser(name, help=text)
        _output_flags(view, common)
        view.add_argument("--session", help="session id or key")


def _output_flags(parser: argparse.ArgumentParser, common: Callable[..., None]) -> None:
    common(parser)
    parser.add_argument("--jsonl", action="store_true", help="one JSON object per line")


def _database(args: argparse.Namespace, config: Config) -> Path:
    return Path(args.db) if getattr(args, "db", None) else config.store.path


def _session_ref(value: str | None) -> int | str | None:
    if value is None:
        return None
    return int(value) if value.isdigit() else value


def run_query(args: argparse.Namespace, config: Config) -> int:
    """Run one read-only command; returns the exit code."""
    database = _database(args, config)
    if args.command == "status":
        return run_status(args, database)
    fmt = _format(args)
    if fmt is None:
        return EXIT_USAGE
    try:
        with EventStore(database, readonly=True) as store:
            if args.command == "events" and args.follow:
                return _follow(args, store, fmt)
            emit(args.command, _rows(args, store), fmt)
    except ValueError as exc:  # a filter the store cannot use (e.g. --since yesterday)
        print(f"agent-viz-monitor {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # `| head` stopped reading: end quietly, as other filters do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def _format(args: argparse.Namespace) -> str | None:
    if args.json and args.jsonl:
        print(f"agent-viz-monitor {args.command}: --json and --jsonl exclude each other",
              file=sys.stderr)  # fmt: skip
        return None
    if args.json and getattr(args, "follow", False):
        print("agent-viz-monitor events: --follow streams; use --jsonl", file=sys.stderr)
        return None
    return "json" if args.json else "jsonl" if args.jsonl else "table"


def _event_filters(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "event_type": args.type, "tool_name": args.tool, "file_path": args.file,
        "command_category": args.category, "status": args.status, "since": args.since,
        "until": args.until,
    }  # fmt: skip


def _rows(args: argparse.Namespace, store: EventStore) -> list[Row]:
    if args.command == "sessions":
        rows = store.list_sessions(
            status=args.status, importance=args.importance, agent=args.agent,
            project_dir=args.project_dir, since=args.since,
        )  # fmt: skip
        return rows[: args.limit]
    if args.command == "events":
        limit = _EVENTS_LIMIT if args.limit is None else args.limit
        return store.get_events(_session_ref(args.session), limit=limit, offset=args.offset,
                                **_event_filters(args))  # fmt: skip
    if args.command == "files":
        return store.file_activity(_session_ref(args.session))
    return store.command_stats(_session_ref(args.session))


def _follow(args: argparse.Namespace, store: EventStore, fmt: str) -> int:
    session = _session_ref(args.session)
    filters = _event_filters(args)
    limit = _FOLLOW_LIMIT if args.limit is None else args.limit
    fmt = "lines" if fmt == "table" else fmt  # batches arrive one by one: fixed widths
    rows, last_id = recent_events(store, session, filters, limit)
    emit("events", rows, fmt)
    for batch in follow_events(store, session, filters, last_id):
        emit("events", batch, fmt)
    return 0


def emit(command: str, rows: Sequence[Row], fmt: str) -> None:
    """Write ``rows`` as a table, one JSON document, JSON lines or event lines; flushes."""
    out = sys.stdout
    if fmt == "json":
        out.write(orjson.dumps(list(rows), option=orjson.OPT_INDENT_2).decode() + "\n")
    elif fmt == "jsonl":
        out.write("".join(orjson.dumps(row).decode() + "\n" for row in rows))
    elif fmt == "lines":
        out.write("".join(_event_line(row) for row in rows))
    else:
        out.write("".join(_table(command, rows)))
    out.flush()


def _table(command: str, rows: Sequence[Row]) -> Iterable[str]:
    if not rows:
        return ["(no rows)\n"]
    columns = _TABLE_COLUMNS.get(command) or [
        c for c in rows[0] if c not in ("raw_data", "tool_arguments")
    ]
    cells = [[_cell(_value(row, c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    return ["  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip() + "\n"
            for line in [list(columns), *cells]]  # fmt: skip


def _event_line(row: Row) -> str:
    """One event on one line, fixed widths, for ``--follow``."""
    tool = row.get("tool_name") or ""
    status = row.get("status") or ""
    return (f"{row['timestamp']}  {row['session_id']:>5}  {row['event_type']:<10} {tool:<14} "
            f"{status:<8} {_cell(_value(row, 'detail'))}").rstrip() + "\n"  # fmt: skip


def _value(row: Row, column: str) -> Any:
    if column == "detail":
        return row.get("command") or row.get("file_path") or row.get("model")
    return row.get(column)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = " ".join(str(value).split())
    return text if len(text) <= 60 else text[:57] + "..."
