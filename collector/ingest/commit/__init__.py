"""Committing: the one writer thread, its retry, isolation and memory-release units, and the
WAL checkpointer that runs beside it."""
