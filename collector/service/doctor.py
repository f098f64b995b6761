"""``doctor``: check the installation; one line per check, ``ok`` / ``warn`` / ``fail`` + the fix.

Checks, and the facts behind them:

- config: it parsed and validated (a broken file is reported here as a failed check; the other
  checks then run on the defaults).
- roots: each enabled agent root is readable; a missing root is fine (watched for creation).
- inotify (Linux): one watch per directory under the roots, against the per-user
  ``fs.inotify.max_user_watches`` that editors and other tools share; trees with more than
  3/4 of ``max_queued_events`` directories are polled instead (``collector.ingest.watch``).
- database: ``PRAGMA quick_check`` on a read-only connection (O(pages), never blocks the daemon)
  and the schema version.
- permissions: transcripts' contents end up in the database, so its folder must be 0700 and
  the files 0600, owned by us.
- daemon: does one hold the instance lock, and is its status file fresh.
- service: unit/plist installed, identical to what ``install-service`` writes for this
  installation, and active.

Exit 0 when nothing failed (warnings allowed), 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import stat
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import orjson

from collector.ingest.discovery import count_dirs
from collector.service.installer import manager_for
from collector.service.status_report import status_report
from config import Config, ConfigError, MonitorError
from config.model import build_config
from store import EventStore

__all__ = ["Check", "add_arguments", "checks", "run", "run_with_config_error"]

_WATCHES_SYSCTL = "sudo sysctl fs.inotify.max_user_watches=524288 (persist it in /etc/sysctl.d/)"
_STALE_STATUS_S = 10.0


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the report."""

    name: str
    level: str  # ok | warn | fail
    message: str
    fix: str = ""


def add_arguments(name: str, parser: argparse.ArgumentParser) -> None:
    """Flags of doctor."""
    parser.add_argument("--json", action="store_true", help="one JSON document")
    parser.add_argument("--manager", choices=("auto", "systemd", "launchd"), default="auto",
                        help="service manager to check (default: detect)")  # fmt: skip


def run(name: str, args: argparse.Namespace, config: Config) -> int:
    """Run every check and print the report; 1 when any failed."""
    return _report(args, list(checks(args, config)))


def run_with_config_error(args: argparse.Namespace, error: ConfigError) -> int:
    """The config is broken: report that, and check the rest on the defaults."""
    defaults = build_config({}, os.environ, "<defaults>", lambda _key: None)
    fix = "correct it; `agent-viz-monitor check-config` re-validates it"
    failed = Check("config", "fail", str(error), fix)
    return _report(args, [failed, *checks(args, defaults, config_checked=True)])


def checks(
    args: argparse.Namespace, config: Config, *, config_checked: bool = False
) -> Iterator[Check]:
    """Every check, in the order they are printed."""
    if not config_checked:
        yield Check("config", "ok", f"valid ({config.source_file})")
    yield from _roots(config)
    yield _inotify(config)
    database = config.store.path
    yield _database(database)
    yield from _permissions(database)
    yield _daemon(database)
    yield _unreadable(database)
    yield _service(args, config)
    yield from _sinks(config)


def _report(args: argparse.Namespace, results: list[Check]) -> int:
    failed = any(c.level == "fail" for c in results)
    if getattr(args, "json", False):
        doc = {"ok": not failed, "checks": [asdict(c) for c in results]}
        sys.stdout.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n")
        return 1 if failed else 0
    for check in results:
        print(f"{check.level:<5} {check.name:<17} {check.message}")
        if check.fix:
            print(f"{'':<23} fix: {check.fix}")
    warned = sum(c.level == "warn" for c in results)
    print("doctor: " + ("problems found" if failed else f"ok ({warned} warning(s))"))
    return 1 if failed else 0


def _roots(config: Config) -> Iterator[Check]:
    for agent, source in config.sources.items():
        name = f"root {agent}"
        root = source.root
        if not source.enabled:
            yield Check(name, "ok", f"{root}: disabled in the config")
        elif not root.exists():
            yield Check(name, "ok", f"{root}: not there yet (watched for creation)")
        elif not root.is_dir():
            yield Check(name, "fail", f"{root}: not a folder", f"remove or rename {root}")
        elif not os.access(root, os.R_OK | os.X_OK):
            yield Check(name, "fail", f"{root}: not readable", f"chmod u+rx {root}")
        else:
            yield Check(name, "ok", f"{root}: readable")


