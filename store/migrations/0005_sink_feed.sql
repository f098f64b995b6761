-- Version 5: the change feed of optional sinks (a team PostgreSQL). New tables only, so a large
-- store upgrades in milliseconds. The triggers that fill sink_changes are not part of the
-- schema: store/sink_local.py installs them only while a sink is enabled, so a store without a
-- sink pays nothing per write.
CREATE TABLE sink_cursors (
    sink          TEXT PRIMARY KEY,
    event_cursor  INTEGER NOT NULL DEFAULT 0,
    change_cursor INTEGER NOT NULL DEFAULT 0,
    shipped_rows  INTEGER NOT NULL DEFAULT 0,
    shipped_at    TEXT,
    updated_at    TEXT NOT NULL
);
CREATE TABLE sink_changes (
    seq        INTEGER PRIMARY KEY,
    kind       TEXT NOT NULL,
    row_id     INTEGER NOT NULL,
    changed_at TEXT NOT NULL
);
