"""Read-only commands: ``status``, ``sessions``, ``events``, ``files``, ``commands``.

They open the database read-only (``mode=ro``): WAL lets them read while the daemon writes and
they never take the write lock, so they cannot block or slow ingestion. Each query is one short
read transaction (rows are fetched whole), so a reader never pins the WAL either.

They behave as ``git log`` and ``journalctl`` taught people: ``events`` shows the newest first
(``--oldest`` for time order), ``--since 1h`` / ``yesterday`` work, ``--session`` takes a unique
prefix, a filter value that cannot match (``--type bogus``) is an error naming the valid ones,
and a cut list says how much was left out. Output: a table fitted to the terminal
(``collector.table``), ``--json`` one JSON document with every column, ``--jsonl`` one JSON
object per line. ``events --follow`` keeps streaming new events as the daemon commits them.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

import orjson

from collector.service import filters as check
from collector.service.follow import follow_events, recent_events
from collector.service.query_views import COLUMNS, event_line, shape_rows
from collector.service.status_report import run_status
from collector.table import render_table
from collector.timespec import FORMS_HELP
from config import Config
from config.agents import names as agent_names
from store import EventStore
from store.reads.lookups import Spread, command_spread
from store.records import EVENT_TYPES

__all__ = ["add_query_commands", "emit", "run_query"]

Row = dict[str, Any]
EXIT_USAGE = 2
_FOLLOW_LIMIT = 10
_EVENTS_LIMIT = 100
_SESSIONS_LIMIT = 50
_SESSION_HELP = "a session: row id, or a unique prefix of its key or of the agent's session id"


def add_query_commands(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    """Register the query subcommands on ``sub``."""
    _sessions_command(sub, common)
    _events_command(sub, common)
    for name, text in (
        ("files", "file activity per session (reads, writes, edits)"),
        ("commands", "shell commands per category: count, failures, p50/p95"),
    ):
        view = sub.add_parser(name, help=text, description=text)
        _output_flags(view, common)
        view.add_argument("--session", help=_SESSION_HELP)  # fmt: skip


def _sessions_command(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    text = "list sessions, latest activity first"
    sessions = sub.add_parser("sessions", help=text, description=text)
    _output_flags(sessions, common)
    sessions.add_argument("--status", help=f"one of: {', '.join(check.SESSION_STATUSES)}")
    sessions.add_argument("--agent", help=_agent_help())
    sessions.add_argument("--importance", help="e.g. low, normal, high (as registered)")
    sessions.add_argument("--project-dir", metavar="DIR", help="sessions of this project folder")
    sessions.add_argument("--since", metavar="WHEN", help=f"active since WHEN: {FORMS_HELP}")
    sessions.add_argument("--limit", type=int, default=_SESSIONS_LIMIT, metavar="N",
                          help=f"show at most N (default {_SESSIONS_LIMIT})")  # fmt: skip
    sessions.add_argument("--all", action="store_true", help="show every session (no --limit)")


def _events_command(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    text = "list events, newest first (--oldest: in time order; --follow: stream new ones)"
    events = sub.add_parser("events", help=text, description=text)
    _output_flags(events, common)
    events.add_argument("--session", help=_SESSION_HELP)
    events.add_argument("--agent", help=_agent_help())
    events.add_argument("--type", help="event type: " + ", ".join(EVENT_TYPES))
    events.add_argument("--tool", help="tool name as the agent writes it, e.g. Bash, Edit, view")
    events.add_argument("--file", metavar="PATH", help="file operations on this absolute path")
    events.add_argument("--category", help="command category, e.g. test, build, git, package")
    events.add_argument("--status", help=f"tool-call status: {', '.join(check.EVENT_STATUSES)}")
    events.add_argument("--since", metavar="WHEN", help=f"at or after WHEN: {FORMS_HELP}")
    events.add_argument("--until", metavar="WHEN",
                        help="at or before WHEN (a date includes that whole day)")  # fmt: skip
    events.add_argument("--oldest", action="store_true",
                        help="oldest first (time order) instead of newest first")  # fmt: skip
    events.add_argument(
        "--limit",
        type=int,
        default=None,
        metavar="N",
        help=f"at most N (default {_EVENTS_LIMIT}; {_FOLLOW_LIMIT} with --follow)",
    )
    events.add_argument("--offset", type=int, default=0, metavar="N", help="skip the first N")
    events.add_argument(
        "-f",
        "--follow",
        action="store_true",
        help="print the last events, then new ones as they are committed",
    )


def _agent_help() -> str:
    return f"one of: {', '.join(agent_names())} (claude = claude-code)"


def _output_flags(parser: argparse.ArgumentParser, common: Callable[..., None]) -> None:
    common(parser)
    parser.add_argument("--jsonl", action="store_true", help="one JSON object per line")


def _database(args: argparse.Namespace, config: Config) -> Path:
    return Path(args.db) if getattr(args, "db", None) else config.store.path


def run_query(args: argparse.Namespace, config: Config) -> int:
    """Run one read-only command; returns the exit code (``UsageError`` → the caller's 2)."""
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
            rows, note = _rows(args, store)
            emit(args.command, rows, fmt)
            if note and fmt == "table":
                print(note, file=sys.stderr)
    except ValueError as exc:  # a value the store refuses (the filters above check most)
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


def _local_now() -> tuple[datetime, tzinfo]:
    now = datetime.now().astimezone()
    assert now.tzinfo is not None  # astimezone() always sets the local zone
    return now, now.tzinfo


def _event_filters(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "event_type": check.event_type_value(args.type), "tool_name": args.tool,
        "file_path": args.file, "command_category": check.category_value(args.category),
        "status": check.choice("--status", args.status, check.EVENT_STATUSES),
        "agent": check.agent_value(args.agent),
        "since": check.time_value("--since", args.since, *_local_now()),
        "until": check.time_value("--until", args.until, *_local_now()),
    }  # fmt: skip


def _rows(args: argparse.Namespace, store: EventStore) -> tuple[list[Row], str | None]:
    """The rows to print and a note about rows left out (None when none were)."""
    if args.command == "sessions":
        return _sessions(args, store)
    if args.command == "events":
        filters = _event_filters(args)
        session = check.resolve_session(store, args.session)
        limit = _EVENTS_LIMIT if args.limit is None else args.limit
        rows = store.get_events(session, limit=limit, offset=args.offset,
                                newest_first=not args.oldest, **filters)  # fmt: skip
        more = " (--limit N for more)" if len(rows) == limit else ""
        return rows, f"{len(rows)} events shown{more}" if more else None
    session = check.resolve_session(store, args.session)
    if args.command == "files":
        return store.file_activity(session), None
    return _command_rows(store, session), None


def _sessions(args: argparse.Namespace, store: EventStore) -> tuple[list[Row], str | None]:
    filters = {
        "status": check.choice("--status", args.status, check.SESSION_STATUSES),
        "importance": args.importance, "agent": check.agent_value(args.agent),
        "project_dir": args.project_dir,
        "since": check.time_value("--since", args.since, *_local_now()),
    }  # fmt: skip
    rows = store.list_sessions(**filters)
    total = len(rows)
    if args.all or args.limit < 0 or total <= args.limit:
        return rows, None
    return rows[: args.limit], f"{args.limit} of {total} sessions shown (--limit N / --all)"


def _command_rows(store: EventStore, session: int | None) -> list[Row]:
    """``command_stats`` rows with the failure rate and duration percentiles beside them."""
    spread = command_spread(store.connection, session)
    rows = store.command_stats(session)
    for row in rows:
        key = (row["session_id"], row["command_category"])
        row["p50_ms"], row["p95_ms"] = spread.get(key, Spread(None, None))
        row["failure_rate"] = (row["failures"] or 0) / row["count"] if row["count"] else None
    return rows


def _follow(args: argparse.Namespace, store: EventStore, fmt: str) -> int:
    session = check.resolve_session(store, args.session)
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
        out.write("".join(event_line(row) for row in rows))
    elif not rows:
        out.write("(no rows)\n")
    else:
        render_table(COLUMNS[command], shape_rows(command, rows), out)
    out.flush()
