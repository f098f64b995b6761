-- agent-viz-monitor event store: the current schema, applied whole to a new database.
-- Older databases reach the same shape through store/migrations (see store/migrate.py);
-- tests/store/test_migrations.py checks that both paths give identical schemas.

CREATE TABLE IF NOT EXISTS schema_version (
    version    INTEGER NOT NULL,
    applied_at TEXT NOT NULL
);

CREATE TABLE sessions (
    id                  INTEGER PRIMARY KEY,
    session_key         TEXT NOT NULL UNIQUE,       -- '<agent>:<key from the transcript path>' or 'registered:<uuid>'
    agent               TEXT NOT NULL DEFAULT 'unknown',
    agent_session_id    TEXT,                       -- the agent's own session id (was copilot_session_id)
    project_dir         TEXT,
    task_file           TEXT,
    spawned_at          TEXT,
    spawned_by          TEXT,
    status              TEXT NOT NULL DEFAULT 'unknown'
                        CHECK (status IN ('running','idle','waiting','completed','crashed','stopped','unknown')),
    importance          TEXT NOT NULL DEFAULT 'normal',
    pid                 INTEGER,
    pid_started_at      TEXT,
    last_activity       TEXT,
    transcript_path     TEXT,
    parent_session_id   INTEGER REFERENCES sessions(id) ON DELETE SET NULL,
    parent_tool_call_id TEXT,
    ended_at            TEXT,
    git_branch          TEXT,
    model               TEXT,
    agent_version       TEXT,
    title               TEXT,
    tmux_target         TEXT,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    started_at          TEXT                        -- the first transcript timestamp (created_at is the row's insert)
);
CREATE INDEX idx_sessions_status ON sessions(status);
CREATE INDEX idx_sessions_parent ON sessions(parent_session_id) WHERE parent_session_id IS NOT NULL;
CREATE INDEX idx_sessions_agent_session ON sessions(agent, agent_session_id);

-- One row per tool call (completed in place), message, usage record, error, …
-- The rowid key keeps inserts append-only in the table b-tree; natural-key uniqueness is
-- (session_id, agent_event_id), so re-reading a transcript from byte 0 adds nothing.
-- session_id is the integer key of sessions: a text key repeated in five indexes made each
-- row ~600 bytes and each 1000-event batch dirty ~1300 pages (bench/bench_store.py).
CREATE TABLE events (
    id                    INTEGER PRIMARY KEY,
    session_id            INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    agent_event_id        TEXT NOT NULL,            -- the agent's event id (was copilot_event_id)
    parent_event_id       TEXT,
    timestamp             TEXT NOT NULL,            -- ISO-8601 UTC with milliseconds
    event_type            TEXT NOT NULL,
    tool_name             TEXT,
    tool_call_id          TEXT,
    tool_arguments        TEXT,                     -- JSON
    file_path             TEXT,
    operation             TEXT,
    command               TEXT,
    command_category      TEXT,
    status                TEXT,                     -- pending | success | error for tool calls
    duration_ms           INTEGER,
    exit_code             INTEGER,
    model                 TEXT,
    input_tokens          INTEGER,
    output_tokens         INTEGER,
    cache_read_tokens     INTEGER,
    cache_creation_tokens INTEGER,
    source                TEXT NOT NULL DEFAULT 'transcript',
    source_offset         INTEGER,
    raw_data              TEXT,                     -- JSON, capped
    created_at            TEXT NOT NULL,
    reasoning_tokens      INTEGER,                  -- thinking tokens (Codex: part of output; Gemini: beside it)
    cache_creation_1h_tokens INTEGER,               -- the part of cache_creation_tokens written for 1 hour
    wait_ms               INTEGER,                  -- time a tool call waited for permission (not in duration_ms)
    preview               TEXT,                     -- a message's first characters, redacted
    UNIQUE (session_id, agent_event_id)
);
-- The seed's five query paths, each index-backed (tests/store/test_schema.py shows the plans).
CREATE INDEX idx_events_session_time ON events(session_id, timestamp);
CREATE INDEX idx_events_file ON events(file_path) WHERE file_path IS NOT NULL;
CREATE INDEX idx_events_category ON events(command_category) WHERE command_category IS NOT NULL;
-- A Claude call's key is its call id: the natural key finds it, and only the other rows are here.
CREATE INDEX idx_events_tool_call ON events(session_id, tool_call_id)
    WHERE tool_call_id IS NOT NULL AND tool_call_id != agent_event_id;
CREATE INDEX idx_events_type ON events(event_type, timestamp);
-- A Claude response replayed in another session's file is counted once (store/cross_session.py).
CREATE INDEX idx_events_usage_key ON events(agent_event_id) WHERE event_type = 'usage';
-- Usage reports read only this (store/reads/usage.py): usage rows in time order, every figure inside.
CREATE INDEX idx_events_usage ON events(timestamp, session_id, model, input_tokens, output_tokens,
    cache_creation_tokens, cache_creation_1h_tokens, cache_read_tokens, reasoning_tokens, event_type)
    WHERE event_type = 'usage';

-- Tool results whose call row is not stored yet; applied when it is.
CREATE TABLE pending_results (
    session_id   INTEGER NOT NULL,
    tool_call_id TEXT NOT NULL,
    timestamp    TEXT NOT NULL,
    status       TEXT NOT NULL,
    duration_ms  INTEGER,
    exit_code    INTEGER,
    PRIMARY KEY (session_id, tool_call_id)
) WITHOUT ROWID;

-- Tailing state per transcript file, committed in the same transaction as its events.
CREATE TABLE files (
    path          TEXT PRIMARY KEY,
    agent         TEXT NOT NULL,
    session_id    INTEGER,
    dev           INTEGER,
    inode         INTEGER,
    offset        INTEGER NOT NULL DEFAULT 0,
    head_hash     TEXT,
    head_len      INTEGER,
    marker_hash   TEXT,
    parser_state  TEXT,                             -- JSON from the parser's state()
    size          INTEGER,
    lines         INTEGER NOT NULL DEFAULT 0,
    problems      INTEGER NOT NULL DEFAULT 0,
    oversized     INTEGER NOT NULL DEFAULT 0,
    resets        INTEGER NOT NULL DEFAULT 0,
    deleted_at    TEXT,
    updated_at    TEXT NOT NULL
);

-- Lines that could not be used: never silently dropped.
CREATE TABLE parse_problems (
    id         INTEGER PRIMARY KEY,
    file_path  TEXT NOT NULL,
    offset     INTEGER NOT NULL,
    reason     TEXT NOT NULL,
    prefix     TEXT,
    created_at TEXT NOT NULL,
    UNIQUE (file_path, offset, reason)
);

-- Optional sinks (store/sink_local.py): how far each has shipped, and the rows updated in
-- place since (filled by triggers that exist only while a sink is enabled).
CREATE TABLE sink_cursors (
    sink          TEXT PRIMARY KEY,
    event_cursor  INTEGER NOT NULL DEFAULT 0,           -- events.id shipped up to
    change_cursor INTEGER NOT NULL DEFAULT 0,           -- sink_changes.seq shipped up to
    shipped_rows  INTEGER NOT NULL DEFAULT 0,
    shipped_at    TEXT,
    updated_at    TEXT NOT NULL
);
CREATE TABLE sink_changes (
    seq        INTEGER PRIMARY KEY,                     -- commit order
    kind       TEXT NOT NULL,                           -- event | session
    row_id     INTEGER NOT NULL,
    changed_at TEXT NOT NULL
);

CREATE VIEW file_activity AS
SELECT session_id,
       file_path,
       COUNT(*)                                         AS total_operations,
       SUM(CASE WHEN operation = 'read'   THEN 1 ELSE 0 END) AS reads,
       SUM(CASE WHEN operation = 'write'  THEN 1 ELSE 0 END) AS writes,
       SUM(CASE WHEN operation = 'edit'   THEN 1 ELSE 0 END) AS edits,
       SUM(CASE WHEN operation = 'delete' THEN 1 ELSE 0 END) AS deletes,
       SUM(CASE WHEN operation = 'search' THEN 1 ELSE 0 END) AS searches,
       MAX(CASE WHEN operation IN ('write', 'edit', 'delete') THEN timestamp END) AS last_modified,
       MAX(timestamp)                                   AS last_access
FROM events
-- The unary + keeps the planner off idx_events_type, so "WHERE session_id = ?" on the view reads
-- only that session's rows through idx_events_session_time instead of every session's file ops.
WHERE +event_type = 'file_op' AND file_path IS NOT NULL
GROUP BY session_id, file_path;

CREATE VIEW command_stats AS
SELECT session_id,
       command_category,
       COUNT(*)                                         AS count,
       AVG(duration_ms)                                 AS avg_duration,
       MIN(timestamp)                                   AS first_execution,
       MAX(timestamp)                                   AS last_execution,
       SUM(CASE WHEN status = 'error' THEN 1 ELSE 0 END) AS failures
FROM events
WHERE +event_type = 'command' AND command_category IS NOT NULL
GROUP BY session_id, command_category;

-- Tokens per local day, agent and model. Codex reports reasoning inside output_tokens (as OpenAI
-- bills it); Gemini reports its thoughts beside output, so they are added to its total.
CREATE VIEW usage_daily AS
SELECT date(e.timestamp, 'localtime')                   AS date,
       s.agent                                          AS agent,
       COALESCE(e.model, 'unknown')                     AS model,
       COALESCE(SUM(e.input_tokens), 0)                 AS input_tokens,
       COALESCE(SUM(e.output_tokens), 0)                AS output_tokens,
       COALESCE(SUM(e.cache_creation_tokens), 0)        AS cache_creation_tokens,
       COALESCE(SUM(e.cache_read_tokens), 0)            AS cache_read_tokens,
       COALESCE(SUM(e.reasoning_tokens), 0)             AS reasoning_tokens,
       COALESCE(SUM(COALESCE(e.input_tokens, 0) + COALESCE(e.output_tokens, 0)
                    + COALESCE(e.cache_creation_tokens, 0) + COALESCE(e.cache_read_tokens, 0)
                    + CASE WHEN s.agent = 'gemini' THEN COALESCE(e.reasoning_tokens, 0) ELSE 0 END),
                0)                                      AS total_tokens,
       COUNT(*)                                         AS usage_events,
       COUNT(DISTINCT e.session_id)                     AS sessions
FROM events AS e JOIN sessions AS s ON s.id = e.session_id
WHERE e.event_type = 'usage'
GROUP BY 1, 2, 3;
