"""How other processes tell the tracker which process is whose agent.

Claude Code's hook (``install-hooks`` puts it in Claude Code's settings; each call writes one spool
record, importing only the standard library so the prompt it blocks waits as little as possible)
and orchestrators' ``register``. Both write the tracker's spool (``collector.tracker.spool``),
which needs no daemon and no lock; the tracker reads it.
"""
