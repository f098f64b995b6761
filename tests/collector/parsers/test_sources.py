"""Which transcript a path is: agent, session key, parent, kind — from the layout alone."""

from __future__ import annotations

import pytest

from collector.parsers.sources import SourceFile, classify

CLAUDE = "/h/.claude/projects"
CODEX = "/h/.codex/sessions"
COPILOT = "/h/.copilot/session-state"
GEMINI = "/h/.gemini/tmp"
UUID = "ef958aa1-0e93-49f0-bb71-150f63befcd1"
ROLLOUT = f"{CODEX}/2026/05/11/rollout-2026-05-11T11-26-55-019e1625-789d-76c0-80ab-3724b5ddb799"

TABLE = [
    # Claude Code: main file, new subagent layout, legacy sibling agent file
    ("claude-code", CLAUDE, f"{CLAUDE}/-src-app/{UUID}.jsonl",
     SourceFile("claude-code", f"{CLAUDE}/-src-app/{UUID}.jsonl", f"claude-code:{UUID}")),
    ("claude-code", CLAUDE, f"{CLAUDE}/-src-app/{UUID}/subagents/agent-a36e.jsonl",
     SourceFile("claude-code", f"{CLAUDE}/-src-app/{UUID}/subagents/agent-a36e.jsonl",
                f"claude-code:{UUID}/agent-a36e", parent_session_id=f"claude-code:{UUID}",
                subagent_id="a36e",
                sidecar_path=f"{CLAUDE}/-src-app/{UUID}/subagents/agent-a36e.meta.json")),
    ("claude-code", CLAUDE, f"{CLAUDE}/-src-app/agent-36541525.jsonl",
     SourceFile("claude-code", f"{CLAUDE}/-src-app/agent-36541525.jsonl",
                "claude-code:agent-36541525", subagent_id="36541525")),
    ("claude-code", CLAUDE, f"{CLAUDE}/-src-app/{UUID}/subagents/agent-a36e.meta.json", None),
    ("claude-code", CLAUDE, f"{CLAUDE}/-src-app/{UUID}/tool-results/x.txt", None),
    # Codex: the session id is the uuid at the end of the rollout name; archives are skipped
    ("codex", CODEX, f"{ROLLOUT}.jsonl",
     SourceFile("codex", f"{ROLLOUT}.jsonl", "codex:019e1625-789d-76c0-80ab-3724b5ddb799")),
    ("codex", CODEX, f"{CODEX}/2026/05/11/rollout-x.jsonl.zst", None),
    # Copilot: directory layout and flat layout name the same session
    ("copilot", COPILOT, f"{COPILOT}/{UUID}/events.jsonl",
     SourceFile("copilot", f"{COPILOT}/{UUID}/events.jsonl", f"copilot:{UUID}")),
    ("copilot", COPILOT, f"{COPILOT}/{UUID}.jsonl",
     SourceFile("copilot", f"{COPILOT}/{UUID}.jsonl", f"copilot:{UUID}")),
    ("copilot", COPILOT, f"{COPILOT}/{UUID}/workspace.yaml", None),
    # Gemini: JSONL, whole-file JSON (same session key: .json -> .jsonl migration), subagent
    ("gemini", GEMINI, f"{GEMINI}/proj/chats/session-1.jsonl",
     SourceFile("gemini", f"{GEMINI}/proj/chats/session-1.jsonl", "gemini:proj/session-1",
                sidecar_path=f"{GEMINI}/proj/.project_root")),
    ("gemini", GEMINI, f"{GEMINI}/proj/chats/session-1.json",
     SourceFile("gemini", f"{GEMINI}/proj/chats/session-1.json", "gemini:proj/session-1",
                kind="json-document", sidecar_path=f"{GEMINI}/proj/.project_root")),
    ("gemini", GEMINI, f"{GEMINI}/proj/chats/session-1/child-2.jsonl",
     SourceFile("gemini", f"{GEMINI}/proj/chats/session-1/child-2.jsonl",
                "gemini:proj/session-1/child-2", parent_session_id="gemini:proj/session-1",
                subagent_id="child-2", sidecar_path=f"{GEMINI}/proj/.project_root")),
    ("gemini", GEMINI, f"{GEMINI}/proj/logs.json", None),
    ("gemini", GEMINI, f"{GEMINI}/proj/chats/../logs.json", None),
    ("nobody", GEMINI, f"{GEMINI}/proj/chats/session-1.jsonl", None),
]  # fmt: skip


class TestClassify:
    """Layouts of every agent, table-driven."""

    @pytest.mark.parametrize(("agent", "root", "path", "expected"), TABLE)
    def test_layout(self, agent: str, root: str, path: str, expected: SourceFile | None) -> None:
        """The path alone decides the agent's transcript kind and our session key."""
        assert classify(agent, root, path) == expected

    def test_path_outside_root_is_still_classified_by_its_tail(self) -> None:
        """A file reached through a symlinked root keeps its layout-derived key."""
        found = classify("claude-code", "/elsewhere", f"{CLAUDE}/-src-app/{UUID}.jsonl")
        assert found is not None
        assert found.session_id == f"claude-code:{UUID}"
