"""One Claude Code hook call: the event's JSON on stdin becomes one spool record.

Claude Code runs the hook on every hook event and waits for it (a prompt waits on
``UserPromptSubmit``), so this is start-up code above all: ``install-hooks`` writes
``python -P -m collector.hooks.hook_call hook`` (no console-script wrapper, which imports
``re``; ``-P`` keeps the project folder Claude Code runs it in off ``sys.path``),
and ``agent-viz-monitor hook`` (older installed hooks) comes here too. The interpreter alone
takes ~12 ms; this module adds ~2 ms by importing only ``os``, ``sys``, ``time``, ``select``,
the C half of ``json`` (``_json``: the ``json`` package imports ``re``, +6 ms) and the light
``procfs`` and ``spool``. The config (TOML reader and model) loads only when a config file or an
override variable exists; otherwise it could only name the default database.

What it does (service-conventions.md §6.3, §6.4):

- reads stdin with a deadline and stops as soon as the bytes parse: Claude Code has been seen
  never to close it (a bare ``cat`` hung until cancelled);
- prints nothing, ever — SessionStart's stdout would be added to Claude's context — so both
  stdout and stderr are pointed at ``/dev/null`` first;
- finds the agent's pid by walking up its ancestry to the first process whose argv is Claude
  Code (the direct parent is usually a short-lived ``sh -c``), recording its identity now,
  while the chain still exists;
- writes one spool record — never the prompt, the assistant's message or any other transcript
  text — and exits 0, daemon or no daemon, whatever goes wrong.
"""

from __future__ import annotations

import os
import select
import sys
import time

from collector.tracker import procfs
from collector.tracker.spool import SPOOL_VERSION, write_encoded

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing and collections.abc cost the hook start-up; annotations only
    from collections.abc import Callable, Mapping, Sequence
    from typing import Any

__all__ = ["CLAUDE", "dumps", "hook", "hook_words", "loads", "main", "read_payload", "spool_folder"]

# Claude Code's names in the agents table (config/agents.py; a test keeps them equal): the
# table itself loads msgspec and pathlib.
CLAUDE = ("claude-code", ("claude",), ("/@anthropic-ai/claude-code/",))
APP, ENV_PREFIX = "agent-viz-monitor", "AGENT_VIZ_MONITOR_"  # as config.paths (a test checks)
_DETAIL_KEYS = ("source", "reason", "notification_type")
_MAX_TEXT = 4096
_ANCESTRY_DEPTH = 8
_WHITESPACE = " \t\n\r"


# -- JSON with the stdlib's own C scanner and quoting -------------------------------------------


def _scanner() -> Callable[[str, int], tuple[Any, int]]:
    try:
        from _json import make_scanner
    except ImportError:  # not CPython: the json module's (slower start-up, same result)
        import json

        scan: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
        return scan
    return make_scanner(_ScanContext())  # type: ignore[arg-type]


class _ScanContext:
    """What ``_json.make_scanner`` reads from ``json.JSONDecoder``: its defaults."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = {"NaN": float("nan"), "Infinity": float("inf"),
                      "-Infinity": float("-inf")}.__getitem__  # fmt: skip


def loads(data: bytes) -> Any:
    """``json.loads(data)`` for UTF-8 input; ``ValueError`` when it is not one JSON document."""
    text = data.decode("utf-8-sig")
    start = len(text) - len(text.lstrip(_WHITESPACE))
    try:
        value, end = _scanner()(text, start)
    except StopIteration:
        raise ValueError("not a JSON document") from None
    if text[end:].strip(_WHITESPACE):
        raise ValueError("extra data after the JSON document")
    return value


def _quote(text: str) -> str:
    try:
        from _json import encode_basestring_ascii
    except ImportError:  # not CPython
        from json.encoder import py_encode_basestring_ascii as encode_basestring_ascii
    return str(encode_basestring_ascii(text))


def dumps(value: object) -> str:
    """``json.dumps(value, separators=(",", ":"))`` for the record's types: None, bool, int,
    finite float, str and dicts of them."""
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{_quote(str(k))}:{dumps(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot encode {type(value).__name__}")


# -- the call ---------------------------------------------------------------------------------


def read_payload(deadline_s: float, fd: int | None = None) -> dict[str, Any]:
    """The hook's JSON object from ``fd`` (stdin), or {} when none arrives within the deadline."""
    fd = sys.stdin.fileno() if fd is None else fd
    buf, end = b"", time.monotonic() + deadline_s
    while (left := end - time.monotonic()) > 0:
        try:
            readable = select.select([fd], [], [], left)[0]
        except (OSError, ValueError):
            return {}
        if not readable:
            break
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        buf += chunk
        if (value := _object(buf)) is not None:
            return value
    return _object(buf) or {}


def _object(data: bytes) -> dict[str, Any] | None:
    try:
        value = loads(data)
    except ValueError:  # also UnicodeDecodeError: not (yet) a whole document
        return None
    return value if isinstance(value, dict) else {}


