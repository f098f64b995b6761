-- Version 7: a Claude tool call's key is its tool call id, so the natural key (session_id,
-- agent_event_id) already finds the call a result completes. The (session_id, tool_call_id)
-- index keeps only the rows whose call id is not their key (Codex, Copilot and Gemini calls,
-- several file operations of one patch): a Claude row no longer writes a second random-key
-- b-tree entry (bench/bench_store.py --workload seed).
DROP INDEX idx_events_tool_call;
CREATE INDEX idx_events_tool_call ON events(session_id, tool_call_id)
    WHERE tool_call_id IS NOT NULL AND tool_call_id != agent_event_id;
