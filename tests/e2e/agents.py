"""The real agent CLIs: pinned versions, their npm install into a cache, and how each is run
against the mock model on an isolated HOME (../shared/docs/real-agents.md has the facts).

``AVM_E2E_LATEST=1`` installs and runs the newest published version of each instead, so format
drift shows up as a failing test. Installs go to ``<repo>/.cache/e2e/<agent>-<version>/`` (or
``$AVM_E2E_CACHE``); ``.ci/run`` fills the cache before the tests, and a test finding its agent
missing installs it the same way, or skips saying why when npm cannot.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["AGENTS", "Agent", "installed", "setup_home"]

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True, slots=True)
class Agent:
    """One agent CLI: its npm package, the pinned version, and its executable's name."""

    name: str  # our agent name (sessions.agent)
    package: str
    version: str
    binary: str


AGENTS = {
    "claude-code": Agent("claude-code", "@anthropic-ai/claude-code", "2.1.197", "claude"),
    "codex": Agent("codex", "@openai/codex", "0.171.0", "codex"),
    "gemini": Agent("gemini", "@google/gemini-cli", "0.61.0", "gemini"),
    "copilot": Agent("copilot", "@github/copilot", "1.0.102", "copilot"),
}


def latest() -> bool:
    """Run against the newest published versions (``AVM_E2E_LATEST=1``)."""
    return os.environ.get("AVM_E2E_LATEST", "") not in ("", "0")


def cache_root() -> Path:
    return Path(os.environ.get("AVM_E2E_CACHE") or REPO / ".cache" / "e2e")


def _version(agent: Agent) -> str:
    if not latest():
        return agent.version
    found = subprocess.run(["npm", "view", agent.package, "version"], capture_output=True,
                           text=True, timeout=120, check=False)  # fmt: skip
    if found.returncode != 0 or not found.stdout.strip():
        raise RuntimeError(f"npm view {agent.package} failed: {found.stderr.strip()[-300:]}")
    return found.stdout.strip()


def installed(agent: Agent) -> tuple[Path, str] | str:
    """(the executable, its version), installing it into the cache when missing; or the reason
    it cannot be had (no npm, an install that failed)."""
    if shutil.which("npm") is None:
        return "npm is not installed (.ci/run installs nodejs and npm)"
    try:
        version = _version(agent)
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    folder = cache_root() / f"{agent.binary}-{version}"
    binary = folder / "node_modules" / ".bin" / agent.binary
    if not binary.exists():
        failed = _npm_install(agent, version, folder)
        if failed:
            return failed
    probe = subprocess.run([str(binary), "--version"], capture_output=True, text=True,
                           timeout=120, check=False, stdin=subprocess.DEVNULL)  # fmt: skip
    if probe.returncode != 0:  # e.g. a Node.js older than the package needs
        return f"{binary} --version failed: {(probe.stderr or probe.stdout).strip()[-300:]}"
    return binary, version


def _npm_install(agent: Agent, version: str, folder: Path) -> str | None:
    binary = folder / "node_modules" / ".bin" / agent.binary
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--fetch-retries=1", "--prefix",
         str(folder), f"{agent.package}@{version}"],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    if done.returncode != 0 or not binary.exists():
        return f"npm install {agent.package}@{version} failed: {done.stderr.strip()[-500:]}"
    return None


def setup_home(agent: str, home: Path, project: Path, base_url: str) -> dict[str, str]:
    """Write the agent's configuration under ``home``; returns the environment it runs with."""
    env = {
        "HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8", "TERM": "xterm-256color", "NO_COLOR": "1",
    }  # fmt: skip
    if agent == "claude-code":
        env.update(
            ANTHROPIC_BASE_URL=base_url, ANTHROPIC_API_KEY="dummy", IS_SANDBOX="1",
            CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1", DISABLE_TELEMETRY="1",
            DISABLE_AUTOUPDATER="1", DISABLE_ERROR_REPORTING="1",
        )  # fmt: skip
        state = {
            "hasCompletedOnboarding": True, "numStartups": 3, "theme": "dark",
            "customApiKeyResponses": {"approved": ["dummy"], "rejected": []},
            "projects": {str(project): {"hasTrustDialogAccepted": True, "allowedTools": []}},
        }  # fmt: skip
        (home / ".claude.json").write_text(json.dumps(state))
        (home / ".claude").mkdir(exist_ok=True)
    elif agent == "codex":
        (home / ".codex").mkdir(exist_ok=True)
        (home / ".codex" / "config.toml").write_text(
            'model_provider = "mock"\nmodel = "gpt-5-mock"\n[model_providers.mock]\n'
            f'name = "mock"\nbase_url = "{base_url}/v1"\nenv_key = "OPENAI_API_KEY"\n'
            'wire_api = "responses"\n'
        )
        env["OPENAI_API_KEY"] = "dummy"
    elif agent == "gemini":
        (home / ".gemini").mkdir(exist_ok=True)
        settings = {"security": {"auth": {"selectedType": "gemini-api-key"}}}
        (home / ".gemini" / "settings.json").write_text(json.dumps(settings))
        env.update(GEMINI_API_KEY="dummy", GOOGLE_GEMINI_BASE_URL=base_url,
                   GEMINI_CLI_TRUST_WORKSPACE="true", GEMINI_TELEMETRY_ENABLED="false")  # fmt: skip
    elif agent == "copilot":
        env.update(
            COPILOT_PROVIDER_BASE_URL=f"{base_url}/v1", COPILOT_PROVIDER_API_KEY="dummy",
            COPILOT_PROVIDER_WIRE_API="responses", COPILOT_OFFLINE="true",
            COPILOT_MODEL="gpt-5-mock", COPILOT_AUTO_UPDATE="false",
        )  # fmt: skip
    return env


def headless_argv(agent: str, binary: Path, prompt: str) -> list[str]:
    """One non-interactive turn; every tool call allowed (the mock asks for exactly one)."""
    if agent == "claude-code":
        return [str(binary), "-p", prompt, "--dangerously-skip-permissions"]
    if agent == "codex":
        return [str(binary), "exec", "--skip-git-repo-check",
                "--dangerously-bypass-approvals-and-sandbox", prompt]  # fmt: skip
    if agent == "gemini":
        return [str(binary), "-p", prompt, "--yolo"]
    return [str(binary), "-p", prompt, "--allow-all-tools"]


def main() -> int:
    """Install every agent into the cache, side by side (``.ci/run`` calls this first)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(len(AGENTS)) as pool:
        results = list(pool.map(installed, AGENTS.values()))
    for agent, found in zip(AGENTS.values(), results, strict=True):
        if isinstance(found, str):
            print(f"e2e: {agent.name}: {found}")
        else:
            print(f"e2e: {agent.name} {found[1]} at {found[0]}")
    return 1 if any(isinstance(found, str) for found in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
