-- Version 4: one Claude response is counted once across the whole store. An index finds the
-- stored copy of a response key; replays already stored in other sessions become zero-token
-- duplicates of the first copy (which takes their larger counts), as the writer now does.
CREATE INDEX idx_events_usage_key ON events(agent_event_id) WHERE event_type = 'usage';
CREATE TEMP TABLE replay_first AS
SELECT agent_event_id, MIN(id) AS first_id
FROM events
WHERE event_type = 'usage' AND agent_event_id LIKE 'usage:%' AND agent_event_id NOT LIKE 'usage:line:%'
  AND session_id IN (SELECT id FROM sessions WHERE agent = 'claude-code')
GROUP BY agent_event_id
HAVING COUNT(DISTINCT session_id) > 1;
UPDATE events SET
    input_tokens = (SELECT MAX(o.input_tokens) FROM events AS o WHERE o.event_type = 'usage' AND o.agent_event_id = events.agent_event_id),
    output_tokens = (SELECT MAX(o.output_tokens) FROM events AS o WHERE o.event_type = 'usage' AND o.agent_event_id = events.agent_event_id),
    cache_read_tokens = (SELECT MAX(o.cache_read_tokens) FROM events AS o WHERE o.event_type = 'usage' AND o.agent_event_id = events.agent_event_id),
    cache_creation_tokens = (SELECT MAX(o.cache_creation_tokens) FROM events AS o WHERE o.event_type = 'usage' AND o.agent_event_id = events.agent_event_id)
WHERE id IN (SELECT first_id FROM temp.replay_first);
UPDATE events SET
    input_tokens = 0, output_tokens = 0, cache_read_tokens = 0, cache_creation_tokens = 0,
    reasoning_tokens = 0, cache_creation_1h_tokens = 0,
    tool_arguments = json_object('duplicate_of_session',
        (SELECT f.session_id FROM events AS f JOIN temp.replay_first AS r ON f.id = r.first_id
         WHERE r.agent_event_id = events.agent_event_id))
WHERE event_type = 'usage'
  AND agent_event_id IN (SELECT agent_event_id FROM temp.replay_first)
  AND id NOT IN (SELECT first_id FROM temp.replay_first)
  AND session_id != (SELECT f.session_id FROM events AS f JOIN temp.replay_first AS r ON f.id = r.first_id
                     WHERE r.agent_event_id = events.agent_event_id);
DROP TABLE temp.replay_first;
