"""The ``agent-viz-monitor`` command line (../shared/CONTRACT.md, "Command line").

Exit codes: 0 success, 1 runtime failure, 2 usage or config error, 3 another instance runs.
Errors we raise on purpose (``MonitorError``) print one line naming the file, never a
traceback.
"""

from __future__ import annotations

import importlib
import os
import sys

from collector.hooks import hook_call

TYPE_CHECKING = False
if TYPE_CHECKING:  # imported where used: the ``hook`` fast path must load none of these
    import argparse
    from collections.abc import Sequence
    from typing import Any

    from config import Config

__all__ = ["main"]

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_LOCKED = 0, 1, 2, 3


def _parser() -> argparse.ArgumentParser:
    import argparse

    parser = argparse.ArgumentParser(
        prog="agent-viz-monitor",
        description="Collect AI coding agents' transcripts into a queryable SQLite event store.",
    )
    parser.add_argument("--config", metavar="FILE", help="config file (default: XDG location)")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}",
                        help="print the version and exit")  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser("run", help="run the collector in the foreground")
    run.add_argument("--once", action="store_true", help="ingest what exists, then exit")
    run.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS, help=_CONFIG_HELP)
    check = sub.add_parser("check-config", help="validate and print the effective config")
    check.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS, help=_CONFIG_HELP)
    status = sub.add_parser("status", help="is a daemon running; per-file lag; counters")
    _common_query(status)
    from collector.service.queries import add_query_commands

    add_query_commands(sub, _common_query)
    for name, (module, text) in EXTENSIONS.items():
        command = sub.add_parser(name, help=text)
        command.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS,
                             help=_CONFIG_HELP)  # fmt: skip
        loaded = _extension(module)
        if loaded is None:
            command.set_defaults(unavailable=True)
        else:
            loaded.add_arguments(name, command)
    return parser


# Commands implemented in their own modules: each module has
# ``add_arguments(name, parser)`` and ``run(name, args, config) -> exit code``.
EXTENSIONS: dict[str, tuple[str, str]] = {
    "install-service": (
        "collector.service.installer",
        "install and start the systemd/launchd service",
    ),
    "uninstall-service": ("collector.service.installer", "stop and remove the service"),
    "doctor": (
        "collector.service.doctor",
        "check the installation: limits, paths, database, service",
    ),
    "hook": (
        "collector.hooks.hook",
        "Claude Code hook: record the session's process (stdin JSON)",
    ),
    "install-hooks": ("collector.hooks.hook", "add the hook to Claude Code's settings"),
    "uninstall-hooks": ("collector.hooks.hook", "remove the hook from Claude Code's settings"),
    "register": (
        "collector.hooks.registration",
        "register an agent process spawned by an orchestrator",
    ),
    "dashboard": ("collector.dashboard.command", "serve the live web dashboard (read-only)"),
    "usage": ("collector.reports.command", "token usage and cost reports, all agents"),
}


