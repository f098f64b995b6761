"""Default locations, all derived from HOME and the XDG variables (../shared/CONTRACT.md).

Pure: every function takes the environment as a mapping, so tests pass their own and a
``HOME`` pointing at an empty folder gives a fully isolated instance.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

__all__ = [
    "APP",
    "ENV_PREFIX",
    "config_file",
    "data_dir",
    "database_file",
    "home",
    "source_roots",
    "state_dir",
]

APP = "agent-viz-monitor"
ENV_PREFIX = "AGENT_VIZ_MONITOR_"  # environment overrides of config keys (config.loader)


def home(env: Mapping[str, str]) -> Path:
    """The user's home: ``HOME``, else what the OS says."""
    value = env.get("HOME")
    return Path(value) if value else Path(os.path.expanduser("~"))


def _xdg(env: Mapping[str, str], name: str, fallback: str) -> Path:
    value = env.get(name, "")
    # The XDG spec: a relative path is invalid and must be ignored.
    if value and os.path.isabs(value):
        return Path(value)
    return home(env) / fallback


def config_file(env: Mapping[str, str]) -> Path:
    """``$XDG_CONFIG_HOME/agent-viz-monitor/config.toml``."""
    return _xdg(env, "XDG_CONFIG_HOME", ".config") / APP / "config.toml"


def data_dir(env: Mapping[str, str]) -> Path:
    """``$XDG_DATA_HOME/agent-viz-monitor``."""
    return _xdg(env, "XDG_DATA_HOME", ".local/share") / APP


def database_file(env: Mapping[str, str]) -> Path:
    """``$XDG_DATA_HOME/agent-viz-monitor/events.db``."""
    return data_dir(env) / "events.db"


def state_dir(env: Mapping[str, str]) -> Path:
    """``$XDG_STATE_HOME/agent-viz-monitor`` (logs of the LaunchAgent, hook spool)."""
    return _xdg(env, "XDG_STATE_HOME", ".local/state") / APP


def source_roots(env: Mapping[str, str]) -> dict[str, Path]:
    """Each agent's transcript root, honouring ``CLAUDE_CONFIG_DIR`` and ``CODEX_HOME``."""
    base = home(env)
    claude = Path(env["CLAUDE_CONFIG_DIR"]) if env.get("CLAUDE_CONFIG_DIR") else base / ".claude"
    codex = Path(env["CODEX_HOME"]) if env.get("CODEX_HOME") else base / ".codex"
    return {
        "claude-code": claude / "projects",
        "codex": codex / "sessions",
        "copilot": base / ".copilot" / "session-state",
        "gemini": base / ".gemini" / "tmp",
    }
