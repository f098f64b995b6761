"""Read-only commands: ``status``, ``sessions``, ``events``, ``files``, ``commands``.

They open the database read-only (``mode=ro``): WAL lets them read while the daemon writes and
they never take the write lock, so they cannot block or slow ingestion.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson

from collector.instance import lock_path, running_pid
from config import Config
from store import EventStore

__all__ = ["add_query_commands", "run_query"]

Row = dict[str, Any]


def add_query_commands(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    """Register the query subcommands on ``sub``."""
    sessions = sub.add_parser("sessions", help="list sessions")
    common(sessions)
    for flag in ("status", "importance", "agent", "project-dir", "since"):
        sessions.add_argument(f"--{flag}")
    sessions.add_argument("--limit", type=int, default=50)
    events = sub.add_parser("events", help="list events")
    common(events)
    events.add_argument("--session", help="session id or key")
    for flag in ("type", "tool", "file", "category", "status", "since", "until"):
        events.add_argument(f"--{flag}")
    events.add_argument("--limit", type=int, default=100)
    events.add_argument("--offset", type=int, default=0)
    for name, text in (("files", "file activity per session"),
                       ("commands", "command statistics per session")):  # fmt: skip
        view = sub.add_parser(name, help=text)
        common(view)
        view.add_argument("--session", help="session id or key")


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
        return _status(args, database)
    with EventStore(database, readonly=True) as store:
        rows = _rows(args, store)
    _emit(rows, args.json)
    return 0


def _rows(args: argparse.Namespace, store: EventStore) -> list[Row]:
    if args.command == "sessions":
        rows = store.list_sessions(
            status=args.status, importance=args.importance, agent=args.agent,
            project_dir=args.project_dir, since=args.since,
        )  # fmt: skip
        return rows[: args.limit]
    if args.command == "events":
        return store.get_events(
            _session_ref(args.session), event_type=args.type, tool_name=args.tool,
            file_path=args.file, command_category=args.category, status=args.status,
            since=args.since, until=args.until, limit=args.limit, offset=args.offset,
        )  # fmt: skip
    if args.command == "files":
        return store.file_activity(_session_ref(args.session))
    return store.command_stats(_session_ref(args.session))


def _emit(rows: Sequence[Row], as_json: bool) -> None:
    if as_json:
        sys.stdout.write(orjson.dumps(list(rows), option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    if not rows:
        print("(no rows)")
        return
    columns = [c for c in rows[0] if c not in ("raw_data", "tool_arguments")]
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for line in cells:
        print("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip())


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _status(args: argparse.Namespace, database: Path) -> int:
    pid = running_pid(lock_path(database))
    report: dict[str, Any] = {"database": str(database), "daemon_running": pid is not None,
                              "pid": pid}  # fmt: skip
    if database.exists():
        with EventStore(database, readonly=True) as store:
            report.update(_store_status(store))
        report["database_bytes"] = database.stat().st_size
    status_file = database.with_name("status.json")
    if pid is not None and status_file.exists():
        try:
            report["daemon"] = orjson.loads(status_file.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            report["daemon"] = None
    if args.json:
        sys.stdout.write(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        _print_status(report)
    return 0 if pid is not None else 1


def _store_status(store: EventStore) -> dict[str, Any]:
    conn = store.connection
    files = []
    for row in conn.execute(
        "SELECT path, agent, offset, size, lines, problems, oversized, resets, deleted_at "
        "FROM files ORDER BY path"
    ):
        entry = dict(row)
        try:
            entry["size"] = os.stat(entry["path"]).st_size
        except OSError:
            entry["size"] = None
        entry["lag"] = max(0, (entry["size"] or 0) - entry["offset"]) if entry["size"] else 0
        files.append(entry)
    totals = {
        "sessions": conn.execute("SELECT COUNT(*) FROM sessions").fetchone()[0],
        "events": conn.execute("SELECT COUNT(*) FROM events").fetchone()[0],
        "parse_problems": conn.execute("SELECT COUNT(*) FROM parse_problems").fetchone()[0],
        "files": len(files),
        "lag_bytes": sum(f["lag"] for f in files),
    }
    return {"totals": totals, "files": files}


def _print_status(report: dict[str, Any]) -> None:
    running = f"running (pid {report['pid']})" if report["daemon_running"] else "not running"
    print(f"daemon:   {running}")
    print(f"database: {report['database']}")
    totals = report.get("totals")
    if totals:
        print("totals:   " + ", ".join(f"{k} {v}" for k, v in totals.items()))
        lagging = [f for f in report["files"] if f["lag"]]
        for entry in lagging[:20]:
            print(f"  lag {entry['lag']:>10} B  {entry['path']}")
    daemon = report.get("daemon")
    if daemon:
        print("counters: " + ", ".join(f"{k} {v}" for k, v in daemon.get("counters", {}).items()))
