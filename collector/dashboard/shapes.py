"""Shapes of the API's answers that are computed, not read: pure functions over rows.

- The file tree nests ``file_activity`` rows by path component; a folder's counts are the sums
  of its files', its ``last_modified`` the latest of theirs; the single-folder chain at the top
  (``/home/me/project``) is folded into one root so the tree starts where the files differ.
- Command statistics add the p50/p95 durations (``store.reads.lookups.command_spread``) and
  the failure rate to the view's count and average.
- A session item adds the running totals (events, tool calls, errors, tokens), the cost and the
  current tool to the session row.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from config.agents import reasoning_beside_output
from store.reads.lookups import Spread

__all__ = ["TOKEN_COLUMNS", "command_stats", "file_tree", "session_item"]

Row = dict[str, Any]
COUNTS = ("reads", "writes", "edits", "deletes", "searches")
TOKEN_COLUMNS = ("input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens",
                 "reasoning_tokens")  # fmt: skip
_TOOL_TYPES = frozenset({"file_op", "command", "tool_call"})


def file_tree(rows: Iterable[Row]) -> Row:
    """Nested ``{name, type, path, children, operations, reads, …, last_modified}`` nodes."""
    root = _node("/", "directory", "/")
    for row in rows:
        path = str(row["file_path"])
        parts = [part for part in path.split("/") if part]
        node = root
        for depth, part in enumerate(parts):
            is_file = depth == len(parts) - 1
            node = _child(node, part, "file" if is_file else "directory", parts[: depth + 1])
        if not parts:
            continue
        _add(node, row)
    _sum(root)
    return _fold(root)


def _node(name: str, kind: str, path: str) -> Row:
    return {"name": name, "type": kind, "path": path, "children": [], "operations": 0,
            **dict.fromkeys(COUNTS, 0), "last_modified": None, "last_access": None}  # fmt: skip


def _child(parent: Row, name: str, kind: str, parts: Sequence[str]) -> Row:
    index: dict[tuple[str, str], Row] = parent.setdefault("_index", {})
    found = index.get((name, kind))
    if found is None:
        found = index[(name, kind)] = _node(name, kind, "/" + "/".join(parts))
        parent["children"].append(found)
    return found


def _add(node: Row, row: Row) -> None:
    node["operations"] += int(row.get("total_operations") or 0)
    for key in COUNTS:
        node[key] += int(row.get(key) or 0)
    node["last_modified"] = _latest(node["last_modified"], row.get("last_modified"))
    node["last_access"] = _latest(node["last_access"], row.get("last_access"))


def _sum(node: Row) -> None:
    node.pop("_index", None)
    for child in node["children"]:
        _sum(child)
        if node["type"] == "directory":
            _add(node, {**child, "total_operations": child["operations"]})
    node["children"].sort(key=lambda c: (c["type"] != "directory", c["name"]))


def _fold(root: Row) -> Row:
    node = root
    while len(node["children"]) == 1 and node["children"][0]["type"] == "directory":
        child = node["children"][0]
        node = {**child, "name": child["path"]}
    return node


def _latest(a: str | None, b: str | None) -> str | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


def command_stats(view_rows: Iterable[Row], spread: Mapping[tuple[int, str], Spread]) -> list[Row]:
    """The ``command_stats`` rows with p50/p95 duration and failure rate per category."""
    out = []
    for row in view_rows:
        p50, p95 = spread.get((row["session_id"], row["command_category"]), Spread(None, None))
        count = int(row["count"] or 0)
        failures = int(row.get("failures") or 0)
        out.append({**row, "p50_duration": p50, "p95_duration": p95,
                    "failure_rate": failures / count if count else None})  # fmt: skip
    return out


def session_item(row: Row, sums: Sequence[int] | None, cost: float | None, last: Row | None) -> Row:
    """A session with its totals (``sums`` as ``reads.session_totals`` orders them)."""
    values = list(sums) if sums is not None else [0] * 8
    tokens = dict(zip(TOKEN_COLUMNS, values[3:8], strict=True))
    total = sum(values[3:7]) + (values[7] if reasoning_beside_output(row.get("agent")) else 0)
    current = None
    if last is not None and last.get("status") == "pending" and last["event_type"] in _TOOL_TYPES:
        current = {"tool_name": last.get("tool_name"), "since": last.get("timestamp"),
                   "detail": last.get("command") or last.get("file_path")}  # fmt: skip
    return {**row, "event_count": values[0], "tool_calls": values[1], "errors": values[2],
            "tokens": {**tokens, "total_tokens": total}, "total_tokens": total,
            "cost_usd": cost, "current_tool": current}  # fmt: skip
