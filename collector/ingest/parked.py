"""What a transcript not open right now keeps: where it resumes, and its parser's state.

Most of the 20,000 files an idle daemon watches are parked: no descriptor, no tail, no parser,
only a ``SavedFile``. Its parser state stays packed (deflated JSON) until the file is opened
again: 20,000 idle transcripts must not cost 20,000 dicts.
"""

from __future__ import annotations

import struct
import zlib
from typing import Any

import orjson

from collector.ingest.checkpoint import Checkpoint
from collector.ingest.discovery import FoundFile

__all__ = ["SavedFile", "decode_state", "pack_state", "saved_has_news", "unpack_state"]


class SavedFile:
    """A file's resumable state: committed (from the ``files`` table at start-up) or handed on
    (a caught-up file parked to free its tail and parser).

    Kept compact because an idle daemon holds one per quiet transcript: the checkpoint is one
    bytes value (device, inode, offset and head length, then the two SHA-256 digests raw, 96
    bytes) instead of a ``Checkpoint`` with two 64-character hex strings (~420 bytes), and the
    parser state may stay packed JSON until the file is opened again. Immutable by convention.
    """

    __slots__ = ("_cp", "live", "parser_state", "session_key")

    def __init__(
        self,
        checkpoint: Checkpoint | None,
        parser_state: dict[str, Any] | str | bytes | None,  # bytes: pack_state() of the JSON
        live: bool = False,
        session_key: str | None = None,
    ) -> None:
        self._cp = _pack_checkpoint(checkpoint)
        self.parser_state = parser_state
        self.live = live
        # The session its lines belong to when not the one its path names: a file renamed
        # within a root stays in the session it started in.
        self.session_key = session_key

    @property
    def checkpoint(self) -> Checkpoint | None:
        """Where it resumes, with the fingerprints that prove it is still the same file."""
        cp = self._cp
        if cp is None or isinstance(cp, Checkpoint):
            return cp
        dev, inode, offset, head_len = _POSITION.unpack_from(cp)
        at = _POSITION.size
        head, marker = cp[at : at + 32].hex(), cp[at + 32 :].hex()
        return Checkpoint(dev, inode, offset, head, head_len, marker)

    def position(self) -> tuple[int, int, int] | None:
        """(dev, inode, offset) of the checkpoint, without building it (a rescan's question)."""
        cp = self._cp
        if cp is None or isinstance(cp, Checkpoint):
            return None if cp is None else (cp.dev, cp.inode, cp.offset)
        dev, inode, offset, _ = _POSITION.unpack_from(cp)
        return dev, inode, offset

    def without_session(self) -> SavedFile:
        """The same state in the session its path names (the usual case: nothing to keep)."""
        return SavedFile(self.checkpoint, self.parser_state, self.live)


_POSITION = struct.Struct("<QQQQ")  # dev, inode, offset, head_len
_HEX = frozenset("0123456789abcdef")


def _pack_checkpoint(cp: Checkpoint | None) -> bytes | Checkpoint | None:
    """The 96-byte form of ``cp``; a checkpoint whose hashes are not SHA-256 hex (none written
    by this version) is kept as it is."""
    if cp is None:
        return None
    hashes = cp.head_hash + cp.marker_hash
    if len(hashes) != 128 or not _HEX.issuperset(hashes) or max(cp.dev, cp.inode) >= 1 << 64:
        return cp
    position = _POSITION.pack(cp.dev, cp.inode, cp.offset, cp.head_len)
    return position + bytes.fromhex(hashes)


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
    position = saved.position()
    if position is None:
        return True
    return (found.dev, found.inode, found.size) != position
