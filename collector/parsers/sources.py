"""Which transcript a file is, decided from where it lives under an agent's root.

Layouts (see ../shared/docs/transcript-formats.md §1.1, §2.1, §3.1, §4.1):

- Claude Code ``projects/<enc-cwd>/<uuid>.jsonl``; subagents ``<uuid>/subagents/agent-<id>.jsonl``
  (≥ 2.1.2, with an ``agent-<id>.meta.json`` sidecar) or the older sibling
  ``<enc-cwd>/agent-<id>.jsonl``.
- Codex ``sessions/YYYY/MM/DD/rollout-<local-time>-<uuid>.jsonl``.
- Copilot ``session-state/<uuid>/events.jsonl`` or the flat ``session-state/<uuid>.jsonl``.
- Gemini ``tmp/<project>/chats/<name>.jsonl`` (≥ 0.39) or ``<name>.json`` (whole-file JSON,
  rewritten on every update); subagents ``chats/<parent>/<id>.jsonl``.

Our session id is ``<agent>:<key>`` where the key comes from the path, so it is known before the
first line is read and a Claude file holding several ``sessionId`` values (resume) stays one
session. Pure: string work only, no file system access.
"""

from __future__ import annotations

import re
from pathlib import PurePath

import msgspec

from collector.parsers.base import load
from config.agents import by_name

__all__ = ["SourceFile", "classify", "classify_claude", "classify_codex", "classify_copilot",
           "classify_gemini"]  # fmt: skip

_UUID_TAIL = re.compile(r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$", re.I)


class SourceFile(msgspec.Struct, frozen=True):
    """A transcript file and what the path alone tells about it."""

    agent: str  # a name in the agents table (config.agents)
    path: str
    session_id: str
    kind: str = "jsonl"  # jsonl | json-document (re-read whole when it changes)
    parent_session_id: str | None = None
    subagent_id: str | None = None  # Claude agentId from the file name, Gemini child id
    sidecar_path: str | None = None  # Claude ``agent-<id>.meta.json``, Gemini ``.project_root``


def classify(agent: str, root: str, path: str) -> SourceFile | None:
    """Return what ``path`` is under ``root`` for ``agent``, or None when it is not a transcript
    (the agent's classifier, named by its row in ``config.agents``, decides)."""
    row = by_name(agent)
    if row is None:
        return None
    parts = _parts_under(root, path)
    if not parts:
        return None
    found: SourceFile | None = load(row.classify)(path, parts)
    return found


def _parts_under(root: str, path: str) -> tuple[str, ...]:
    """``PurePath(path).relative_to(root).parts`` (the last four parts when ``path`` is not under
    ``root``) with string operations: ``PurePath`` interns every part, and the interpreter's
    table of interned strings, grown by 20,000 file names, never shrinks (1.9 MB of an idle
    daemon's RSS, bench/bench_idle.py)."""
    names = [p for p in path.split("/") if p and p != "."]
    base = [p for p in root.split("/") if p and p != "."]
    absolute = path.startswith("/")
    if absolute == root.startswith("/") and names[: len(base)] == base:
        return tuple(names[len(base) :])
    return tuple((["/"] if absolute else []) + names)[-4:]


def classify_claude(path: str, parts: tuple[str, ...]) -> SourceFile | None:
    """Claude Code: a session, a subagent (new or legacy layout), or None."""
    name = parts[-1]
    if not name.endswith(".jsonl"):
        return None
    stem = name[: -len(".jsonl")]
    if len(parts) >= 3 and parts[-2] == "subagents" and stem.startswith("agent-"):
        parent = parts[-3]
        return SourceFile(
            agent="claude-code",
            path=path,
            session_id=f"claude-code:{parent}/{stem}",
            parent_session_id=f"claude-code:{parent}",
            subagent_id=stem[len("agent-") :],
            sidecar_path=path[: -len(".jsonl")] + ".meta.json",
        )
    if stem.startswith("agent-"):
        # Legacy sibling layout: the parent is named inside the lines (``sessionId``).
        return SourceFile(
            agent="claude-code",
            path=path,
            session_id=f"claude-code:{stem}",
            subagent_id=stem[len("agent-") :],
        )
    return SourceFile(agent="claude-code", path=path, session_id=f"claude-code:{stem}")


def classify_codex(path: str, parts: tuple[str, ...]) -> SourceFile | None:
    """Codex: a rollout file (keyed by the uuid at the end of its name), or None."""
    name = parts[-1]
    if not name.endswith(".jsonl"):
        return None  # .jsonl.zst archives are not tailed
    stem = name[: -len(".jsonl")]
    found = _UUID_TAIL.search(stem)
    return SourceFile(agent="codex", path=path, session_id=f"codex:{found[1] if found else stem}")


def classify_copilot(path: str, parts: tuple[str, ...]) -> SourceFile | None:
    """Copilot: a session folder's ``events.jsonl`` or a flat ``<uuid>.jsonl``, or None."""
    name = parts[-1]
    if name == "events.jsonl" and len(parts) >= 2:
        return SourceFile(agent="copilot", path=path, session_id=f"copilot:{parts[-2]}")
    if name.endswith(".jsonl"):
        return SourceFile(agent="copilot", path=path, session_id=f"copilot:{name[:-6]}")
    return None


def classify_gemini(path: str, parts: tuple[str, ...]) -> SourceFile | None:
    """Gemini: a chat (JSONL or whole-file JSON) or a subagent's chat, or None."""
    name = parts[-1]
    if name.endswith(".jsonl"):
        stem, kind = name[: -len(".jsonl")], "jsonl"
    elif name.endswith(".json") and name != "logs.json":
        stem, kind = name[: -len(".json")], "json-document"
    else:
        return None
    if "chats" not in parts:
        return None
    at = len(parts) - 1 - parts[::-1].index("chats")
    project = "/".join(parts[:at]) or "_"
    inner = parts[at + 1 : -1]
    folders = PurePath(path).parents  # <project>/.project_root holds the project's path
    depth = len(inner) + 1
    marker = str(folders[depth] / ".project_root") if len(folders) > depth else None
    if inner:  # chats/<parent>/<id>.jsonl is a subagent of <parent>
        parent = f"gemini:{project}/{'/'.join(inner)}"
        return SourceFile(
            agent="gemini",
            path=path,
            session_id=f"{parent}/{stem}",
            kind=kind,
            parent_session_id=parent,
            subagent_id=stem,
            sidecar_path=marker,
        )
    return SourceFile(agent="gemini", path=path, session_id=f"gemini:{project}/{stem}", kind=kind,
                      sidecar_path=marker)  # fmt: skip
