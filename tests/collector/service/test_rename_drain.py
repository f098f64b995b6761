"""Lines written just before a rename or an unlink are read (R11, R21): the daemon keeps the
descriptor of a file being written to, drains it to EOF when the path goes, and a file renamed
within a root keeps its position under its new name (nothing read twice).

The daemon is a real subprocess; "caught up" and "half a line read" are positive signals (the
committed offset reaching the start of the held line), never a fixed wait.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.collector.service.daemon_harness import Instance, claude_lines, expect

SESSION = "11111111-2222-4333-8444-555555555555"
RENAMED = "99999999-2222-4333-8444-555555555555"


def events(instance: Instance) -> list[str]:
    return sorted(
        str(r[0]) for r in instance.query("SELECT agent_event_id FROM events", strict=True)
    )


def corpus() -> list[bytes]:
    lines = claude_lines("drm-coverage-test-fix.jsonl", "drm-python-to-rust-port.jsonl")
    assert len(lines) > 60
    return lines[:60]


@pytest.fixture(scope="module")
def expected(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    clean = Instance(tmp_path_factory.mktemp("clean"))
    path = clean.claude / "-p" / f"{SESSION}.jsonl"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"".join(corpus()))
    assert clean.run("run", "--once").returncode == 0
    return events(clean)


@pytest.mark.parametrize("half", [False, True], ids=["whole-lines", "half-read-line"])
@pytest.mark.parametrize("how", ["rename-out", "unlink", "rename-within"])
def test_lines_before_the_path_goes_are_stored(
    tmp_path: Path, how: str, half: bool, expected: list[str]
) -> None:
    """Caught up; 48 lines (the first completing a half-read one) appended and the file at once
    renamed out of the glob, unlinked, or renamed within the root: every line stored once, no
    problem recorded, the old path retired."""
    instance = Instance(tmp_path, tracker__enabled="false")
    lines = corpus()
    first, rest = lines[:12], lines[12:]
    path = instance.claude / "-p" / f"{SESSION}.jsonl"
    path.parent.mkdir(parents=True)
    head = b"".join(first)
    cut = len(rest[0]) // 2 if half else 0
    path.write_bytes(head + rest[0][:cut])
    proc = instance.start()
    try:
        instance.wait_ready(proc)
        # Positive signal: every complete line committed; the reader has read to EOF, so a
        # half line is held in memory.
        expect(lambda: instance.committed_offset(path) == len(head))
        with open(path, "ab") as handle:
            handle.write(rest[0][cut:] + b"".join(rest[1:]))
        target = {
            "rename-out": tmp_path / "away.jsonl",
            "rename-within": instance.claude / "-q" / f"{RENAMED}.jsonl",
            "unlink": None,
        }[how]
        if target is None:
            path.unlink()
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            path.rename(target)
        sql = "SELECT deleted_at IS NOT NULL FROM files WHERE path = ?"
        expect(lambda: instance.query(sql, (str(path),)) == [(1,)], 20)
        if how == "rename-within":
            assert target is not None
            expect(lambda: instance.committed_offset(target) == target.stat().st_size, 20)
        expect(lambda: len(events(instance)) >= len(expected), 20)
        assert events(instance) == expected
        assert instance.query("SELECT COUNT(*) FROM parse_problems", strict=True) == [(0,)]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
