"""Optional sinks: threads that ship what the writer committed to somewhere else (a team's
PostgreSQL), reading the local store after their own cursor (store.sink_local)."""
