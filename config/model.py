"""The configuration model: frozen structs (``msgspec.Struct``) with the contract's defaults.

Pure: ``build_config(data, env, locate)`` turns a parsed TOML mapping into a ``Config`` and
raises ``ConfigError`` naming ``file:line: dotted.key: reason`` for unknown keys, wrong types
and out-of-range values. Types are checked by the fields' annotations, so adding a
setting is adding a field.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, get_type_hints

import msgspec

from config import agents
from config.errors import ConfigError
from config.paths import database_file, source_roots
from config.sinks import SinksConfig, build_sinks

__all__ = [
    "CollectorConfig",
    "Config",
    "LogConfig",
    "PrivacyConfig",
    "SourceConfig",
    "StoreConfig",
    "TrackerConfig",
    "build_config",
]

Locate = Callable[[str], int | None]


class StoreConfig(msgspec.Struct, frozen=True):
    """Where the database lives and how long a locked database is waited for."""

    path: Path = Path()
    busy_timeout_ms: int = 5000


class CollectorConfig(msgspec.Struct, frozen=True):
    """Tailing and batching limits."""

    flush_interval_ms: int = 2  # a batch is committed at most this long after its first record
    # … or once it holds this many records or bytes of transcript lines. A live line waits for
    # at most one backlog commit (collector/ingest/lanes.py): 1000 rows / 4 MiB made that ~130 ms at
    # p99 during a backfill, 100 / 512 KiB ~45 ms, at the same throughput
    # (bench/bench_latency.py, bench/bench_backfill.py).
    batch_rows: int = 100
    batch_bytes: int = 512 * 1024
    queue_bound: int = 16  # backlog chunks waiting for the writer; readers block when full
    max_line_bytes: int = 64 * 1024 * 1024  # longer lines are recorded as oversized, skipped
    read_chunk_bytes: int = 1024 * 1024  # bytes read from one file before turning to the next
    # Seconds between rescans (notifications are hints). Each lists every folder and stats the
    # files changed in the last 15 minutes plus a rotating tenth of the rest
    # (collector.ingest.discovery
    # .ScanRounds): 20,000 idle files cost ~0.1 s of CPU a minute, and a lost notification on a
    # quiet file delays its lines by at most 10 intervals.
    rescan_interval: float = 60.0
    force_polling: bool = False  # never use inotify/FSEvents (network file systems)
    # Parse backlogs in a child process beside the writer (collector/ingest/parse_process.py):
    # auto = when more than one CPU is usable, on, off. Live lines are parsed in the daemon.
    parse_process: str = "auto"
    args_cap: int = 1024  # characters of tool arguments kept per event
    raw_cap: int = 512  # characters of the original line kept in raw_data (messages, errors)
    preview_chars: int = 500  # characters of a prompt or reply kept as its preview; 0 = none


class SourceConfig(msgspec.Struct, frozen=True):
    """One agent's transcripts."""

    enabled: bool = True
    root: Path = Path()


class TrackerConfig(msgspec.Struct, frozen=True):
    """Session status from processes."""

    enabled: bool = True
    scan_interval: float = 5.0  # seconds between process scans
    idle_after: float = 300.0  # alive but quiet this long → idle
    waiting_after: float = 30.0  # a tool call pending this long → waiting (permission prompt)
    tmux: bool = True  # map each agent to its tmux pane (session:window.pane)


class LogConfig(msgspec.Struct, frozen=True):
    """Log level and rendering."""

    level: str = "info"  # debug | info | warning | error
    format: str = "auto"  # auto (console on a TTY, JSON otherwise) | console | json


class PrivacyConfig(msgspec.Struct, frozen=True):
    """What is kept of transcript text."""

    redact: bool = True  # replace secrets (API keys, tokens, passwords) with [REDACTED:<kind>]


class Config(msgspec.Struct, frozen=True):
    """The whole effective configuration."""

    store: StoreConfig
    collector: CollectorConfig
    sources: dict[str, SourceConfig]
    tracker: TrackerConfig
    log: LogConfig
    source_file: str | None = None  # the file it was read from (None: defaults only)
    sinks: SinksConfig = SinksConfig()
    privacy: PrivacyConfig = PrivacyConfig()

    def to_dict(self) -> dict[str, Any]:
        """Plain values (paths as strings), for ``check-config`` and ``status``."""
        out: dict[str, Any] = {}
        for name in ("store", "collector", "tracker", "log", "privacy"):
            out[name] = _plain(getattr(self, name))
        out["sources"] = {agent: _plain(src) for agent, src in self.sources.items()}
        out["sinks"] = self.sinks.plain()
        return out


def _plain(section: Any) -> dict[str, Any]:
    return {
        f.name: str(v) if isinstance(v := getattr(section, f.name), Path) else v
        for f in msgspec.structs.fields(section)
    }


