-- Version 1: the seed's schema (Copilot only), as the JavaScript original created it.
-- Kept so that its databases upgrade; new databases get store/schema.sql directly.
CREATE TABLE sessions (
    id                 TEXT PRIMARY KEY,
    copilot_session_id TEXT,
    project_dir        TEXT,
    task_file          TEXT,
    spawned_at         TEXT,
    spawned_by         TEXT,
    status             TEXT NOT NULL DEFAULT 'unknown',
    importance         TEXT NOT NULL DEFAULT 'normal',
    pid                INTEGER,
    last_activity      TEXT,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL
);
CREATE TABLE events (
    id               TEXT PRIMARY KEY,
    session_id       TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    copilot_event_id TEXT,
    parent_event_id  TEXT,
    timestamp        TEXT NOT NULL,
    event_type       TEXT NOT NULL,
    tool_name        TEXT,
    tool_call_id     TEXT,
    tool_arguments   TEXT,
    file_path        TEXT,
    operation        TEXT,
    command          TEXT,
    command_category TEXT,
    status           TEXT,
    duration_ms      INTEGER,
    source           TEXT,
    raw_data         TEXT,
    created_at       TEXT NOT NULL
);
CREATE INDEX idx_events_session_time ON events(session_id, timestamp);
CREATE INDEX idx_events_file ON events(file_path) WHERE file_path IS NOT NULL;
CREATE INDEX idx_events_category ON events(command_category) WHERE command_category IS NOT NULL;
CREATE INDEX idx_events_tool_call ON events(tool_call_id) WHERE tool_call_id IS NOT NULL;
CREATE INDEX idx_events_type ON events(event_type);
CREATE VIEW file_activity AS
SELECT session_id, file_path, COUNT(*) AS total_operations,
       SUM(CASE WHEN operation = 'read' THEN 1 ELSE 0 END) AS reads,
       SUM(CASE WHEN operation = 'write' THEN 1 ELSE 0 END) AS writes,
       SUM(CASE WHEN operation = 'edit' THEN 1 ELSE 0 END) AS edits,
       SUM(CASE WHEN operation = 'delete' THEN 1 ELSE 0 END) AS deletes,
       MAX(timestamp) AS last_modified
FROM events WHERE file_path IS NOT NULL GROUP BY session_id, file_path;
CREATE VIEW command_stats AS
SELECT session_id, command_category, COUNT(*) AS count, AVG(duration_ms) AS avg_duration,
       MIN(timestamp) AS first_execution, MAX(timestamp) AS last_execution
FROM events WHERE command_category IS NOT NULL GROUP BY session_id, command_category;
