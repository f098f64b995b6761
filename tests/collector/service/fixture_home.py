"""Every real transcript fixture of the four agents, laid out where each agent writes them."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.collector.service.daemon_harness import FIXTURES, Instance

__all__ = ["lay_out"]


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)


def _claude(root: Path) -> None:
    base = FIXTURES / "claude"
    for path in sorted(base.glob("*.jsonl")):
        _copy(path, root / f"-proj-{path.stem}" / path.name)
    for layout in ("layout-v2.1-subagents", "legacy-agent-layout"):
        shutil.copytree(base / layout, root, dirs_exist_ok=True)
    shutil.copytree(base / "incremental" / "codemie-subagents-turn2", root / "-proj-incremental",
                    dirs_exist_ok=True)  # fmt: skip


def _codex(root: Path) -> None:
    for path in sorted((FIXTURES / "codex").rglob("*.jsonl")):
        _copy(path, root / "2026" / "01" / "02" / path.name)


def _copilot(root: Path) -> None:
    base = FIXTURES / "copilot"
    for path in sorted(base.rglob("events.jsonl")):
        _copy(path, root / path.parent.name / "events.jsonl")
    for path in sorted(base.rglob("*.jsonl")):
        if path.name != "events.jsonl":
            _copy(path, root / path.name)


def _gemini(root: Path) -> None:
    for path in sorted((FIXTURES / "gemini").rglob("*.json*")):
        if path.name != "logs.json":
            _copy(path, root / path.parent.name / "chats" / path.name)


def lay_out(instance: Instance) -> dict[str, Path]:
    """Copy every fixture under the instance's HOME; returns each agent's root."""
    home = instance.home
    roots = {
        "claude-code": instance.claude,
        "codex": instance.codex,
        "copilot": home / ".copilot" / "session-state",
        "gemini": home / ".gemini" / "tmp",
    }
    _claude(roots["claude-code"])
    _codex(roots["codex"])
    _copilot(roots["copilot"])
    _gemini(roots["gemini"])
    return roots
