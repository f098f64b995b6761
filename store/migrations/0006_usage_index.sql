-- Version 6: a covering index of usage events, so usage reports read a few MB of index in time
-- order instead of visiting every usage row's page of the events table (bench/bench_usage.py).
-- event_type is in it too: SQLite 3.40 reads the table to check a partial index's own WHERE
-- term unless the column is in the index.
CREATE INDEX idx_events_usage ON events(timestamp, session_id, model, input_tokens, output_tokens,
    cache_creation_tokens, cache_creation_1h_tokens, cache_read_tokens, reasoning_tokens, event_type)
    WHERE event_type = 'usage';
