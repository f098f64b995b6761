"""The ``files`` table: each transcript's committed tailing state (its checkpoint).

A file's row is written in the same transaction as the events read from it (see
``store.commit.commit_batch``), so a checkpoint never runs ahead of its events; at start-up the
daemon reads the rows back to resume every file where the last commit left it.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import orjson

from store.batch import SessionKeys
from store.records import FileUpdate

__all__ = ["SAVED_FIELDS", "saved_files", "upsert_files"]

_UPSERT_FILE = """
INSERT INTO files (path, agent, session_id, dev, inode, offset, head_hash, head_len, marker_hash,
                   parser_state, size, lines, problems, oversized, resets, deleted_at, updated_at)
VALUES (:path, :agent, :session_id, :dev, :inode, :offset, :head_hash, :head_len, :marker_hash,
        :parser_state, :size, :lines, :problems, :oversized, :resets, :deleted_at, :now)
ON CONFLICT (path) DO UPDATE SET
    agent = excluded.agent, session_id = COALESCE(excluded.session_id, session_id),
    dev = excluded.dev, inode = excluded.inode, offset = excluded.offset,
    head_hash = excluded.head_hash, head_len = excluded.head_len,
    marker_hash = excluded.marker_hash, parser_state = excluded.parser_state,
    size = excluded.size, lines = lines + excluded.lines, problems = problems + excluded.problems,
    oversized = oversized + excluded.oversized, resets = resets + excluded.resets,
    deleted_at = excluded.deleted_at, updated_at = excluded.updated_at
"""

# The columns a resumed file needs: its identity and offset, and the parser's packed state.
SAVED_FIELDS = ("path", "dev", "inode", "offset", "head_hash", "head_len", "marker_hash",
                "parser_state")  # fmt: skip


def upsert_files(
    conn: sqlite3.Connection, files: list[FileUpdate], now: str, keys: SessionKeys
) -> None:
    """Write each file's new checkpoint, inside the caller's transaction; line and problem
    counts add to what is stored."""
    conn.executemany(_UPSERT_FILE, [_file_row(conn, f, now, keys) for f in files])


def saved_files(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """The committed checkpoints of the files that still exist (``SAVED_FIELDS`` each)."""
    rows = conn.execute(f"SELECT {', '.join(SAVED_FIELDS)} FROM files WHERE deleted_at IS NULL")
    return [dict(zip(SAVED_FIELDS, row, strict=True)) for row in rows]


def _file_row(
    conn: sqlite3.Connection, f: FileUpdate, now: str, keys: SessionKeys
) -> dict[str, Any]:
    cp = f.checkpoint
    session_id = keys.resolve(conn, f.session_key, now) if f.session_key else None
    return {
        "path": f.path, "agent": f.agent, "session_id": session_id, "dev": cp.get("dev"),
        "inode": cp.get("inode"), "offset": cp.get("offset", 0),
        "head_hash": cp.get("head_hash"), "head_len": cp.get("head_len"),
        "marker_hash": cp.get("marker_hash"),
        "parser_state": orjson.dumps(f.parser_state).decode() if f.parser_state else None,
        "size": f.size, "lines": f.lines, "problems": f.problems, "oversized": f.oversized,
        "resets": int(f.reset), "deleted_at": now if f.deleted else None, "now": now,
    }  # fmt: skip
