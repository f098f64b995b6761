"""Reads of the store for its readers: the query commands (lookups, follow), the tracker's
activity view, usage reports and the dashboard. Read-only connections; every statement here."""
