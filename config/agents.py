"""The table of agents: every fact about one agent that code outside its parser needs.

Each row names the agent, where its transcripts live by default (and the environment variable
that moves them), the parser and path classifier that read them, the program names that tell
the session tracker a process runs it, and its configuration defaults. Everything that lists
the agents (the config's ``[sources.*]`` tables, the CLI's ``--agent`` choices, the store's
agent column, the tracker's process recognition, the parser choice) reads this table, so adding
an agent is one parser module, one row here and its tests (README "Adding an agent").

This is the lowest layer (``config/`` imports nothing of ours above it), so the parser and the
classifier are named as ``module:attribute`` strings that ``collector.parsers`` imports when
first needed. Readers look the table up when they run (``agents.AGENTS``, ``names()``), never
copy it at import time, so a test may replace ``AGENTS`` with a table holding a toy agent.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import msgspec

__all__ = ["AGENTS", "Agent", "aliases", "by_name", "names", "reasoning_beside_output"]


class Agent(msgspec.Struct, frozen=True):
    """One agent's row."""

    name: str  # our name for it: the ``agent`` column, ``[sources.<name>]``, ``--agent``
    home: str  # its folder under HOME, e.g. ".claude"
    transcripts: str  # the folder of transcripts inside ``home``, e.g. "projects"
    parser: str  # "module:Class" built with (source, state, options, sidecar)
    classify: str  # "module:function" (path, parts below the root) -> SourceFile | None
    home_env: str | None = None  # environment variable that replaces ``home`` when set
    binaries: tuple[str, ...] = ()  # argv[0] basenames (or script names) that run it
    packages: tuple[str, ...] = ()  # install-path markers of its entry script (npm packages)
    aliases: tuple[str, ...] = ()  # other spellings people type for ``--agent``
    enabled: bool = True  # the default of ``[sources.<name>] enabled``
    # Its reasoning tokens are counted beside output_tokens, not inside them (billed on top).
    # The ``usage_daily`` view names these agents too (store/schema.sql; a test keeps both equal).
    reasoning_beside_output: bool = False

    def root(self, home: Path, env: Mapping[str, str]) -> Path:
        """Where its transcripts are by default under ``home``, honouring ``home_env``."""
        override = env.get(self.home_env) if self.home_env else None
        return (Path(override) if override else home / self.home) / self.transcripts


_SOURCES = "collector.parsers.sources"

AGENTS: tuple[Agent, ...] = (
    Agent(
        "claude-code", ".claude", "projects", "collector.parsers.claude:ClaudeParser",
        f"{_SOURCES}:classify_claude", home_env="CLAUDE_CONFIG_DIR", binaries=("claude",),
        packages=("/@anthropic-ai/claude-code/",), aliases=("claude", "claude_code", "claudecode"),
    ),
    Agent(
        "codex", ".codex", "sessions", "collector.parsers.codex:CodexParser",
        f"{_SOURCES}:classify_codex", home_env="CODEX_HOME", binaries=("codex",),
        packages=("/@openai/codex/",), aliases=("codex-cli",),
    ),
    Agent(
        "copilot", ".copilot", "session-state", "collector.parsers.copilot:CopilotParser",
        f"{_SOURCES}:classify_copilot", binaries=("copilot",), packages=("/@github/copilot/",),
        aliases=("copilot-cli",),
    ),
    Agent(
        "gemini", ".gemini", "tmp", "collector.parsers.gemini:GeminiParser",
        f"{_SOURCES}:classify_gemini", binaries=("gemini",), packages=("/@google/gemini-cli/",),
        aliases=("gemini-cli",), reasoning_beside_output=True,
    ),
)  # fmt: skip


def names() -> tuple[str, ...]:
    """The agents' names, in table order."""
    return tuple(agent.name for agent in AGENTS)


def by_name(name: str) -> Agent | None:
    """The row named ``name``, or None."""
    return next((agent for agent in AGENTS if agent.name == name), None)


def aliases() -> dict[str, str]:
    """Other spellings of the agents' names (``claude`` → ``claude-code``)."""
    return {alias: agent.name for agent in AGENTS for alias in agent.aliases}


def reasoning_beside_output(name: str | None) -> bool:
    """Whether agent ``name`` counts reasoning tokens beside its output tokens (Gemini)."""
    agent = by_name(name) if name is not None else None
    return agent is not None and agent.reasoning_beside_output
