"""What a transcript not open right now keeps: where it resumes, and its parser's state.

Most of the 20,000 files an idle daemon watches are parked: no descriptor, no tail, no parser,
only a ``SavedFile``. Its parser state stays packed (deflated JSON) until the file is opened
again: 20,000 idle transcripts must not cost 20,000 dicts (R15).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

import orjson

from collector.ingest.discovery import FoundFile
from collector.ingest.tail import Checkpoint

__all__ = ["SavedFile", "decode_state", "pack_state", "saved_has_news", "unpack_state"]


@dataclass(frozen=True, slots=True)
class SavedFile:
    """A file's resumable state: committed (from the ``files`` table at start-up) or handed on
    (a caught-up file parked to free its tail and parser). The parser state may stay JSON text
    until the file is opened again: 20,000 idle transcripts must not cost 20,000 dicts."""

    checkpoint: Checkpoint | None
    parser_state: dict[str, Any] | str | bytes | None  # bytes: pack_state() of the JSON
    live: bool = False
    # The session its lines belong to when not the one its path names: a file renamed within
    # a root stays in the session it started in (R11).
    session_key: str | None = None

    def without_session(self) -> SavedFile:
        """The same state in the session its path names (the usual case: nothing to keep)."""
        return SavedFile(self.checkpoint, self.parser_state, self.live)


# Parked parser states are kept deflated against a dictionary of the parsers' state keys: a
# Claude state of ~440 B of JSON becomes ~140 B, which at 20,000 idle transcripts is 6 MB of
# RSS (bench/bench_idle.py), for ~20 µs when a file parks and ~7 µs when it wakes. Only ever
# in memory, so the dictionary may change between versions.
_STATE_ZDICT = (
    b'"mirror":{},"replay":false,"replay_ms":null,"running":{},"stdin":{},"title":null,"tokens":'
    b'[0,0,0,0,0,0],"v":1,"segment_output":{},"pending":null,"version":"0.45.0",'
    b'"sidechain":false,"tasks":{},"version":"2.0.76"}{"agent_session_id":"","announced":true,'
    b'"children":[],"custom_title":false,"cwd":"/home/","first_ts":"2025-06-01T00:00:00.000Z",'
    b'"git_branch":"main","last_ts":"2025-06-01T00:00:00.000Z","last_usage":null,"model":null,'
    b'"parent":null,"project_dir":"/home/'
)
_STATE_WBITS = -10  # raw deflate, 1 KiB window: the states are small


def pack_state(state: dict[str, Any] | str | None) -> bytes | None:
    """A parser state (or its JSON text), deflated for keeping while its file is parked."""
    if state is None:
        return None
    data = orjson.dumps(state) if isinstance(state, dict) else state.encode()
    packer = zlib.compressobj(1, zlib.DEFLATED, _STATE_WBITS, 2, zlib.Z_DEFAULT_STRATEGY,
                              _STATE_ZDICT)  # fmt: skip
    return packer.compress(data) + packer.flush()


def unpack_state(packed: bytes) -> str:
    """The JSON text ``pack_state`` was given."""
    unpacker = zlib.decompressobj(_STATE_WBITS, _STATE_ZDICT)
    return (unpacker.decompress(packed) + unpacker.flush()).decode()


def decode_state(state: dict[str, Any] | str | bytes | None) -> dict[str, Any] | None:
    """A saved parser state as the parser takes it; a damaged one is None (its defaults)."""
    if isinstance(state, bytes):
        state = unpack_state(state)
    if not isinstance(state, str):
        return state
    try:
        value = orjson.loads(state)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def saved_has_news(saved: SavedFile | None, found: FoundFile) -> bool:
    """May a file not open right now hold bytes past its resumable checkpoint."""
    if saved is None or found.source.kind != "jsonl":
        return True  # never read, or a whole-file document (a hash comparison decides)
    cp = saved.checkpoint
    if cp is None:
        return True
    return found.size != cp.offset or (found.dev, found.inode) != (cp.dev, cp.inode)