_CHOICES = {
    "log.level": ("debug", "info", "warning", "error"),
    "log.format": ("auto", "console", "json"),
    "collector.parse_process": ("auto", "on", "off"),
}
_POSITIVE = {
    "collector.flush_interval_ms", "collector.batch_rows", "collector.batch_bytes",
    "collector.queue_bound", "collector.max_line_bytes", "collector.read_chunk_bytes",
    "collector.rescan_interval", "collector.args_cap", "collector.raw_cap",
    "tracker.scan_interval", "tracker.idle_after", "tracker.waiting_after",
    "store.busy_timeout_ms",
}  # fmt: skip


def build_config(
    data: Mapping[str, Any], env: Mapping[str, str], source: str, locate: Locate
) -> Config:
    """Validate ``data`` (parsed TOML plus overrides) into a ``Config``."""
    _reject_unknown(
        data,
        {"store", "collector", "sources", "tracker", "log", "sinks", "privacy"},
        "",
        source,
        locate,
    )
    store = _section(StoreConfig, data, "store", source, locate)
    if store.path == Path():
        store = msgspec.structs.replace(store, path=database_file(env))
    roots = source_roots(env)
    raw_sources = _table(data.get("sources", {}), "sources", source, locate)
    _reject_unknown(raw_sources, set(agents.names()), "sources.", source, locate)
    sources = {}
    for agent in agents.AGENTS:
        default = SourceConfig(enabled=agent.enabled)
        src = _section(SourceConfig, raw_sources, agent.name, source, locate, prefix="sources.",
                       default=default)  # fmt: skip
        root = roots[agent.name]
        sources[agent.name] = src if src.root != Path() else msgspec.structs.replace(src, root=root)
    return Config(
        store=store,
        collector=_section(CollectorConfig, data, "collector", source, locate),
        sources=sources,
        tracker=_section(TrackerConfig, data, "tracker", source, locate),
        log=_section(LogConfig, data, "log", source, locate),
        source_file=source,
        sinks=build_sinks(data.get("sinks", {}), source, locate),
        privacy=_section(PrivacyConfig, data, "privacy", source, locate),
    )


def _table(value: Any, key: str, source: str, locate: Locate) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(source, locate(key), key, f"must be a table, got {_kind(value)}")
    return value


def _reject_unknown(
    table: Mapping[str, Any], allowed: set[str], prefix: str, source: str, locate: Locate
) -> None:
    for key in table:
        if key not in allowed:
            dotted = prefix + key
            raise ConfigError(
                source,
                locate(dotted),
                dotted,
                f"unknown key (expected one of: {', '.join(sorted(allowed))})",
            )


def _section(
    cls: type[Any],
    data: Mapping[str, Any],
    name: str,
    source: str,
    locate: Locate,
    *,
    prefix: str = "",
    default: Any = None,
) -> Any:
    dotted = prefix + name
    table = _table(data.get(name, {}), dotted, source, locate)
    hints = get_type_hints(cls)
    _reject_unknown(table, set(hints), dotted + ".", source, locate)
    values = {key: _coerce(hints[key], value, f"{dotted}.{key}", source, locate)
              for key, value in table.items()}  # fmt: skip
    return cls(**values) if default is None else msgspec.structs.replace(default, **values)


def _coerce(kind: Any, value: Any, dotted: str, source: str, locate: Locate) -> Any:
    def fail(reason: str) -> ConfigError:
        return ConfigError(source, locate(dotted), dotted, reason)

    if kind is bool:
        if not isinstance(value, bool):
            raise fail(f"must be true or false, got {_kind(value)}")
        return value
    if kind is int or kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise fail(f"must be a number, got {_kind(value)}")
        if kind is int and not isinstance(value, int):
            raise fail(f"must be a whole number, got {value!r}")
        if dotted.split(".", 1)[-1] and _is_positive(dotted) and value <= 0:
            raise fail(f"must be greater than 0, got {value!r}")
        if dotted in _NOT_NEGATIVE and value < 0:
            raise fail(f"must be 0 or more, got {value!r}")
        return kind(value)
    if kind is Path:
        if not isinstance(value, str) or not value:
            raise fail(f"must be a non-empty path string, got {_kind(value)}")
        return Path(value).expanduser()
    if not isinstance(value, str):
        raise fail(f"must be a string, got {_kind(value)}")
    choices = _CHOICES.get(dotted)
    if choices and value not in choices:
        raise fail(f"must be one of {', '.join(choices)}, got {value!r}")
    return value


_NOT_NEGATIVE = {"collector.preview_chars"}


def _is_positive(dotted: str) -> bool:
    return dotted in _POSITIVE


def _kind(value: Any) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a float", str: "a string",
             list: "an array", dict: "a table"}  # fmt: skip
    return names.get(type(value), type(value).__name__)


def default_factory() -> Config:  # pragma: no cover - convenience for the REPL
    """A ``Config`` of all defaults for the current process environment."""
    import os

    return build_config({}, os.environ, "<defaults>", lambda _key: None)
