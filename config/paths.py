"""Default locations, all derived from HOME and the XDG variables (../shared/CONTRACT.md).

Pure: every function takes the environment as a mapping, so tests pass their own and a
``HOME`` pointing at an empty folder gives a fully isolated instance.

The files the daemon keeps beside its database (the instance lock, the status snapshot, the
tracker's process identities, the spool of hook and registration records) are named here, once,
from the database's path: every module that reads or writes one asks these functions.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from config import agents

__all__ = [
    "APP",
    "ENV_PREFIX",
    "config_file",
    "data_dir",
    "database_file",
    "home",
    "identities_path",
    "lock_path",
    "source_roots",
    "spool_dir",
    "state_dir",
    "status_path",
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
    """Each agent's transcript root (``config.agents``), honouring overrides such as
    ``CLAUDE_CONFIG_DIR`` and ``CODEX_HOME``."""
    base = home(env)
    return {agent.name: agent.root(base, env) for agent in agents.AGENTS}


# -- the files beside the database -------------------------------------------------------------


def lock_path(database: str | os.PathLike[str]) -> Path:
    """``<database>.lock``: one daemon per database holds an ``flock`` on it."""
    return Path(f"{os.fspath(database)}.lock")


def status_path(database: str | os.PathLike[str]) -> Path:
    """``status.json`` beside the database: the running daemon's snapshot for ``status``."""
    return Path(database).parent / "status.json"


def identities_path(database: str | os.PathLike[str]) -> Path:
    """``tracker-identities.json`` beside the database: the tracker's process identities."""
    return Path(database).parent / "tracker-identities.json"


def spool_dir(database: str | os.PathLike[str]) -> Path:
    """``spool/`` beside the database: hook and registration records waiting for the tracker."""
    return Path(database).parent / "spool"
