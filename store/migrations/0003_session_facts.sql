-- Version 3: session start time, reasoning and 1-hour cache tokens, permission wait, message
-- previews, and the usage_daily view. Columns are added in place (no table rebuild), so a large
-- store upgrades in milliseconds; started_at is filled from the rows already stored.
ALTER TABLE sessions ADD COLUMN started_at TEXT;
ALTER TABLE events ADD COLUMN reasoning_tokens INTEGER;
ALTER TABLE events ADD COLUMN cache_creation_1h_tokens INTEGER;
ALTER TABLE events ADD COLUMN wait_ms INTEGER;
ALTER TABLE events ADD COLUMN preview TEXT;
UPDATE sessions SET started_at = (
    SELECT MIN(e.timestamp) FROM events AS e
    WHERE e.session_id = sessions.id AND e.event_type != 'status_change');
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
