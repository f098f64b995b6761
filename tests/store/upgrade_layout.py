"""The transcripts behind ``tests/fixtures/store/v2-release.db``, laid out under a HOME.

That database was made by the release before schema version 3 (commit a8481ab, ``run --once``
over exactly this layout under ``HOME=/tmp/avm-v2-home``), so an upgrade test can open a store
that an older daemon really wrote, with real fixture data, offsets and parser states in it.
Regenerate it only together with this layout (the command is in ``make_v2_release_db``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
V2_DATABASE = FIXTURES / "store" / "v2-release.db"
V2_HOME = "/tmp/avm-v2-home"

# fixture file (under tests/fixtures) -> where the agent writes it (under HOME)
LAYOUT = {
    "claude/drm-coverage-test-fix.jsonl":
        ".claude/projects/-work-cov/5a0f2c1e-1111-4a4a-9b9b-000000000001.jsonl",
    "claude/drm-hello-world-script.jsonl":
        ".claude/projects/-work-hello/5a0f2c1e-1111-4a4a-9b9b-000000000002.jsonl",
    "claude/layout-v2.1-subagents/-src-experiments-claude_p/"
    "29ccd257-68b1-427f-ae5f-6524b7cb6f20.jsonl":
        ".claude/projects/-src-experiments-claude_p/29ccd257-68b1-427f-ae5f-6524b7cb6f20.jsonl",
    "claude/layout-v2.1-subagents/-src-experiments-claude_p/"
    "29ccd257-68b1-427f-ae5f-6524b7cb6f20/subagents/agent-a2271d1.jsonl":
        ".claude/projects/-src-experiments-claude_p/"
        "29ccd257-68b1-427f-ae5f-6524b7cb6f20/subagents/agent-a2271d1.jsonl",
    "codex/codemie-rollout-2026-01-02T18-39-45-shell.jsonl":
        ".codex/sessions/2026/01/02/"
        "rollout-2026-01-02T18-39-45-0199a0b0-1111-7aaa-8bbb-000000000001.jsonl",
    "codex/simonw-codex-0.77-first-turn.jsonl":
        ".codex/sessions/2025/12/20/"
        "rollout-2025-12-20T10-00-00-0199a0b0-1111-7aaa-8bbb-000000000002.jsonl",
    "copilot/session-state/049410b4-c1df-44ee-87a5-caa1c349091e/events.jsonl":
        ".copilot/session-state/049410b4-c1df-44ee-87a5-caa1c349091e/events.jsonl",
    "copilot/session-state/8b23eac7-b9d0-4c24-8e3c-90f5f8a8d02b/events.jsonl":
        ".copilot/session-state/8b23eac7-b9d0-4c24-8e3c-90f5f8a8d02b/events.jsonl",
    "gemini/schema-coverage/jazzyalex-gemini-jsonl_v040.jsonl":
        ".gemini/tmp/proj/chats/session-2026-01-10T10-00-aaaa1111.jsonl",
    "gemini/legacy-json/session-2026-01-16T11-01-file-ops-37b7abef.json":
        ".gemini/tmp/proj/chats/session-2026-01-16T11-01-file-ops-37b7abef.json",
}  # fmt: skip


def lay_out(home: Path) -> list[Path]:
    """Copy the fixtures into ``home`` where each agent writes them; returns the new paths."""
    out = []
    for source, target in LAYOUT.items():
        path = home / target
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(FIXTURES / source, path)
        out.append(path)
    return out


def make_v2_release_db() -> None:  # pragma: no cover - run by hand, with the old release
    """``git worktree add /tmp/v2rel a8481ab && python3 -m venv /tmp/v2venv &&
    /tmp/v2venv/bin/pip install watchdog orjson structlog psutil && rm -rf /tmp/avm-v2-home &&
    python -c 'from tests.store.upgrade_layout import make_v2_release_db as m; m()'``."""
    import os
    import subprocess

    home = Path(V2_HOME)
    lay_out(home)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "AGENT_VIZ"))}
    env.update({"HOME": str(home), "PYTHONPATH": "/tmp/v2rel"})
    python = "/tmp/v2venv/bin/python"  # a venv without this checkout installed
    subprocess.run([python, "-m", "collector.cli", "run", "--once"], env=env, cwd=home, check=True)
    database = home / ".local/share/agent-viz-monitor/events.db"
    subprocess.run(["sqlite3", str(database), "VACUUM INTO '" + str(V2_DATABASE) + "'"],
                   check=True)  # fmt: skip
