-- Version 4: one Claude response is counted once across the whole store. An index finds the
-- stored copy of a response key; replays already stored in other Claude sessions become
-- zero-token duplicates of the first copy (which takes their larger counts), as the writer now
-- does (store/cross_session.py).
CREATE INDEX idx_events_usage_key ON events(agent_event_id) WHERE event_type = 'usage';
CREATE TEMP TABLE replay_rows AS
SELECT e.id, e.session_id, e.agent_event_id
FROM events AS e JOIN sessions AS s ON s.id = e.session_id
WHERE e.event_type = 'usage' AND s.agent = 'claude-code'
  AND e.agent_event_id LIKE 'usage:%' AND e.agent_event_id NOT LIKE 'usage:line:%';
CREATE TEMP TABLE replay_first AS
SELECT agent_event_id, MIN(id) AS first_id
FROM temp.replay_rows
GROUP BY agent_event_id
HAVING COUNT(DISTINCT session_id) > 1;
UPDATE events SET
    input_tokens = (SELECT MAX(o.input_tokens) FROM events AS o JOIN temp.replay_rows AS r ON r.id = o.id WHERE r.agent_event_id = events.agent_event_id),
    output_tokens = (SELECT MAX(o.output_tokens) FROM events AS o JOIN temp.replay_rows AS r ON r.id = o.id WHERE r.agent_event_id = events.agent_event_id),
    cache_read_tokens = (SELECT MAX(o.cache_read_tokens) FROM events AS o JOIN temp.replay_rows AS r ON r.id = o.id WHERE r.agent_event_id = events.agent_event_id),
    cache_creation_tokens = (SELECT MAX(o.cache_creation_tokens) FROM events AS o JOIN temp.replay_rows AS r ON r.id = o.id WHERE r.agent_event_id = events.agent_event_id),
    cache_creation_1h_tokens = (SELECT MAX(o.cache_creation_1h_tokens) FROM events AS o JOIN temp.replay_rows AS r ON r.id = o.id WHERE r.agent_event_id = events.agent_event_id)
WHERE id IN (SELECT first_id FROM temp.replay_first);
UPDATE events SET
    input_tokens = 0, output_tokens = 0, cache_read_tokens = 0, cache_creation_tokens = 0,
    reasoning_tokens = 0, cache_creation_1h_tokens = 0,
    tool_arguments = json_object('duplicate_of_session',
        (SELECT f.session_id FROM events AS f JOIN temp.replay_first AS p ON f.id = p.first_id
         WHERE p.agent_event_id = events.agent_event_id))
WHERE id IN (
    SELECT r.id FROM temp.replay_rows AS r JOIN temp.replay_first AS p USING (agent_event_id)
    JOIN events AS f ON f.id = p.first_id
    WHERE r.session_id != f.session_id);
DROP TABLE temp.replay_first;
DROP TABLE temp.replay_rows;
