"""Reading the TOML config file and the environment overrides.

``tomllib`` gives values but not their lines, so ``locate`` finds the line of a dotted key by a
small scan of the text (table headers, dotted keys, inline tables are matched by name). A
missing file at the default location means all defaults; a file named with ``--config`` must
exist.

Overrides: ``AGENT_VIZ_MONITOR_<SECTION>__<KEY>=value`` (``__`` separates levels, the name is
case-insensitive, ``_`` in an agent name stands for ``-``), e.g.
``AGENT_VIZ_MONITOR_COLLECTOR__FLUSH_INTERVAL_MS=10`` or
``AGENT_VIZ_MONITOR_SOURCES__CLAUDE_CODE__ENABLED=false``. Values are parsed as TOML values
(``10``, ``true``, ``"x"``), falling back to a plain string.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from config import agents
from config.errors import ConfigError
from config.model import Config, build_config
from config.paths import ENV_PREFIX, config_file

__all__ = ["ENV_PREFIX", "load_config", "locate_key"]

_HEADER = re.compile(r"^\s*\[\[?\s*([^\[\]]+?)\s*\]\]?\s*(#.*)?$")  # [t] and [[t]]
_KEY = re.compile(r"""^\s*([A-Za-z0-9_\-."' ]+?)\s*=""")
_LINE_IN_ERROR = re.compile(r"\(at line (\d+), column \d+\)")


def load_config(path: str | Path | None, env: Mapping[str, str]) -> Config:
    """The effective config: file (or defaults), then environment overrides."""
    explicit = path is not None
    file = Path(path) if path is not None else config_file(env)
    text = _read(file, explicit)
    data = _parse(text, str(file)) if text is not None else {}
    data, overridden = _apply_overrides(data, env)
    source = str(file) if text is not None else f"{file} (absent: defaults)"

    def locate(dotted: str) -> int | None:
        if dotted in overridden or text is None:
            return None
        return locate_key(text, dotted)

    try:
        return build_config(data, env, source, locate)
    except ConfigError as exc:
        name = _variable_for(overridden, exc.key)
        if name is None:
            raise
        raise ConfigError(f"environment {name}", None, exc.key, exc.reason) from None


def _variable_for(overridden: Mapping[str, str], key: str) -> str | None:
    """The override variable that set ``key`` (or a key below it), if one did."""
    if key in overridden:
        return overridden[key]
    below = [name for dotted, name in overridden.items() if dotted.startswith(key + ".")]
    return below[0] if key and below else None


def _read(file: Path, explicit: bool) -> str | None:
    try:
        return file.read_text(encoding="utf-8")
    except FileNotFoundError:
        if explicit:
            raise ConfigError(str(file), None, "", "config file does not exist") from None
        return None
    except UnicodeDecodeError as exc:
        raise ConfigError(str(file), None, "", f"not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise ConfigError(str(file), None, "", f"cannot read: {exc.strerror}") from None


def _parse(text: str, where: str) -> dict[str, Any]:
    import tomllib  # here: without a config file or override ``run`` never loads it (4 ms)

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        found = _LINE_IN_ERROR.search(message)
        line = int(found[1]) if found else None
        reason = _LINE_IN_ERROR.sub("", message).strip()
        raise ConfigError(where, line, "", f"invalid TOML: {reason}") from None


def locate_key(text: str, dotted: str) -> int | None:
    """The 1-based line where ``dotted`` (e.g. ``sources.codex.root``) is set, if found."""
    target = dotted.split(".")
    table: list[str] = []
    best: int | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header:
            table = _split_key(header[1])
            if table == target:
                best = best or number
            continue
        key = _KEY.match(line)
        if not key:
            continue
        full = table + _split_key(key[1])
        if full == target:
            return number
        if best is None and full == target[: len(full)]:
            best = number  # an inline table or a parent key holding the value
    return best


def _split_key(raw: str) -> list[str]:
    return [part.strip().strip("\"'") for part in raw.split(".")]


def _apply_overrides(
    data: dict[str, Any], env: Mapping[str, str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """``data`` with the overrides applied, and which variable set each dotted key."""
    merged = _copy(data)
    overridden: dict[str, str] = {}
    for name, raw in sorted(env.items()):
        if not name.upper().startswith(ENV_PREFIX):
            continue
        path = [part.lower() for part in name[len(ENV_PREFIX) :].split("__") if part]
        if len(path) < 2:
            raise ConfigError(
                f"environment {name}", None, name,
                "expected AGENT_VIZ_MONITOR_<SECTION>__<KEY>",
            )  # fmt: skip
        if path[0] == "sources" and len(path) > 1:
            path[1] = _agent_name(path[1])
        node = merged
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"environment {name}", None, ".".join(path), "not a table")
            node = child
        node[path[-1]] = _value(raw)
        overridden[".".join(path)] = name
    return merged, overridden


def _agent_name(raw: str) -> str:
    dashed = raw.replace("_", "-")
    return dashed if dashed in agents.names() else raw


def _value(raw: str) -> Any:
    import tomllib

    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _copy(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _copy(v) if isinstance(v, Mapping) else v for k, v in data.items()}
