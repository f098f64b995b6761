"""The ``[sinks.postgres]`` table: where a team's PostgreSQL is and how this machine ships to it.

Pure, like the rest of the config model: the DSN's syntax is checked here (libpq's own parser,
through psycopg, so what passes here is what the shipper will use), the DSN file's existence
and the server itself are ``doctor``'s. The DSN is a secret: ``plain()`` shows it with its
password masked, and nothing else prints it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import msgspec

from config.errors import ConfigError

__all__ = ["PostgresSinkConfig", "SinksConfig", "build_sinks", "mask_dsn"]

Locate = Callable[[str], int | None]
_MACHINE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,63}$")
_PASSWORD_KV = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)
_PASSWORD_URI = re.compile(r"^([a-z]+://[^:/@]*:)([^@]*)(@)", re.IGNORECASE)


class PostgresSinkConfig(msgspec.Struct, frozen=True):
    """A PostgreSQL that receives every committed row of this machine."""

    enabled: bool = False
    dsn: str = ""  # libpq connection string or URI; empty: PG* environment variables
    dsn_file: str = ""  # a file holding the DSN (kept out of the config file)
    machine: str = ""  # this machine's id in the central tables; empty: derived from the host
    batch_rows: int = 5000  # rows per PostgreSQL transaction
    include_raw: bool = False  # ship raw_data (the original line's prefix); off by default
    connect_timeout: int = 10  # seconds to wait for a connection
    retry_max: float = 10.0  # longest wait between retries while the server is unreachable


class SinksConfig(msgspec.Struct, frozen=True):
    """Every optional sink (only PostgreSQL today)."""

    postgres: PostgresSinkConfig = PostgresSinkConfig()

    def plain(self) -> dict[str, Any]:
        """Plain values for ``check-config``, the DSN's password masked."""
        pg = msgspec.structs.asdict(self.postgres)
        pg["dsn"] = mask_dsn(pg["dsn"])
        return {"postgres": pg}


def mask_dsn(dsn: str) -> str:
    """``dsn`` with any password replaced by ``****``."""
    masked = _PASSWORD_KV.sub(r"\1****", dsn)
    return _PASSWORD_URI.sub(r"\1****\3", masked)


def build_sinks(value: Any, source: str, locate: Locate) -> SinksConfig:
    """Validate the ``[sinks]`` table."""
    if not isinstance(value, Mapping):
        raise ConfigError(source, locate("sinks"), "sinks", "must be a table")
    for key in value:
        if key != "postgres":
            dotted = f"sinks.{key}"
            raise ConfigError(source, locate(dotted), dotted, "unknown sink (expected: postgres)")
    table = value.get("postgres", {})
    if not isinstance(table, Mapping):
        raise ConfigError(source, locate("sinks.postgres"), "sinks.postgres", "must be a table")
    return SinksConfig(_postgres(table, source, locate))


def _postgres(table: Mapping[str, Any], source: str, locate: Locate) -> PostgresSinkConfig:
    kinds = {f.name: type(f.default) for f in msgspec.structs.fields(PostgresSinkConfig)}
    values: dict[str, Any] = {}
    for key, raw in table.items():
        dotted = f"sinks.postgres.{key}"

        def fail(reason: str, dotted: str = dotted) -> ConfigError:
            return ConfigError(source, locate(dotted), dotted, reason)

        kind = kinds.get(key)
        if kind is None:
            raise fail(f"unknown key (expected one of: {', '.join(sorted(kinds))})")
        if kind is int and (isinstance(raw, bool) or not isinstance(raw, int) or raw <= 0):
            raise fail(f"must be a whole number greater than 0, got {raw!r}")
        if kind is float:
            if isinstance(raw, bool) or not isinstance(raw, int | float) or raw <= 0:
                raise fail(f"must be a number greater than 0, got {raw!r}")
            values[key] = float(raw)
            continue
        if kind is not int and not isinstance(raw, kind):
            raise fail(f"must be {'true or false' if kind is bool else 'a string'}, got {raw!r}")
        values[key] = raw
    config = PostgresSinkConfig(**values)
    _check_postgres(config, source, locate)
    return config


def _check_postgres(config: PostgresSinkConfig, source: str, locate: Locate) -> None:
    def fail(key: str, reason: str) -> ConfigError:
        dotted = f"sinks.postgres.{key}"
        return ConfigError(source, locate(dotted), dotted, reason)

    if config.dsn and config.dsn_file:
        raise fail("dsn_file", "set either dsn or dsn_file, not both")
    if config.dsn_file and not Path(config.dsn_file).expanduser().is_absolute():
        raise fail("dsn_file", f"must be an absolute path, got {config.dsn_file!r}")
    if config.machine and not _MACHINE.match(config.machine):
        raise fail("machine", "1-64 letters, digits and . _ : @ - (starting with a letter "
                   f"or digit), got {config.machine!r}")  # fmt: skip
    if config.dsn:
        problem = dsn_problem(config.dsn)
        if problem:
            raise fail("dsn", f"not a valid PostgreSQL connection string: {problem}")


def dsn_problem(dsn: str) -> str | None:
    """Why libpq would reject ``dsn`` (None when it parses); the DSN itself is not echoed."""
    from psycopg import ProgrammingError, conninfo

    try:
        conninfo.conninfo_to_dict(dsn)
    except ProgrammingError as exc:
        first = str(exc).splitlines()[0] if str(exc) else ""
        if first.startswith("invalid connection option") or "invalid URI" in first:
            return first  # names an option or a scheme, never a value
        return ("libpq cannot parse it (quote values holding spaces in single quotes; "
                "percent-encode special characters in a URI)")  # fmt: skip
    return None
