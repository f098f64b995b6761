"""``install-hooks`` and ``uninstall-hooks`` (Claude Code's settings), and ``hook`` through the
full command line.

The hook itself (what Claude Code runs on every hook event) is ``hook_call``: it must start in a
few milliseconds, so it lives apart from this module's settings handling. ``hook`` comes here
only in the forms the fast path leaves to argparse (``hook codex``), and ``hook_call`` comes here
for the config when a config file exists (``database_for_hook``).

``install-hooks`` merges one command hook for SessionStart, UserPromptSubmit, Notification, Stop
and SessionEnd into Claude Code's ``settings.json`` (``$CLAUDE_CONFIG_DIR`` or ``~/.claude``):
idempotent (an existing agent-viz-monitor hook, of this release or an older one, is updated in
place, never duplicated), other keys and hooks kept, a timestamped backup of the previous file,
an atomic replace. PreToolUse and PostToolUse are left out on purpose: they run on every tool
call and block it. The command it writes runs ``hook_call`` with this installation's
interpreter (``python -P -m collector.hooks.hook_call hook``; ``-P``: not the project folder
Claude Code runs it in on ``sys.path``, which may hold a ``config`` package of its own): the
``agent-viz-monitor`` console script would first import ``re`` and the command-line module, a
third of the hook's time. Older
installed commands (``agent-viz-monitor hook``) keep working and are rewritten on the next
``install-hooks``.

``uninstall-hooks`` removes exactly those entries again (other hooks and keys kept, same backup
and atomic replace). An explicit ``--settings`` file must be in an existing folder: a typo must
not create a tree of folders nobody reads.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from collector.atomic import write_atomic
from collector.hooks import hook_call
from config.errors import ConfigError, MonitorError, UsageError
from config.paths import ENV_PREFIX, config_file, database_file, home, spool_dir

if TYPE_CHECKING:
    import argparse

    from config import Config

__all__ = [
    "HOOK_EVENTS",
    "add_arguments",
    "database_for_hook",
    "hook_command",
    "merge_hooks",
    "remove_hooks",
    "run",
]

HOOK_EVENTS = ("SessionStart", "UserPromptSubmit", "Notification", "Stop", "SessionEnd")
_OUR_MODULES = ("collector.cli", "collector.hooks.hook_call")  # ``python -m`` forms
_HOOK_TIMEOUT = 5  # seconds Claude Code allows our hook (its own timeout field)


def add_arguments(name: str, parser: argparse.ArgumentParser) -> None:
    """Options of ``hook`` and ``install-hooks``."""
    if name == "hook":
        parser.add_argument("agent", nargs="?", default="claude",
                            help="the agent running the hook (claude)")  # fmt: skip
        parser.add_argument("--timeout", type=float, default=1.0,
                            help="seconds to wait for the JSON on stdin")  # fmt: skip
        return
    parser.add_argument(
        "--settings",
        metavar="FILE",
        help="Claude Code settings file (default: ~/.claude/settings.json)",
    )


def run(name: str, args: argparse.Namespace, config: Config | None) -> int:
    """Run ``hook`` (always 0, silent), ``install-hooks`` or ``uninstall-hooks``."""
    if name == "install-hooks":
        return _install(args, config)
    if name == "uninstall-hooks":
        return _uninstall(args)
    database = config.store.path if config is not None else database_file(os.environ)
    return hook_call.run(float(args.timeout), None, str(spool_dir(database)))


def database_for_hook(config_file_arg: str | None, env: Mapping[str, str]) -> Path:
    """The database whose spool gets the hook's record.

    Loading the config (the TOML reader and the model) costs more than all the hook's work,
    and with no config file and no override variable it can only give the default database, so
    it is loaded only when one exists. A broken config gives the default too: a hook never fails.
    """
    overridden = any(k.upper().startswith(ENV_PREFIX) for k in env)
    if config_file_arg is None and not overridden and not config_file(env).exists():
        return database_file(env)
    from config import load_config

    try:
        return load_config(config_file_arg, env).store.path
    except MonitorError:
        return database_file(env)


# -- install-hooks ---------------------------------------------------------------------------


def _is_ours(command: object) -> bool:
    if not isinstance(command, str):
        return False
    import shlex  # here, not at the top: the hook itself must start fast

    try:
        words = shlex.split(command)
    except ValueError:
        return False
    named = any(os.path.basename(w) == "agent-viz-monitor" or w in _OUR_MODULES for w in words)
    return named and "hook" in words


def merge_hooks(settings: dict[str, Any], command: str) -> list[str]:
    """Put our hook ``command`` on every ``HOOK_EVENTS`` entry of ``settings`` (in place).

    Returns the events that changed; raises ``ValueError`` when ``hooks`` has a shape Claude
    Code would not accept (we never rewrite what we do not understand).
    """
    hooks = settings.setdefault("hooks", {})
    if not isinstance(hooks, dict):
        raise ValueError("'hooks' is not an object")
    changed = []
    for event in HOOK_EVENTS:
        groups = hooks.setdefault(event, [])
        if not isinstance(groups, list):
            raise ValueError(f"'hooks.{event}' is not a list")
        if _merge_event(groups, command):
            changed.append(event)
    return changed


def _merge_event(groups: list[Any], command: str) -> bool:
    found, changed = False, False
    for group in groups:
        entries = group.get("hooks") if isinstance(group, dict) else None
        if not isinstance(entries, list):
            continue
        for entry in list(entries):
            if not isinstance(entry, dict) or not _is_ours(entry.get("command")):
                continue
            if found:  # a duplicate of ours: keep one
                entries.remove(entry)
                changed = True
            elif entry.get("command") != command:
                entry["command"], changed = command, True
            found = True
    groups[:] = [g for g in groups if not (isinstance(g, dict) and g.get("hooks") == [])]
    if not found:
        groups.append({"hooks": [{"type": "command", "command": command,
                                  "timeout": _HOOK_TIMEOUT}]})  # fmt: skip
        changed = True
    return changed


def hook_command(config_file: str | None) -> str:
    """The command line Claude Code should run: this installation's interpreter running
    ``hook_call`` (see the module docstring)."""
    import shlex

    words = [sys.executable, "-P", "-m", "collector.hooks.hook_call"]
    if config_file:
        words += ["--config", os.path.abspath(config_file)]
    return shlex.join([*words, "hook"])


def settings_file(env: Mapping[str, str]) -> Path:
    """Claude Code's user settings: ``$CLAUDE_CONFIG_DIR/settings.json`` or ``~/.claude/``."""
    folder = env.get("CLAUDE_CONFIG_DIR")
    return (Path(folder) if folder else home(env) / ".claude") / "settings.json"


