"""This machine's id in the central tables, and its label.

Default id: a keyed hash of ``/etc/machine-id`` (systemd's advice: the raw id is confidential,
so applications derive their own from it), stable across reboots and renames; without one (a
container, macOS) the hash of the host name. The label is the host name, kept beside the id in
the ``machines`` table for people. ``[sinks.postgres] machine`` overrides the id.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from pathlib import Path

__all__ = ["derive_machine_id", "machine_identity"]

_APP_KEY = b"agent-viz-monitor/team-sink/v1"
_ID_FILES = (Path("/etc/machine-id"), Path("/var/lib/dbus/machine-id"))


def derive_machine_id(raw_id: str, hostname: str) -> str:
    """The id for a machine whose machine-id is ``raw_id`` (empty: hash the host name)."""
    import hashlib  # on use: importing them maps OpenSSL (see collector.digests)
    import hmac

    seed = raw_id.strip() or f"host:{hostname}"
    return "m-" + hmac.new(_APP_KEY, seed.encode(), hashlib.sha256).hexdigest()[:20]


def machine_identity(
    configured: str, id_files: Sequence[Path] = _ID_FILES, hostname: str | None = None
) -> tuple[str, str]:
    """``(machine_id, label)``: the configured id, else the derived one; the host name."""
    label = hostname if hostname is not None else socket.gethostname()
    if configured:
        return configured, label
    return derive_machine_id(_first_id(id_files), label), label


def _first_id(id_files: Sequence[Path]) -> str:
    for path in id_files:
        try:
            text = path.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            continue
        if text:
            return text
    return ""