def _inotify(config: Config, proc: Path = Path("/proc/sys/fs/inotify")) -> Check:
    if not proc.is_dir():
        return Check("inotify", "ok", "no inotify here: native notifications have no watch limit")
    if config.collector.force_polling:
        return Check("inotify", "ok", "polling is forced by the config: no watches used")
    limit, queue = _read_int(proc / "max_user_watches"), _read_int(proc / "max_queued_events")
    roots = [s.root for s in config.sources.values() if s.enabled and s.root.is_dir()]
    dirs = sum(count_dirs(str(root)) for root in roots)
    text = f"{dirs} folders to watch, max_user_watches {limit}, max_queued_events {queue}"
    if limit is not None and dirs > limit:
        return Check("inotify", "fail", f"{text}: over the limit, roots will be polled",
                     _WATCHES_SYSCTL)  # fmt: skip
    if limit is not None and dirs * 2 > limit:
        return Check("inotify", "warn", f"{text}: over half the limit other tools share",
                     _WATCHES_SYSCTL)  # fmt: skip
    if queue is not None and dirs * 4 > queue * 3:
        fix = f"sudo sysctl fs.inotify.max_queued_events={max(dirs * 4, 65536)}"
        return Check("inotify", "warn", f"{text}: large trees are polled (slower to notice)", fix)
    return Check("inotify", "ok", text)


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _database(database: Path) -> Check:
    if not database.exists():
        return Check("database", "warn", f"{database}: not created yet",
                     "start the daemon: agent-viz-monitor run (or install-service)")  # fmt: skip
    try:
        with EventStore(database, readonly=True) as store:
            health = store.health_check()
    except MonitorError as exc:
        return Check("database", "fail", str(exc), "see the message; `run` upgrades old schemas")
    if not health["ok"]:
        problem = health.get("error") or health.get("integrity")
        return Check("database", "fail", f"{database}: quick_check: {problem}",
                     f"stop the daemon, keep a copy, then: sqlite3 {database} '.recover' "
                     "| sqlite3 recovered.db")  # fmt: skip
    return Check("database", "ok", f"{database}: quick_check ok, schema "
                 f"{health['schema_version']}, {health['events']} events")  # fmt: skip


def _permissions(database: Path) -> Iterator[Check]:
    folder = database.parent
    if folder.is_dir():
        yield _mode_check(folder, 0o700, f"chmod 700 {folder}")
    for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
        if path.exists():
            yield _mode_check(path, 0o600, f"chmod 600 {path}")


def _mode_check(path: Path, wanted: int, fix: str) -> Check:
    st = path.stat()
    mode = stat.S_IMODE(st.st_mode)
    name = "permissions"
    if st.st_uid != os.getuid():
        return Check(name, "fail", f"{path}: owned by uid {st.st_uid}, not us",
                     f"chown {os.getuid()} {path}")  # fmt: skip
    if mode & 0o077:
        return Check(name, "warn", f"{path}: mode {mode:04o}, others can read it", fix)
    return Check(name, "ok", f"{path}: mode {mode:04o}")


def _daemon(database: Path) -> Check:
    try:
        report = status_report(database)
    except MonitorError as exc:
        return Check("daemon", "warn", f"status unavailable: {exc}")
    if not report["daemon_running"]:
        return Check("daemon", "warn", "no daemon is running",
                     "agent-viz-monitor install-service (or: agent-viz-monitor run)")  # fmt: skip
    daemon = report["daemon"] or {}
    age = daemon.get("status_age_s")
    if isinstance(age, int | float) and age > _STALE_STATUS_S:
        return Check("daemon", "warn", f"pid {report['pid']}: status not updated for {age:.0f}s",
                     "the main loop may be stuck; restart the service")  # fmt: skip
    errors = {k: v for k, v in report["errors"].items() if v and k != "parse_problems_stored"}
    if errors:
        detail = ", ".join(f"{k} {v}" for k, v in errors.items())
        return Check("daemon", "warn", f"pid {report['pid']} running; {detail}",
                     "see the daemon's log for the lines and files concerned")  # fmt: skip
    return Check("daemon", "ok", f"pid {report['pid']} running, no errors")


def _sinks(config: Config) -> Iterator[Check]:
    if not config.sinks.postgres.enabled:
        return
    from collector.sinks.checkup import sink_checks

    try:
        sinks = status_report(config.store.path).get("sinks") or {}
    except MonitorError:
        sinks = {}
    for name, level, message, fix in sink_checks(config.sinks.postgres, sinks):
        yield Check(name, level, message, fix)


def _unreadable(database: Path) -> Check:
    """Transcripts the running daemon could not read, by path (mode 000, a link, a FIFO)."""
    try:
        daemon = status_report(database)["daemon"] or {}
    except MonitorError:
        daemon = {}
    problems = daemon.get("file_problems") or {}
    if not problems:
        return Check("transcripts", "ok", "every transcript found could be read")
    listed = "; ".join(f"{path} ({why})" for path, why in list(problems.items())[:5])
    more = f" and {len(problems) - 5} more" if len(problems) > 5 else ""
    return Check("transcripts", "warn", f"{len(problems)} unreadable: {listed}{more}",
                 "check these files' owner and permissions (ls -l)")  # fmt: skip


def _service(args: argparse.Namespace, config: Config) -> Check:
    install = "agent-viz-monitor install-service"
    try:
        manager = manager_for(args.manager, getattr(args, "config", None), config)
        state = manager.inspect()
    except MonitorError as exc:
        return Check("service", "warn", str(exc))
    where = f"{manager.title}, {manager.path}"
    if not state.installed:
        return Check("service", "warn", f"not installed ({where})", install)
    if not state.current:
        return Check("service", "warn", f"{where} differs from what this installation writes",
                     install)  # fmt: skip
    if not state.running:
        return Check("service", "warn", f"installed but {state.state} ({where})", install)
    return Check("service", "ok", f"installed and {state.state} ({where})")
