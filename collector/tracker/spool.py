"""The spool: small JSON files that commands write and the daemon's tracker ingests.

The ``hook`` and ``register`` commands run while the daemon owns the database's only write
connection, and must work when no daemon runs at all. So they never touch SQLite: each writes
one record to ``<database folder>/spool/`` and returns. The tracker reads the folder on every
tick, applies the records and deletes each file once what it caused is committed (or it turned
out to be moot), so a daemon restart re-reads what was not yet applied.

One file per record, written under a dot-name and renamed into place: a reader never sees half a
record, no two writers share a file (no ``O_APPEND`` interleaving, no lock), and deleting an
applied record cannot lose one written meanwhile. Names start with the write time in
nanoseconds, so sorting by name is arrival order. The folder sits beside the database (0700)
so a spool belongs to exactly one database: two instances never consume each other's records.

The ``hook`` writes a record on every Claude Code hook event and its start-up is its cost, so
this module imports only ``os`` and ``time`` at first: the hook encodes its record itself
(``hook_call``) and hands the bytes to ``write_encoded``; ``json`` and ``pathlib`` load where
the other writers and the reader use them.
"""

from __future__ import annotations

import os
import time

from collector.atomic import write_atomic

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Container, Mapping
    from pathlib import Path
    from typing import Any

__all__ = [
    "SPOOL_VERSION",
    "read_records",
    "record_names",
    "remove",
    "write_encoded",
    "write_record",
]

SPOOL_VERSION = 1
_STALE_TEMP = 3600.0  # a dot-file older than this is a writer that died mid-write


def write_record(directory: Path, record: Mapping[str, Any], *, durable: bool = False) -> Path:
    """Write ``record`` atomically into ``directory``; returns its path.

    ``durable`` adds an fsync (registrations); hooks skip it to stay fast.
    """
    import json
    from pathlib import Path

    data = json.dumps({"v": SPOOL_VERSION, **record}, separators=(",", ":")).encode()
    return Path(write_encoded(directory, data, durable=durable))


def write_encoded(directory: str | os.PathLike[str], data: bytes, *, durable: bool = False) -> str:
    """Write one record already encoded as JSON (with ``"v": SPOOL_VERSION``) atomically into
    ``directory``, made 0700 when missing; returns its path."""
    os.makedirs(directory, mode=0o700, exist_ok=True)
    name = f"{time.time_ns():020d}-{os.getpid()}-{os.urandom(4).hex()}.json"
    final = os.path.join(directory, name)
    write_atomic(final, data, fsync=durable)
    return final


def record_names(directory: Path) -> list[str]:
    """The names of the records in ``directory``, in arrival order (half-written ones left out,
    and dropped once stale)."""
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return []
    for name in names:
        if name.startswith("."):
            _drop_stale_temp(directory / name)
    return [n for n in names if n.endswith(".json") and not n.startswith(".")]


def read_records(
    directory: Path, skip: Container[str] = ()
) -> list[tuple[Path, dict[str, Any] | None]]:
    """The records in ``directory`` not named in ``skip``, in arrival order; None for a file
    that is not a record."""
    from pathlib import Path

    directory = Path(directory)
    return [(directory / n, _load(directory / n)) for n in record_names(directory) if n not in skip]


def _load(path: Path) -> dict[str, Any] | None:
    import json

    try:
        value = json.loads(path.read_bytes())
    except (OSError, ValueError):  # ValueError: not JSON, or not UTF-8
        return None
    return value if isinstance(value, dict) else None


def _drop_stale_temp(path: Path) -> None:
    try:
        if time.time() - path.stat().st_mtime > _STALE_TEMP:
            path.unlink()
    except OSError:
        return  # gone meanwhile


def remove(path: Path) -> None:
    """Delete an applied record; a missing file is fine."""
    try:
        path.unlink()
    except OSError:
        return  # gone already, or not ours to delete
