"""Ingest: from file-system notifications to committed rows.

The watcher only marks transcript files dirty and discovery's periodic rescan is the
truth; the tailer reads complete lines from an exact byte offset, the reader thread
parses them and feeds the writer's two-lane bounded queue, and the writer thread
commits events and file checkpoints in one SQLite transaction while the checkpointer
copies the WAL back into the database on its own thread.
"""
