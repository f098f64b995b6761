"""``status``: is a daemon running, how far behind is it, what went wrong.

Three sources, none of which can block the daemon: the instance lock (``flock`` on
``<database>.lock``: held means running, the pid is inside), ``status.json`` (the daemon's
counters, rewritten about every second beside the database; trusted only when its pid is the
lock holder's) and the database opened read-only (per-file committed offsets against the files'
sizes now). Exit 0 when a daemon runs, 1 when none does (scripts: ``status >/dev/null || …``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import psutil

from collector.service.instance import running_pid
from collector.sinks.report import print_sinks, sinks_report
from config.paths import lock_path, status_path
from store import EventStore, sink_local
from store.checkpoints import file_progress, store_counts
from store.timestamps import format_timestamp

__all__ = ["ERROR_COUNTERS", "print_status", "run_status", "status_report"]

Report = dict[str, Any]
ERROR_COUNTERS = ("commit_failures", "chunks_dropped", "file_errors", "read_errors",
                  "parse_problems", "oversized_lines")  # fmt: skip
_LAGGING_SHOWN = 20
# status.json older than this many of its refresh intervals is stale: the daemon could not
# write it (disk full, read-only folder) or is wedged; its counters are then old news.
_STALE_REFRESHES = 4


def run_status(args: argparse.Namespace, database: Path) -> int:
    """Print the report (``--json``: one document); 0 when a daemon runs, else 1."""
    report = status_report(database)
    if args.json:
        sys.stdout.write(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        print_status(report)
    return 0 if report["daemon_running"] else 1


def status_report(database: Path) -> Report:
    """Everything ``status`` shows, as plain JSON-able values."""
    pid = running_pid(lock_path(database))
    daemon = _daemon_facts(database, pid) if pid is not None else None
    counters = (daemon.pop("counters", None) if daemon else None) or {}
    stored = _stored_facts(database)
    last_commit = (daemon.pop("last_commit", None) if daemon else None) or stored["last_commit"]
    errors = {name: counters.get(name, 0) for name in ERROR_COUNTERS}
    errors["parse_problems_stored"] = stored["totals"].get("parse_problems", 0)
    sinks = sinks_report((daemon.pop("sinks", None) if daemon else None) or {}, stored["sinks"])
    return {
        "daemon_running": pid is not None,
        "pid": pid,
        "daemon": daemon,
        "database": {
            "path": str(database),
            "bytes": _database_bytes(database),
            "last_commit": last_commit,
        },
        "totals": stored["totals"],
        "counters": counters,
        "errors": errors,
        "sources": stored["sources"],
        "files": stored["files"],
        "sinks": sinks,
    }


def _daemon_facts(database: Path, pid: int) -> Report:
    facts: Report = {"started": None, "uptime_s": None, "status_age_s": None,
                     "status_stale": False, "status_written": None}  # fmt: skip
    status = _read_status(status_path(database))
    if status.get("pid") != pid:  # not written yet, or left by an earlier daemon
        return {**facts, **_process_start(pid)} if pid > 0 else facts
    started = status.get("started")
    facts.update({
        "started": _iso(started),
        "uptime_s": _round(time.time() - started) if isinstance(started, int | float) else None,
        "status_age_s": status.get("age_s"),
        "last_commit": _iso(status.get("last_commit")),
        "status_written": _iso(status.get("written_at")),
        "status_stale": _is_stale(status),
    })  # fmt: skip
    for key in (
        "files_known",
        "watch_modes",
        "watch_problems",
        "commit_ms",
        "counters",
        "commit_failing",
        "file_problems",
        "sinks",
    ):
        facts[key] = status.get(key)
    return facts


def _is_stale(status: Report) -> bool:
    """Has the daemon stopped rewriting its status file (it promises ``refresh_s``)."""
    refresh = status.get("refresh_s")
    age = status.get("age_s")
    if not isinstance(refresh, int | float) or not isinstance(age, int | float):
        return False  # written by a version that did not promise a refresh interval
    return age > _STALE_REFRESHES * refresh


def _read_status(path: Path) -> Report:
    try:
        data = orjson.loads(path.read_bytes())
        age = time.time() - path.stat().st_mtime
    except (OSError, orjson.JSONDecodeError):
        return {}
    if not isinstance(data, dict):
        return {}
    data["age_s"] = _round(age)
    return data


def _process_start(pid: int) -> Report:
    try:
        started = psutil.Process(pid).create_time()
    except psutil.Error:
        return {}
    return {"started": _iso(started), "uptime_s": _round(time.time() - started)}


def _database_bytes(database: Path) -> int:
    total = 0
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(OSError):
            total += os.stat(f"{database}{suffix}").st_size
    return total


def _stored_facts(database: Path) -> Report:
    if not database.exists():
        return {"totals": {}, "sources": {}, "files": [], "last_commit": None, "sinks": {}}
    with EventStore(database, readonly=True) as store:
        return _query_facts(store)


def _query_facts(store: EventStore) -> Report:
    conn = store.connection
    files = [_file_entry(row) for row in file_progress(conn)]
    counts = store_counts(conn)
    totals = {"sessions": counts[0], "events": counts[1], "parse_problems": counts[2],
              "files": len(files), "lag_bytes": sum(f["lag"] for f in files)}  # fmt: skip
    return {"totals": totals, "sources": _by_source(files), "files": files,
            "last_commit": counts[3], "sinks": sink_local.read_lags(conn)}  # fmt: skip


def _file_entry(row: Report) -> Report:
    """A ``files`` row plus its size now and how many bytes are not committed yet."""
    deleted = row["deleted_at"] is not None
    try:
        size: int | None = None if deleted else os.stat(row["path"]).st_size
    except OSError:
        size = None
    row["size"] = size
    row["lag"] = max(0, size - row["offset"]) if size is not None else 0
    return row


def _by_source(files: list[Report]) -> Report:
    sources: Report = {}
    for entry in files:
        agg = sources.setdefault(entry["agent"], {"files": 0, "bytes": 0, "committed": 0,
                                                  "lag_bytes": 0, "lagging_files": 0})  # fmt: skip
        if entry["deleted_at"] is not None:
            continue
        agg["files"] += 1
        agg["bytes"] += entry["size"] or 0
        agg["committed"] += entry["offset"]
        agg["lag_bytes"] += entry["lag"]
        agg["lagging_files"] += 1 if entry["lag"] else 0
    return sources


def print_status(report: Report) -> None:
    """The human form of ``status_report``."""
    daemon = report["daemon"]
    if daemon is None:
        print("daemon:    not running")
    else:
        up = _duration(daemon.get("uptime_s"))
        print(f"daemon:    running, pid {report['pid']}, up {up}")
        if daemon.get("status_stale"):
            age = _duration(daemon.get("status_age_s"))
            print(f"STALE:     the daemon has not updated its status since "
                  f"{daemon.get('status_written')} ({age} ago; disk full or folder read-only? "
                  "see its log); figures below may be old")  # fmt: skip
        if daemon.get("commit_failing"):
            print(f"FAILING:   commits fail: {daemon['commit_failing']}")
    db = report["database"]
    print(f"database:  {db['path']}, {_size(db['bytes'])}, last commit {db['last_commit'] or '-'}")
    t = report["totals"]
    if t:
        print(f"totals:    {t['sessions']} sessions, {t['events']} events, {t['files']} files, "
              f"{_size(t['lag_bytes'])} not yet ingested")  # fmt: skip
    errors = {k: v for k, v in report["errors"].items() if v}
    print("errors:    " + (", ".join(f"{k} {v}" for k, v in errors.items()) or "none"))
    redactions = report["counters"].get("redactions", 0)
    print(f"privacy:   {redactions} secret(s) redacted by this daemon")
    for agent, agg in report["sources"].items():
        print(f"  {agent:<12} {agg['files']:>6} files {_size(agg['bytes']):>10}  "
              f"lag {_size(agg['lag_bytes'])}")  # fmt: skip
    _print_lagging(report["files"])
    print_sinks(report.get("sinks") or {})
    for path, why in ((daemon or {}).get("file_problems") or {}).items():
        print(f"  unreadable {path}: {why}")
    if daemon and daemon.get("watch_modes"):
        for root, mode in daemon["watch_modes"].items():
            print(f"  watching {root}: {mode}")
        for problem in daemon.get("watch_problems") or []:
            print(f"  watch problem: {problem}")


def _print_lagging(files: list[Report]) -> None:
    lagging = sorted((f for f in files if f["lag"]), key=lambda f: -int(f["lag"]))
    for entry in lagging[:_LAGGING_SHOWN]:
        print(f"  behind {_size(entry['lag']):>10}  {entry['path']}")
    if len(lagging) > _LAGGING_SHOWN:
        print(f"  … and {len(lagging) - _LAGGING_SHOWN} more lagging files (--json lists all)")


def _iso(epoch: Any) -> str | None:
    if not isinstance(epoch, int | float):
        return None
    return format_timestamp(datetime.fromtimestamp(epoch, tz=UTC))


def _round(value: float) -> float:
    return round(value, 1)


def _size(nbytes: int | None) -> str:
    value = float(nbytes or 0)
    for unit in ("B", "KB", "MB"):
        if value < 1000:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    s = int(seconds)
    if s < 120:
        return f"{s}s"
    if s < 7200:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s // 3600}h {s % 3600 // 60:02d}m"