def _settings_path(args: argparse.Namespace) -> Path:
    if not args.settings:
        return settings_file(os.environ)
    path = Path(args.settings)
    if not path.parent.is_dir():
        raise UsageError("--settings", f"folder {path.parent} does not exist (not created)")
    return path


def remove_hooks(settings: dict[str, Any]) -> list[str]:
    """Take our hook entries out of ``settings`` (in place); returns the events that changed.

    Groups left empty are dropped, and so are event lists left empty; anything else is kept.
    """
    hooks = settings.get("hooks")
    if not isinstance(hooks, dict):
        return []
    changed = []
    for event, groups in list(hooks.items()):
        if not isinstance(groups, list):
            continue
        removed = False
        for group in groups:
            entries = group.get("hooks") if isinstance(group, dict) else None
            if isinstance(entries, list):
                kept = [
                    e for e in entries if not (isinstance(e, dict) and _is_ours(e.get("command")))
                ]
                removed = removed or len(kept) != len(entries)
                group["hooks"] = kept
        if removed:
            changed.append(event)
            groups[:] = [g for g in groups if not (isinstance(g, dict) and g.get("hooks") == [])]
            if not groups:
                del hooks[event]
    return changed


def _uninstall(args: argparse.Namespace) -> int:
    path = _settings_path(args)
    settings = _load_settings(path)
    changed = remove_hooks(settings)
    if not changed:
        print(f"no agent-viz-monitor hooks in {path}")
        return 0
    _save(path, settings, f"hooks removed from {path} for {', '.join(changed)}")
    return 0


def _save(path: Path, settings: dict[str, Any], done: str) -> None:
    """Replace the settings file (the previous one kept as a backup) and say what changed."""
    backup = _backup(path)
    _write_atomic(path, json.dumps(settings, indent=2) + "\n")
    print(done + (f" (previous file saved as {backup})" if backup else ""))


def _install(args: argparse.Namespace, config: Config | None) -> int:
    path = _settings_path(args)
    explicit = getattr(args, "config", None)
    command = hook_command(explicit if isinstance(explicit, str) else None)
    settings = _load_settings(path)
    try:
        changed = merge_hooks(settings, command)
    except ValueError as exc:
        raise ConfigError(str(path), None, "hooks", str(exc)) from None
    if not changed:
        print(f"hooks already installed in {path}")
        return 0
    _save(path, settings, f"hooks installed in {path} for {', '.join(changed)}")
    return 0


def _load_settings(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(str(path), None, "", f"cannot read: {exc.strerror}") from None
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ConfigError(str(path), None, "", f"not valid JSON ({exc}); left unchanged") from None
    if not isinstance(value, dict):
        raise ConfigError(str(path), None, "", "not a JSON object; left unchanged")
    return value


def _backup(path: Path) -> Path | None:
    if not path.exists():
        return None
    import shutil
    from datetime import UTC, datetime

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    backup = path.with_name(f"{path.name}.bak-{stamp}")
    shutil.copy2(path, backup)
    return backup


def _write_atomic(path: Path, text: str) -> None:
    # A settings.json that is a link (dotfiles repositories) is written through to its target,
    # keeping the link and the target's mode; replacing the link would silently fork the file.
    if path.is_symlink():
        path = Path(os.path.realpath(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o600
    write_atomic(path, text.encode(), mode=mode, fsync=True, unique_temp=True)