def _extension(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name == module:
            return None
        raise


_CONFIG_HELP = "config file (default: $XDG_CONFIG_HOME/agent-viz-monitor/config.toml)"


def _version() -> str:
    import importlib.metadata  # here, not at the top: ~20 ms the ``hook`` must not pay

    try:
        return importlib.metadata.version("agent-viz-monitor")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _common_query(parser: argparse.ArgumentParser) -> None:
    import argparse

    parser.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS, help=_CONFIG_HELP)
    parser.add_argument("--json", action="store_true", help="one JSON document")
    parser.add_argument("--db", metavar="PATH", help="database (default: from the config)")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    words = sys.argv[1:] if argv is None else list(argv)
    if (hook := hook_call.hook_words(words)) is not None:  # before anything heavy loads
        return hook_call.run(*hook)
    from types import SimpleNamespace

    from config import ConfigError, InstanceLockedError, MonitorError, load_config
    from config.errors import UsageError

    daemon = _run_words(words)
    args: Any
    if daemon is not None:  # the daemon keeps what it imports: not every command's module,
        # nor argparse (5 ms of ``run --once``'s start-up)
        args = SimpleNamespace(command="run", once=daemon[0], config=daemon[1])
    else:
        args = _parser().parse_args(words)
    if getattr(args, "unavailable", False):
        print(f"agent-viz-monitor {args.command}: not available in this version", file=sys.stderr)
        return EXIT_USAGE
    if args.command == "hook":  # a form the fast path leaves to argparse (``hook codex``)
        return hook_call.run(float(args.timeout), args.config)
    try:
        config = load_config(args.config, os.environ)
        code = _dispatch(args, config)
        sys.stdout.flush()  # inside the try: a closed pipe shows here, not at interpreter exit
        return code
    except BrokenPipeError:  # `status | head -1`: the reader had enough; end quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except ConfigError as exc:
        if args.command == "doctor":  # a broken config is one of the things doctor reports
            return int(_extension("collector.service.doctor").run_with_config_error(args, exc))
        print(f"agent-viz-monitor: config error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except UsageError as exc:
        print(f"agent-viz-monitor {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except InstanceLockedError as exc:
        print(f"agent-viz-monitor: {exc}", file=sys.stderr)
        return EXIT_LOCKED
    except MonitorError as exc:
        print(f"agent-viz-monitor: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 130


def _run_words(words: Sequence[str]) -> tuple[bool, str | None] | None:
    """``--once`` and the config file of a plain ``[--config FILE] run [--once] [--config
    FILE]``, else None (the full parser explains anything else).

    Building the full parser imports every command's module (queries, tables, dashboard,
    reports, package metadata): ~5 MB that the daemon would hold for its whole life
    (bench/bench_idle.py).
    """
    flat: list[str] = []
    for word in words:
        flat += ["--config", word[9:]] if word.startswith("--config=") else [word]
    once, config, seen_run = False, None, False
    while flat:
        word = flat.pop(0)
        if word == "--config" and flat:
            config = flat.pop(0)
        elif word == "run" and not seen_run:
            seen_run = True
        elif word == "--once" and seen_run:
            once = True
        else:
            return None
    return (once, config) if seen_run else None


def _dispatch(args: Any, config: Config) -> int:
    if args.command == "check-config":
        print(f"# effective configuration (from {config.source_file})")
        _print_toml(config.to_dict())
        return EXIT_OK
    if args.command == "run":
        # The parse process first, ready when the reader starts: forked once the daemon's
        # modules are imported, else spawned before, its imports beside the daemon's
        # (collector.ingest.parse_child). Whatever ends the run before its reader took the child
        # ends it here.
        from collector.ingest.parse_child import forks, start_for

        c = config.collector
        fork = forks()
        process = None if fork else start_for(c.parse_process, c.read_chunk_bytes)
        try:
            from collector.service.daemon import run_daemon

            if fork:
                process = start_for(c.parse_process, c.read_chunk_bytes)
            return run_daemon(config, once=args.once, parse_process=process)
        finally:
            if process is not None:
                process.close()
    if args.command in EXTENSIONS:
        module = _extension(EXTENSIONS[args.command][0])
        return int(module.run(args.command, args, config))
    from collector.service.queries import run_query

    return run_query(args, config)


def _print_toml(data: dict[str, Any], prefix: str = "") -> None:
    import orjson

    scalars = {k: v for k, v in data.items() if not isinstance(v, dict)}
    tables = {k: v for k, v in data.items() if isinstance(v, dict)}
    if scalars and prefix:
        print(f"\n[{prefix}]")
    for key, value in scalars.items():
        print(f"{key} = {orjson.dumps(value).decode()}")
    for key, value in tables.items():
        _print_toml(value, f"{prefix}.{key}" if prefix else key)


if __name__ == "__main__":
    sys.exit(main())
