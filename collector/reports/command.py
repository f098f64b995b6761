"""``agent-viz-monitor usage [GROUP]``: token and cost reports from the store (read-only).

Output: a table for people, ``--json`` the contract's object, ``--csv`` one line per row.
``--live`` redraws the table in place every ``--refresh`` seconds until Ctrl-C (ccusage users
asked to keep this for ``blocks``). A bad filter exits 2 naming the accepted values.

The CLI imports this module to build its parser for every command (Claude Code's hook included),
so the report machinery, rich and the price list are imported only when ``usage`` runs.
"""

from __future__ import annotations

import argparse
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from collector.reports.grouping import GROUPS
from collector.timespec import FORMS_HELP, TimeSpecError, parse_since, parse_until
from collector.wakeup import Wakeup
from config import Config
from config.agents import names as agent_names

if TYPE_CHECKING:
    from rich.console import Console, Group

    from collector.reports.usage import UsageQuery

__all__ = ["add_arguments", "run"]

EXIT_OK, EXIT_USAGE = 0, 2


def add_arguments(name: str, parser: argparse.ArgumentParser) -> None:
    """The ``usage`` command's options."""
    parser.add_argument("group", nargs="?", default="daily", choices=GROUPS,
                        help="how to group rows (default: daily)")  # fmt: skip
    parser.add_argument("--since", help=f"from this time ({FORMS_HELP})")
    parser.add_argument("--until", help="up to this time (a date includes that whole day)")
    parser.add_argument("--agent", choices=agent_names(), help="only this agent's sessions")
    parser.add_argument("--project", help="only this repository (path, parent path or name)")
    parser.add_argument("--branch", help="only sessions on this git branch")
    parser.add_argument("--breakdown", action="store_true", help="per model inside each row")
    parser.add_argument("--flat", action="store_true",
                        help="session group: list subagents apart from their parent")  # fmt: skip
    parser.add_argument("--timezone", help="IANA zone for dates (default: this machine's)")
    parser.add_argument("--pricing", metavar="FILE", help="TOML/JSON prices overriding the list")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="one JSON object")
    output.add_argument("--csv", action="store_true", help="CSV with a header line")
    output.add_argument("--live", action="store_true", help="redraw the table until Ctrl-C")
    parser.add_argument("--refresh", type=float, default=5.0, metavar="SECONDS",
                        help="--live: seconds between redraws (default 5)")  # fmt: skip
    parser.add_argument("--db", metavar="PATH", help="database (default: from the config)")


def run(name: str, args: argparse.Namespace, config: Config) -> int:
    """Print the report; returns the exit code."""
    from collector.reports.render import report_csv
    from collector.reports.usage import UsageQuery, build_usage, resolve_timezone

    database = Path(args.db) if args.db else config.store.path
    try:
        zone = resolve_timezone(args.timezone)
        now = datetime.now(UTC)
        query = UsageQuery(
            group=args.group,
            since=parse_since(args.since, now, zone) if args.since else None,
            until=parse_until(args.until, now, zone) if args.until else None,
            agent=args.agent, project=args.project, branch=args.branch,
            breakdown=args.breakdown, flat=args.flat, timezone=args.timezone,
            pricing_file=args.pricing,
        )  # fmt: skip
        if args.refresh <= 0:
            raise ValueError("--refresh: expected a number of seconds > 0")
        if args.live:
            return _live(database, query, zone, args.refresh)
        report = build_usage(database, query)
    except (TimeSpecError, ValueError) as exc:
        print(f"agent-viz-monitor usage: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        sys.stdout.write(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() + "\n")
    elif args.csv:
        sys.stdout.write(report_csv(report))
    else:
        from rich.console import Console

        console = Console()
        console.print(_view(report, console, zone))
    return EXIT_OK


def _view(report: dict[str, Any], console: Console, zone: Any) -> Group:
    from rich.console import Group
    from rich.text import Text

    from collector.reports.render import report_notes, report_table

    notes = [Text(line, style="dim") for line in report_notes(report)]
    if not report["rows"]:
        notes.insert(0, Text("No usage recorded for this selection."))
    return Group(report_table(report, console, zone), *notes)


def _live(database: Path, query: UsageQuery, zone: Any, refresh: float) -> int:
    """Redraw until Ctrl-C or SIGTERM; the store is re-read on every redraw. The signals only
    set a flag, so a redraw (and its SQLite read) is never cut in half."""
    from rich.console import Console, Group
    from rich.live import Live
    from rich.text import Text

    from collector.reports.usage import build_usage

    console = Console()
    stopped: list[int] = []  # the handler takes no lock (collector.wakeup says why)
    wake = Wakeup()

    def on_signal(signum: int, _frame: object) -> None:
        stopped.append(signum)
        wake.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with Live(console=console, auto_refresh=False, transient=False) as live:
            while not stopped:
                report = build_usage(database, query)
                stamp = Text(f"Updated {datetime.now(zone):%H:%M:%S}; Ctrl-C to stop", "dim")
                live.update(Group(_view(report, console, zone), stamp), refresh=True)
                wake.wait(refresh)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        wake.close()
    return EXIT_OK
