"""The central guarantee, proved deterministically: a file's offset is committed in the same
transaction as its lines' events, so a writer stopped anywhere inside a commit loses no line and
stores none twice.

The daemon (a real subprocess) is stopped at every statement boundary inside one commit —
after the sessions, the events, the completions, the parse problems, the offsets, before and
after ``COMMIT`` — through the test-only crash points of ``store.crashpoint``, armed by an
environment variable. After a restart the store must equal that of an uninterrupted run: the
same events, each problem once, every line counted once, every offset at the end of its file. A
writer that committed offsets in a transaction of their own would fail the points between them.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest

from store.crashpoint import ENV, POINTS
from tests.collector.service.daemon_harness import Instance, claude_lines, expect

SESSION = "11111111-2222-4333-8444-555555555555"
BAD = b'{"type": "user", "broken\n'


def corpus() -> bytes:
    """Real lines with tool calls and their results, and one invalid line among them."""
    lines = claude_lines("drm-hello-world-script.jsonl")
    return b"".join(lines[:3]) + BAD + b"".join(lines[3:])


def seeded(root: Path) -> tuple[Instance, Path]:
    instance = Instance(root, tracker__enabled="false")  # no status commits in between
    path = instance.claude / "-p" / f"{SESSION}.jsonl"
    path.parent.mkdir(parents=True)
    path.write_bytes(corpus())
    return instance, path


def snapshot(instance: Instance) -> dict[str, Any]:
    """What must be identical to an uninterrupted run."""
    q = lambda sql: sorted(instance.query(sql, strict=True))  # noqa: E731
    return {
        "events": q("SELECT agent_event_id, event_type, status, duration_ms FROM events"),
        "problems": q("SELECT offset, reason FROM parse_problems"),
        "files": q("SELECT offset, size, lines, problems FROM files"),
        "sessions": q("SELECT session_key FROM sessions"),
    }


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    instance, path = seeded(tmp_path_factory.mktemp("clean"))
    assert instance.run("run", "--once").returncode == 0
    expected = snapshot(instance)
    size = path.stat().st_size
    assert expected["files"] == [(size, size, corpus().count(b"\n"), 1)]
    assert expected["events"]
    assert expected["problems"]
    assert any(row[2] == "success" for row in expected["events"])  # completions were applied
    return expected


@pytest.mark.parametrize("point", POINTS)
def test_killed_at_each_boundary_loses_and_repeats_nothing(
    tmp_path: Path, point: str, uninterrupted: dict[str, Any]
) -> None:
    """SIGKILL at ``point`` of the first commit; a restart then stores exactly what an
    uninterrupted run stores."""
    instance, _path = seeded(tmp_path)
    instance.env[ENV] = f"{point}:kill"
    proc = instance.start("run", "--once")
    assert proc.wait(60) == -signal.SIGKILL, f"crash point {point} was never reached"
    del instance.env[ENV]
    done = instance.run("run", "--once")
    assert done.returncode == 0, done.stderr
    assert snapshot(instance) == uninterrupted


@pytest.mark.parametrize("point", ["after_events", "after_offsets", "before_commit"])
def test_failed_at_a_boundary_is_retried_exactly_once(
    tmp_path: Path, point: str, uninterrupted: dict[str, Any]
) -> None:
    """A statement failing at ``point`` (as a full disk would) rolls the whole batch back; the
    retry stores it once and the running daemon counts the failure."""
    instance, _path = seeded(tmp_path)
    instance.env[ENV] = f"{point}:fail"
    proc = instance.start()
    try:
        expect(lambda: instance.status().get("counters", {}).get("commit_failures", 0) >= 1, 20)
        expect(lambda: instance.query("SELECT COUNT(*) FROM files WHERE offset = size "
                                      "AND offset > 0") == [(1,)], 20)  # fmt: skip
        assert snapshot(instance) == uninterrupted
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
