"""Configuration: TOML file plus environment overrides into frozen msgspec Structs, and the
exception tree shared by every package."""

from typing import TYPE_CHECKING, Any

from config.errors import (
    ConfigError,
    InstanceLockedError,
    MonitorError,
    SchemaVersionError,
    StoreError,
    StoreOpenError,
)

if TYPE_CHECKING:
    from config.loader import load_config
    from config.model import Config


def __getattr__(name: str) -> Any:
    """``load_config`` and ``Config`` load on first use, so that importing the
    light parts (``config.paths``, ``config.errors``) does not load the TOML reader and the
    model: the ``hook`` command, run on every Claude Code hook event, needs only the paths."""
    if name == "load_config":
        from config.loader import load_config

        return load_config
    if name == "Config":
        from config import model

        return getattr(model, name)
    raise AttributeError(f"module 'config' has no attribute {name!r}")


__all__ = [
    "Config",
    "ConfigError",
    "InstanceLockedError",
    "MonitorError",
    "SchemaVersionError",
    "StoreError",
    "StoreOpenError",
    "load_config",
]
