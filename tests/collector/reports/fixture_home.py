"""Every fixture transcript laid out in a HOME as the four agents write them, ingested once by
``run --once``; and ccusage (from the npm registry) run on the same HOME."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from tests.collector.service.daemon_harness import FIXTURES, Instance

__all__ = ["CCUSAGE_VERSION", "FixtureHome", "ccusage_binary"]

# 20.0.26's native linux-x64 build is not on the registry; .ci/run installs this one.
CCUSAGE_VERSION = "20.0.24"
REPO = Path(__file__).resolve().parents[3]
CCUSAGE_DIR = REPO / ".cache" / "ccusage"


def ccusage_binary() -> Path | None:
    """ccusage installed by .ci/run (or here, with npm) into the repository's cache folder."""
    found = Path(os.environ.get("CCUSAGE_BIN") or CCUSAGE_DIR / "node_modules/.bin/ccusage")
    if found.exists():
        return found
    if shutil.which("npm") is None:
        return None
    CCUSAGE_DIR.mkdir(parents=True, exist_ok=True)
    subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(CCUSAGE_DIR),
                    f"ccusage@{CCUSAGE_VERSION}"], capture_output=True, timeout=300,
                   check=False)  # fmt: skip
    return found if found.exists() else None


class FixtureHome:
    """The fixtures under ``root/home`` and the store ``run --once`` made of them."""

    def __init__(self, root: Path) -> None:
        self.instance = Instance(root)
        home = self.instance.home
        self.codex = home / ".codex" / "sessions" / "2026" / "01" / "01"
        self._lay_out(home)
        done = self.instance.run("run", "--once", timeout=120)
        assert done.returncode == 0, done.stderr

    def _lay_out(self, home: Path) -> None:
        claude, source = self.instance.claude, FIXTURES / "claude"
        for path in source.glob("*.jsonl"):
            target = claude / f"-p-{path.stem}" / path.name
            target.parent.mkdir(parents=True)
            shutil.copyfile(path, target)
        for layout in ("layout-v2.1-subagents", "legacy-agent-layout"):
            shutil.copytree(source / layout, claude, dirs_exist_ok=True)
        shutil.copytree(source / "incremental" / "codemie-subagents-turn2", claude / "-inc")
        self.codex.mkdir(parents=True)
        for path in (FIXTURES / "codex").glob("*.jsonl"):
            shutil.copyfile(path, self.codex / f"rollout-{path.name}")
        shutil.copytree(FIXTURES / "copilot" / "session-state", home / ".copilot" / "session-state")
        chats = home / ".gemini" / "tmp" / "proj" / "chats"
        chats.mkdir(parents=True)
        for path in (FIXTURES / "gemini" / "legacy-json").glob("session-*.json"):
            shutil.copyfile(path, chats / path.name)

    def ccusage(self, binary: Path, *args: str) -> Any:
        env = {k: v for k, v in self.instance.env.items()
               if k not in ("CLAUDE_CONFIG_DIR", "CODEX_HOME")}  # fmt: skip
        env["TZ"] = "UTC"
        done = subprocess.run([str(binary), *args, "--json", "--offline"], env=env,
                              capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def ccusage_period(self, agent: str, path: str, agent_session_id: str | None) -> str:
        """The name ccusage gives the session a transcript belongs to."""
        file = Path(path)
        if agent == "claude-code":
            parts = file.parts
            return parts[-3] if "subagents" in parts else file.stem
        if agent == "codex":
            base = self.instance.home / ".codex" / "sessions"
            return str(file.relative_to(base).with_suffix(""))
        if agent == "copilot":
            return file.parent.name
        return str(agent_session_id)
