"""What a transcript not open right now keeps: where it resumes, and its parser's state.

Most of the 20,000 files an idle daemon watches are parked: no descriptor, no tail, no parser,
only a ``SavedFile``. Its parser state stays packed (deflated JSON) until the file is opened
again: 20,000 idle transcripts must not cost 20,000 dicts. Once the writer has committed the
last chunk a parked file handed on, its ``files`` row holds that same state, and memory keeps
only ``IN_STORE`` (read back when the file wakes): ~200 B less per quiet transcript, 3.9 MB at
20,000 (bench/bench_idle.py --heap). Until then the state stays here: a file parked right after
a send must not resume from an older row.
"""

from __future__ import annotations

import functools
import struct
import zlib
from collections.abc import Callable, MutableMapping
from typing import Any, Final, Protocol

import orjson

from collector.ingest.checkpoint import Checkpoint
from collector.ingest.discovery import FoundFile

__all__ = [
    "IN_STORE", "Handover", "ParkedStates", "SavedFile", "decode_state", "pack_state",
    "saved_has_news", "unpack_state",
]  # fmt: skip


class _InStore:
    """The type of ``IN_STORE``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "IN_STORE"


# A parked file's parser state is the one its committed ``files`` row holds (read it back
# before resuming the file, under the path it was parked as).
IN_STORE: Final = _InStore()
State = dict[str, Any] | str | bytes | _InStore | None  # bytes: pack_state() of the JSON


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
        parser_state: State,
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
        return self._with(self.parser_state, None)

    def with_state(self, state: State) -> SavedFile:
        """The same position with ``state`` as its parser state."""
        return self._with(state, self.session_key)

    def resolved(self, load: Callable[[], str | None]) -> SavedFile:
        """Itself, or with a state kept ``IN_STORE`` read back (``load``: its row's JSON)."""
        if self.parser_state is not IN_STORE:
            return self
        return self._with(load(), self.session_key)

    def record(self) -> bytes | None:
        """Its fixed-size form but for ``session_key`` (``RECORD_BYTES``: flags, then the
        96-byte checkpoint or zeros) when it has one: a state ``IN_STORE`` or none, a SHA-256
        checkpoint or none, as nearly every quiet transcript (collector.ingest.parked_files)."""
        cp, state = self._cp, self.parser_state
        if isinstance(cp, Checkpoint):
            return None
        if state is not None and not isinstance(state, _InStore):
            return None
        flags = (_HAS_CP if cp else 0) | (_LIVE if self.live else 0) | (_STORED if state else 0)
        return bytes((flags,)) + (cp or _NO_CP)

    @classmethod
    def from_record(
        cls, record: bytes | bytearray | memoryview, session_key: str | None = None
    ) -> SavedFile:
        """The SavedFile whose ``record()`` this is, in ``session_key``."""
        flags = record[0]
        cp = bytes(record[1:RECORD_BYTES]) if flags & _HAS_CP else None
        state = IN_STORE if flags & _STORED else None
        return cls._make(cp, state, bool(flags & _LIVE), session_key)

    def _with(self, state: State, session_key: str | None) -> SavedFile:
        return SavedFile._make(self._cp, state, self.live, session_key)

    @classmethod
    def _make(
        cls, cp: bytes | Checkpoint | None, state: State, live: bool, session_key: str | None
    ) -> SavedFile:
        twin = cls.__new__(cls)
        twin._cp, twin.parser_state, twin.live, twin.session_key = cp, state, live, session_key
        return twin


RECORD_BYTES = 97  # SavedFile.record(): one byte of flags, the 96-byte packed checkpoint
_HAS_CP, _LIVE, _STORED = 1, 2, 4
_NO_CP = bytes(RECORD_BYTES - 1)


class Handover:
    """How many chunks of one open file went to the writer, and how many it has committed:
    when the two agree, the file's ``files`` row holds the state it last handed on."""

    __slots__ = ("committed", "sent")

    def __init__(self) -> None:
        self.sent = 0
        self.committed = 0  # written by the writer thread only

    def hand(self, then: Callable[[], None] | None = None) -> Callable[[], None]:
        """Count one more chunk handed on; its ``on_commit`` (runs ``then`` too)."""
        self.sent += 1

        def committed() -> None:
            self.committed += 1
            if then is not None:
                then()

        return committed

    @property
    def settled(self) -> bool:
        """Has every chunk handed on been committed."""
        return self.committed == self.sent


class StoredStates(Protocol):
    """Where committed parser states are read back (store.checkpoints.StoredStates)."""

    def state_of(self, path: str) -> str | None: ...

    def release_idle(self, now: float) -> None: ...

    def close(self) -> None: ...


class ParkedStates:
    """Where parked files' parser states live: packed in memory until the writer has committed
    the last chunk a file handed on, then only in its ``files`` row (``stored`` reads them back;
    without it every state stays in memory). Reader thread only."""

    __slots__ = ("_stored", "_unsettled")

    def __init__(self, stored: StoredStates | None) -> None:
        self._stored = stored
        self._unsettled: dict[str, tuple[Handover, SavedFile]] = {}

    def park(
        self, saved: MutableMapping[str, SavedFile], path: str, sent: SavedFile,
        handover: Handover, session_key: str | None,
    ) -> SavedFile:  # fmt: skip
        """Park ``path`` at ``sent`` (what it last handed on) in ``saved``; the SavedFile."""
        state = sent.parser_state
        settled = self._stored is not None and handover.settled
        if settled:
            state = IN_STORE  # its files row holds it: every chunk handed on is committed
        elif not isinstance(state, bytes | _InStore):  # bytes: still packed (woke, read nothing)
            state = pack_state(state)
        parked = saved[path] = SavedFile(sent.checkpoint, state, True, session_key)
        if not settled and self._stored is not None:
            self._unsettled[path] = (handover, parked)
        return parked

    def resolved(self, path: str, saved: SavedFile) -> SavedFile:
        """``saved`` (parked as ``path``) with a state kept ``IN_STORE`` read back."""
        if self._stored is None:
            return saved
        return saved.resolved(functools.partial(self._stored.state_of, path))

    def sweep(self, saved: MutableMapping[str, SavedFile], now: float) -> int:
        """Once in a while: the states of parked files now settled go ``IN_STORE`` (how many
        did), and an unused connection is closed. A file woken or moved since it parked
        (``saved[path]`` is another object, or none) took its state with it."""
        if self._stored is not None:
            self._stored.release_idle(now)
        if not self._unsettled:
            return 0
        waiting: dict[str, tuple[Handover, SavedFile]] = {}  # a new dict: after a backfill, a
        settled = 0  # 20,000-slot table emptied in place would stay allocated
        for path, (handover, parked) in self._unsettled.items():
            if saved.get(path) is not parked:
                continue
            if handover.settled:
                saved[path] = parked.with_state(IN_STORE)
                settled += 1
            else:
                waiting[path] = (handover, parked)
        self._unsettled = waiting
        return settled

    def close(self) -> None:
        """Close the store's connection if open; idempotent."""
        if self._stored is not None:
            self._stored.close()


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


def decode_state(state: State) -> dict[str, Any] | None:
    """A saved parser state as the parser takes it; a damaged one is None (its defaults).
    ``IN_STORE`` must have been read back first (``SavedFile.resolved``)."""
    if isinstance(state, _InStore):
        raise ValueError("parser state still in the store: resolve it first")
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
