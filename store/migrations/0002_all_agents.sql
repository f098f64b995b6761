-- Version 2: every agent, integer session ids (the seed's text id becomes session_key),
-- natural-key uniqueness, tailing state.
-- Tables are rebuilt (SQLite's documented 12-step procedure) because the events key changes
-- from a random TEXT id to the rowid and copilot_* columns are generalised.
DROP VIEW file_activity;
DROP VIEW command_stats;
ALTER TABLE sessions RENAME TO sessions_v1;
ALTER TABLE events RENAME TO events_v1;
DROP INDEX idx_events_session_time;
DROP INDEX idx_events_file;
DROP INDEX idx_events_category;
DROP INDEX idx_events_tool_call;
DROP INDEX idx_events_type;
-- @schema: the version-2 tables, indexes and views (migrations/0002_schema.sql)
INSERT INTO sessions (session_key, agent, agent_session_id, project_dir, task_file, spawned_at, spawned_by,
                      status, importance, pid, last_activity, created_at, updated_at)
SELECT id, 'copilot', copilot_session_id, project_dir, task_file, spawned_at, spawned_by,
       CASE WHEN status IN ('running','idle','waiting','completed','crashed','stopped','unknown')
            THEN status ELSE 'unknown' END,
       COALESCE(importance, 'normal'), pid, last_activity, created_at, updated_at
FROM sessions_v1;
INSERT OR IGNORE INTO events (session_id, agent_event_id, parent_event_id, timestamp, event_type,
                    tool_name, tool_call_id, tool_arguments, file_path, operation, command,
                    command_category, status, duration_ms, source, raw_data, created_at)
SELECT s.id, COALESCE(e.copilot_event_id, e.id), e.parent_event_id, e.timestamp, e.event_type,
       e.tool_name, e.tool_call_id, e.tool_arguments, e.file_path, e.operation, e.command,
       e.command_category, e.status, e.duration_ms, COALESCE(e.source, 'transcript'),
       e.raw_data, e.created_at
FROM events_v1 AS e JOIN sessions AS s ON s.session_key = e.session_id
ORDER BY e.created_at, e.rowid;
DROP TABLE events_v1;
DROP TABLE sessions_v1;
