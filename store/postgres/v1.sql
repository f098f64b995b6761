-- agent-viz-monitor central schema, version 1: every machine's sessions and events.
-- The local columns (local ids included, meaningful only with machine_id), plus machine_id and
-- session_key, the natural key across machines. Times stay ISO-8601 UTC text as stored locally
-- (they sort as times; cast with ::timestamptz where a time type is wanted).
-- event_cursor/change_cursor: how far this machine's local store has shipped, committed with
-- each batch; a shipper finding them behind its own cursor (a restored backup, a recreated
-- schema, a new database) ships everything again.
CREATE TABLE machines (
    machine_id    text PRIMARY KEY,
    label         text,
    first_seen    timestamptz NOT NULL DEFAULT now(),
    last_seen     timestamptz NOT NULL DEFAULT now(),
    event_cursor  bigint NOT NULL DEFAULT 0,
    change_cursor bigint NOT NULL DEFAULT 0
);
CREATE TABLE sessions (
    machine_id          text NOT NULL,
    session_key         text NOT NULL,
    id                  bigint NOT NULL,
    agent               text NOT NULL,
    agent_session_id    text,
    project_dir         text,
    task_file           text,
    spawned_at          text,
    spawned_by          text,
    status              text NOT NULL,
    importance          text NOT NULL,
    pid                 bigint,
    pid_started_at      text,
    last_activity       text,
    transcript_path     text,
    parent_session_id   bigint,
    parent_tool_call_id text,
    ended_at            text,
    git_branch          text,
    model               text,
    agent_version       text,
    title               text,
    tmux_target         text,
    created_at          text NOT NULL,
    updated_at          text NOT NULL,
    started_at          text,
    parent_session_key  text,
    shipped_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (machine_id, session_key)
);
CREATE INDEX sessions_status ON sessions (status);
CREATE INDEX sessions_agent_session ON sessions (agent, agent_session_id);
CREATE INDEX sessions_last_activity ON sessions (last_activity);
CREATE TABLE events (
    machine_id               text NOT NULL,
    session_key              text NOT NULL,
    id                       bigint NOT NULL,
    session_id               bigint NOT NULL,
    agent_event_id           text NOT NULL,
    parent_event_id          text,
    timestamp                text NOT NULL,
    event_type               text NOT NULL,
    tool_name                text,
    tool_call_id             text,
    tool_arguments           text,
    file_path                text,
    operation                text,
    command                  text,
    command_category         text,
    status                   text,
    duration_ms              bigint,
    exit_code                bigint,
    model                    text,
    input_tokens             bigint,
    output_tokens            bigint,
    cache_read_tokens        bigint,
    cache_creation_tokens    bigint,
    source                   text NOT NULL,
    source_offset            bigint,
    raw_data                 text,
    created_at               text NOT NULL,
    reasoning_tokens         bigint,
    cache_creation_1h_tokens bigint,
    wait_ms                  bigint,
    preview                  text,
    shipped_at               timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (machine_id, session_key, agent_event_id)
);
CREATE INDEX events_session_time ON events (machine_id, session_key, timestamp);
CREATE INDEX events_file ON events (file_path) WHERE file_path IS NOT NULL;
CREATE INDEX events_category ON events (command_category) WHERE command_category IS NOT NULL;
CREATE INDEX events_tool_call ON events (machine_id, session_key, tool_call_id)
    WHERE tool_call_id IS NOT NULL;
CREATE INDEX events_type ON events (event_type, timestamp);

CREATE VIEW file_activity AS
SELECT machine_id, session_key, min(session_id) AS session_id, file_path,
       count(*)                                        AS total_operations,
       count(*) FILTER (WHERE operation = 'read')      AS reads,
       count(*) FILTER (WHERE operation = 'write')     AS writes,
       count(*) FILTER (WHERE operation = 'edit')      AS edits,
       count(*) FILTER (WHERE operation = 'delete')    AS deletes,
       count(*) FILTER (WHERE operation = 'search')    AS searches,
       max(timestamp) FILTER (WHERE operation IN ('write', 'edit', 'delete')) AS last_modified,
       max(timestamp)                                  AS last_access
FROM events
WHERE event_type = 'file_op' AND file_path IS NOT NULL
GROUP BY machine_id, session_key, file_path;

CREATE VIEW command_stats AS
SELECT machine_id, session_key, min(session_id) AS session_id, command_category,
       count(*)                                        AS count,
       avg(duration_ms)                                AS avg_duration,
       min(timestamp)                                  AS first_execution,
       max(timestamp)                                  AS last_execution,
       count(*) FILTER (WHERE status = 'error')        AS failures
FROM events
WHERE event_type = 'command' AND command_category IS NOT NULL
GROUP BY machine_id, session_key, command_category;

-- Tokens per day (in the reading session's TimeZone), agent and model, per machine; usage_daily
-- adds the machines up. Gemini's thoughts are reported beside output, so they join its total.
CREATE VIEW usage_daily_by_machine AS
SELECT to_char(e.timestamp::timestamptz, 'YYYY-MM-DD')  AS date,
       e.machine_id,
       s.agent,
       coalesce(e.model, 'unknown')                      AS model,
       coalesce(sum(e.input_tokens), 0)                  AS input_tokens,
       coalesce(sum(e.output_tokens), 0)                 AS output_tokens,
       coalesce(sum(e.cache_creation_tokens), 0)         AS cache_creation_tokens,
       coalesce(sum(e.cache_read_tokens), 0)             AS cache_read_tokens,
       coalesce(sum(e.reasoning_tokens), 0)              AS reasoning_tokens,
       coalesce(sum(coalesce(e.input_tokens, 0) + coalesce(e.output_tokens, 0)
                    + coalesce(e.cache_creation_tokens, 0) + coalesce(e.cache_read_tokens, 0)
                    + CASE WHEN s.agent = 'gemini' THEN coalesce(e.reasoning_tokens, 0) ELSE 0 END),
                0)                                       AS total_tokens,
       count(*)                                          AS usage_events,
       count(DISTINCT e.session_key)                     AS sessions
FROM events AS e
JOIN sessions AS s ON s.machine_id = e.machine_id AND s.session_key = e.session_key
WHERE e.event_type = 'usage'
GROUP BY 1, 2, 3, 4;

CREATE VIEW usage_daily AS
SELECT date, agent, model,
       sum(input_tokens)::bigint           AS input_tokens,
       sum(output_tokens)::bigint          AS output_tokens,
       sum(cache_creation_tokens)::bigint  AS cache_creation_tokens,
       sum(cache_read_tokens)::bigint      AS cache_read_tokens,
       sum(reasoning_tokens)::bigint       AS reasoning_tokens,
       sum(total_tokens)::bigint           AS total_tokens,
       sum(usage_events)::bigint           AS usage_events,
       sum(sessions)::bigint               AS sessions,
       count(DISTINCT machine_id)          AS machines
FROM usage_daily_by_machine
GROUP BY date, agent, model;