def _text(payload: Mapping[str, Any], key: str) -> str | None:
    value = payload.get(key)
    return value[:_MAX_TEXT] if isinstance(value, str) and value else None


def agent_identity(pid: int) -> dict[str, Any] | None:
    """The identity (as the spool stores it) of the nearest Claude Code process above ``pid``."""
    if not procfs.LINUX:
        from collector.tracker.process import ancestry, recognize_agent

        found = (p for p in ancestry(pid) if recognize_agent(p.argv) == CLAUDE[0])
        return next((p.identity.to_dict() for p in found), None)
    binaries, packages = dict.fromkeys(CLAUDE[1], CLAUDE[0]), [(m, CLAUDE[0]) for m in CLAUDE[2]]
    stat = procfs.read_stat(pid)
    for _ in range(_ANCESTRY_DEPTH):
        if stat is None or stat[1] <= 1:
            return None
        pid = stat[1]
        if (stat := procfs.read_stat(pid)) is None:
            return None
        if procfs.agent_of_argv(procfs.read_argv(pid), binaries, packages) == CLAUDE[0]:
            started = procfs.boot_time() + stat[2] / procfs.clock_ticks()
            return {"pid": pid, "started_at": round(started, 2), "start_ticks": stat[2],
                    "boot_id": procfs.boot_id()}  # fmt: skip
    return None


def hook(timeout: float, spool: str) -> None:
    """Read the event from stdin and spool it into the folder ``spool``."""
    payload = read_payload(max(0.0, timeout))
    session, event = _text(payload, "session_id"), _text(payload, "hook_event_name")
    if session is None or event is None:
        return
    record = {
        "v": SPOOL_VERSION, "kind": "hook", "ts": time.time(), "agent": CLAUDE[0],
        "event": event, "session_id": session,
        "transcript_path": _text(payload, "transcript_path"), "cwd": _text(payload, "cwd"),
        "detail": next((d for k in _DETAIL_KEYS if (d := _text(payload, k))), None),
        "identity": agent_identity(os.getpid()),
    }  # fmt: skip
    write_encoded(spool, dumps(record).encode())


def _xdg(env: Mapping[str, str], name: str, fallback: str) -> str:
    value = env.get(name, "")
    if value and os.path.isabs(value):  # the XDG spec: a relative path is ignored
        return value
    return os.path.join(env.get("HOME") or os.path.expanduser("~"), fallback)


def spool_folder(config_file: str | None, env: Mapping[str, str]) -> str:
    """The spool folder of the database the hook reports to.

    With no config file and no override variable the config can only give the default
    database, so that case is computed here as ``config.paths`` does; anything else loads the
    config (a broken one gives the default: a hook never fails).
    """
    overridden = any(k.upper().startswith(ENV_PREFIX) for k in env)
    default_config = os.path.join(_xdg(env, "XDG_CONFIG_HOME", ".config"), APP, "config.toml")
    if config_file is None and not overridden and not os.path.exists(default_config):
        return os.path.join(_xdg(env, "XDG_DATA_HOME", ".local/share"), APP, "spool")
    from collector.hooks.hook import database_for_hook
    from config.paths import spool_dir

    return str(spool_dir(database_for_hook(config_file, env)))


def hook_words(words: Sequence[str]) -> tuple[float, str | None] | None:
    """The timeout and config file of a plain ``[--config FILE] hook [claude] [--timeout S]``
    call, else None (``--help``, a typo: the full command line explains those)."""
    values: dict[str, str | None] = {"config": None, "timeout": "1.0"}
    rest, seen_hook = list(words), False
    while rest:
        word = rest.pop(0)
        name, _, inline = word[2:].partition("=")
        if word == "hook" and not seen_hook:
            seen_hook = True
        elif word.startswith("--") and name in values and (seen_hook or name == "config"):
            if not inline and not word.endswith("="):
                if not rest:
                    return None
                inline = rest.pop(0)
            values[name] = inline
        elif not (seen_hook and word == "claude"):
            return None
    try:
        return (float(values["timeout"] or ""), values["config"]) if seen_hook else None
    except ValueError:
        return None


def run(timeout: float, config_file: str | None, spool: str | None = None) -> int:
    """The ``hook`` command: silent, and 0 whatever happens (a broken config, no daemon, a full
    disk), or the user's Claude Code session would see the failure. ``spool`` is the folder
    when the caller already knows the database (argparse's path has loaded the config)."""
    try:
        _silence()
        hook(timeout, spool or spool_folder(config_file, os.environ))
    except BaseException:  # by design: a hook never fails its caller
        return 0
    return 0


def _silence() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    for fd in (1, 2):
        try:
            os.dup2(devnull, fd)
        except OSError:
            continue  # nothing can be printed through it either
    os.close(devnull)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -P -m collector.hooks.hook_call [--config FILE] hook [--timeout S]``; other words
    go to the full command line, which explains them."""
    words = sys.argv[1:] if argv is None else list(argv)
    if (options := hook_words(words)) is not None:
        return run(*options)
    from collector.cli import main as full_command_line

    return full_command_line(words)


if __name__ == "__main__":
    sys.exit(main())
