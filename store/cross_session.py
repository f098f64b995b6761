"""Facts that span sessions, applied inside the writer's transaction (``store.batch``).

- **One Claude response is counted once in the whole store.** Claude Code replays a message
  (same ``message.id`` and ``requestId``) in other files: sidechains, ``/btw`` side questions, a
  resumed or copied session. ccusage dedupes those across all files; the per-session natural key
  alone cannot. The first session that stores a response keeps its tokens (merged by maximum, as
  repeated snapshots are); a replay elsewhere is stored as a zero-token ``usage`` row whose
  ``tool_arguments`` names the session that counts it, so the row stays visible and a re-read is
  still a no-op.
- **A subagent placeholder lives in its parent's project.** A child announced by its parent
  (a Task call) has no transcript of its own yet; it inherits the parent's ``project_dir`` and
  ``git_branch`` until its own lines say otherwise (its own facts overwrite, see batch upsert).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence

import msgspec
import orjson

from store.records import Event

__all__ = ["TOKEN_COLUMNS", "inherit_parent_facts", "replayed_usage"]

_CLAUDE = "claude-code:"
# The token counts of a usage row: merged by maximum, never summed (store.batch).
TOKEN_COLUMNS = (
    "input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens",
    "reasoning_tokens", "cache_creation_1h_tokens",
)  # fmt: skip
_MERGE_INTO_FIRST = (
    "UPDATE events SET "
    + ", ".join(f"{t} = max(COALESCE({t}, 0), COALESCE(?, 0))" for t in TOKEN_COLUMNS)
    + " WHERE session_id = ? AND agent_event_id = ? AND event_type = 'usage'"
)


def _is_response_key(event: Event) -> bool:
    """A Claude usage row keyed by the response (``usage:<message.id>:<requestId>``)."""
    return (
        event.event_type == "usage"
        and event.session_id.startswith(_CLAUDE)
        and event.agent_event_id.startswith("usage:")
        and not event.agent_event_id.startswith("usage:line:")
    )


def replayed_usage(
    conn: sqlite3.Connection, events: list[Event], resolve: Callable[[str], int]
) -> list[Event]:
    """``events`` with each replayed Claude response turned into a zero-token duplicate.

    ``resolve`` maps a session key to its id. The first copy's tokens absorb the replay's by
    maximum, so the store holds the largest snapshot whichever file is read first.
    """
    wanted = [i for i, e in enumerate(events) if e.event_type == "usage" and _is_response_key(e)]
    if not wanted:
        return events
    owners = _stored_owners(conn, [events[i].agent_event_id for i in wanted])
    out = list(events)
    for i in wanted:
        event = events[i]
        session = resolve(event.session_id)
        owner = owners.setdefault(event.agent_event_id, session)
        if owner == session:
            continue
        conn.execute(_MERGE_INTO_FIRST, (*(getattr(event, t) for t in TOKEN_COLUMNS), owner,
                                         event.agent_event_id))  # fmt: skip
        note = orjson.dumps({"duplicate_of_session": owner}).decode()
        out[i] = msgspec.structs.replace(
            event, tool_arguments=note, input_tokens=0, output_tokens=0, cache_read_tokens=0,
            cache_creation_tokens=0, reasoning_tokens=0, cache_creation_1h_tokens=0,
        )  # fmt: skip
    return out


def _stored_owners(conn: sqlite3.Connection, keys: Sequence[str]) -> dict[str, int]:
    """For each response key already stored, the session holding its first (counted) copy."""
    owners: dict[str, int] = {}
    unique = list(dict.fromkeys(keys))
    for start in range(0, len(unique), 500):
        chunk = unique[start : start + 500]
        marks = ", ".join("?" for _ in chunk)
        # INDEXED BY: with an ORDER BY the planner prefers idx_events_type and reads every
        # usage row of the store (bench/bench_backfill.py: 2 s of a 3 s backfill).
        rows = conn.execute(
            f"SELECT id, agent_event_id, session_id FROM events INDEXED BY idx_events_usage_key "
            f"WHERE event_type = 'usage' AND agent_event_id IN ({marks})",
            chunk,
        ).fetchall()
        for _, key, session in sorted(rows, key=lambda row: int(row[0])):
            owners.setdefault(key, session)
    return owners


# The sessions named and their children, found through the key and parent indexes (an OR of
# the two made the planner scan every child session of the store for each batch).
_INHERIT = """
UPDATE sessions SET
    project_dir = COALESCE(sessions.project_dir, parent.project_dir),
    git_branch = COALESCE(sessions.git_branch, parent.git_branch)
FROM sessions AS parent
WHERE parent.id = sessions.parent_session_id
  AND ((sessions.project_dir IS NULL AND parent.project_dir IS NOT NULL)
       OR (sessions.git_branch IS NULL AND parent.git_branch IS NOT NULL))
  AND sessions.id IN (SELECT id FROM sessions WHERE session_key IN ({marks})
                      UNION ALL
                      SELECT child.id FROM sessions AS named
                      JOIN sessions AS child ON child.parent_session_id = named.id
                      WHERE named.session_key IN ({marks}))
"""


def inherit_parent_facts(conn: sqlite3.Connection, keys: Sequence[str]) -> None:
    """Children (of) the sessions ``keys`` take their parent's project and branch where unset."""
    unique = list(dict.fromkeys(keys))
    for start in range(0, len(unique), 400):
        chunk = unique[start : start + 400]
        marks = ", ".join("?" for _ in chunk)
        conn.execute(_INHERIT.format(marks=marks), [*chunk, *chunk])
