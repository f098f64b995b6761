"""Redaction through the whole daemon: a secret typed into a real Claude Bash call is stored
redacted in every column, ``status`` counts it, and ``[privacy] redact = false`` keeps it."""

from __future__ import annotations

from pathlib import Path

import orjson

from tests.collector.service.daemon_harness import Instance, claude_lines

SESSION = "11111111-2222-4333-8444-555555555555"
KEY = "sk-proj-" + "Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0Fe" * 3


def doctored_lines() -> list[bytes]:
    """The fixture's lines, its Bash command replaced by one exporting an API key."""
    lines = claude_lines("drm-hello-world-script.jsonl")
    old = b"chmod +x /tmp/tmp74wiyiny/hello.sh && /tmp/tmp74wiyiny/hello.sh"
    assert any(old in line for line in lines)
    new = f"export OPENAI_API_KEY={KEY} && ./hello.sh".encode()
    return [line.replace(old, new) for line in lines]


def run(instance: Instance) -> None:
    path = instance.claude / "-p" / f"{SESSION}.jsonl"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"".join(doctored_lines()))
    done = instance.run("run", "--once")
    assert done.returncode == 0, done.stderr


def stored_text(instance: Instance) -> str:
    rows = instance.query("SELECT command, tool_arguments, raw_data FROM events", strict=True)
    return orjson.dumps(rows).decode()


def test_secret_is_redacted_and_counted(tmp_path: Path) -> None:
    instance = Instance(tmp_path)
    run(instance)
    text = stored_text(instance)
    assert KEY not in text
    commands = [
        r[0] for r in instance.query("SELECT command FROM events WHERE command IS NOT NULL")
    ]
    assert "export OPENAI_API_KEY=[REDACTED:openai_key] && ./hello.sh" in commands
    assert instance.status()["counters"]["redactions"] >= 2  # command and tool_arguments


def test_redaction_can_be_turned_off(tmp_path: Path) -> None:
    instance = Instance(tmp_path, privacy__redact="false")
    run(instance)
    assert KEY in stored_text(instance)
    assert "redactions" not in instance.status()["counters"]
