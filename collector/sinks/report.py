"""The ``sinks`` part of ``status``: the daemon's word on each sink's state and last error,
and the store's word on its lag (fresh from the database, even with no daemon running)."""

from __future__ import annotations

from typing import Any

from store.sink_local import SinkLag

__all__ = ["print_sinks", "sinks_report"]


def sinks_report(live: dict[str, Any], lags: dict[str, SinkLag]) -> dict[str, Any]:
    """Per sink: ``state``, ``lag_rows``, ``lag_seconds``, ``last_error`` and details."""
    out: dict[str, Any] = {}
    for name in sorted(set(live) | set(lags)):
        facts = dict(live.get(name) or {})
        lag = lags.get(name)
        entry = {
            "state": facts.pop("state", None) or "stopped",  # no daemon ships it now
            "lag_rows": lag.rows if lag else facts.get("lag_rows"),
            "lag_seconds": lag.seconds() if lag else facts.get("lag_seconds"),
            "last_error": facts.pop("last_error", None),
            "shipped_at": lag.cursor.shipped_at if lag else facts.get("shipped_at"),
            "shipped_rows": lag.cursor.shipped_rows if lag else facts.get("shipped_rows"),
        }
        for key in ("last_error_at", "error_kind", "fix", "machine_id", "label", "server_version"):
            entry[key] = facts.get(key)
        out[name] = entry
    return out


def print_sinks(sinks: dict[str, Any]) -> None:
    """The human lines of the sinks."""
    for name, s in sinks.items():
        lag = f"{s['lag_rows']} rows" if s["lag_rows"] is not None else "?"
        if s.get("lag_seconds"):
            lag += f", oldest {s['lag_seconds']:.0f}s"
        print(f"sink:      {name} {s['state']}, lag {lag}, shipped {s['shipped_at'] or 'never'}")
        if s["last_error"] and s["state"] != "caught_up":
            print(f"  last error ({s.get('last_error_at') or '?'}): {s['last_error']}")
