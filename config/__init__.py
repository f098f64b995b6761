"""Configuration: TOML file plus environment overrides into frozen dataclasses, and the
exception tree shared by every package."""

from config.errors import (
    ConfigError,
    InstanceLockedError,
    MonitorError,
    SchemaVersionError,
    StoreError,
    StoreOpenError,
)
from config.loader import load_config
from config.model import Config

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
