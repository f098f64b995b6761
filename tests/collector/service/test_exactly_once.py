"""Exactly-once under crashes: the daemon is SIGKILLed and restarted while a real writer
process appends real fixture lines (some byte by byte, some with pauses mid-line) to a dozen
files, one of which is rotated and one truncated. At the end every complete line's events are
stored exactly once: none missing, none extra, no parse problem (a partial line read as a whole
one would be one), every offset at the end of its file.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from collector.parsers import make_parser
from collector.parsers.sources import classify
from store.records import Event
from tests.collector.service.daemon_harness import Instance, claude_lines, expect

WRITER = Path(__file__).with_name("append_writer.py")
SOURCES = [
    "drm-python-to-rust-port.jsonl",
    "drm-coverage-test-fix.jsonl",
    "guideai-claude-code-sample-2.jsonl",
    "drm-stop-hook-reflection-first-stop.jsonl",
    "drm-hello-world-script.jsonl",
    "codemie-session-9eda1058-summaries.jsonl",
]


def expected_keys(root: Path, contents: dict[Path, list[bytes]]) -> set[tuple[str, str]]:
    """(session key, agent event id) of every event the written lines must produce."""
    keys: set[tuple[str, str]] = set()
    for path, generations in contents.items():
        for data in generations:
            source = classify("claude-code", str(root), str(path))
            assert source is not None
            parser = make_parser(source)
            offset = 0
            for line in data.split(b"\n")[:-1]:
                for record in parser.parse_line(line, offset):
                    if isinstance(record, Event):
                        keys.add((record.session_id, record.agent_event_id))
                offset += len(line) + 1
    return keys


def make_plan(rng: random.Random, files: list[Path], lines: list[bytes]) -> list[list[str]]:
    plan = []
    for line in lines:
        target = files[rng.randrange(len(files))]
        roll = rng.random()
        mode = "bytes" if roll < 0.15 and len(line) < 4000 else "pause" if roll < 0.2 else "whole"
        plan.append([str(target), line.hex(), mode])
    return plan


def run_writer(tmp: Path, plan: list[list[str]], name: str) -> subprocess.Popen[bytes]:
    plan_file = tmp / f"{name}.json"
    plan_file.write_text(json.dumps(plan))
    return subprocess.Popen([sys.executable, str(WRITER), str(plan_file)])


def kill_cycles(instance: Instance, rng: random.Random, cycles: int) -> None:
    for _ in range(cycles):
        proc = instance.start()
        time.sleep(rng.uniform(0.1, 1.2))  # the random moment of the crash, not synchronisation
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)


def catch_up(instance: Instance, files: list[Path], timeout: float = 60) -> None:
    proc = instance.start()
    instance.wait_ready(proc)

    def done() -> bool:
        return all(instance.committed_offset(f) == f.stat().st_size for f in files if f.exists())

    try:
        expect(done, timeout)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0, instance.logs()


def contents_of(files: list[Path]) -> dict[Path, list[bytes]]:
    return {f: [f.read_bytes()] for f in files}


@pytest.mark.parametrize(
    "cycles", [pytest.param(30, id="ci"), pytest.param(200, id="soak", marks=pytest.mark.slow)]
)
def test_sigkill_restarts_store_every_line_exactly_once(tmp_path: Path, cycles: int) -> None:
    """30 (CI) or 200 (slow) SIGKILLs during appends, a rotation and a truncation: no loss,
    no duplicate, no partial line ever parsed."""
    rng = random.Random(cycles)
    instance = Instance(tmp_path)
    projects = [instance.claude / f"-work-proj{i}" for i in range(3)]
    for folder in projects:
        folder.mkdir(parents=True)
    files = [projects[i % 3] / f"{i:08x}-0000-4000-8000-{i:012x}.jsonl" for i in range(12)]
    pool = claude_lines(*SOURCES)
    rng.shuffle(pool)
    first, second, third = pool[: len(pool) // 2], pool[len(pool) // 2 : -60], pool[-60:]
    written: dict[Path, list[bytes]] = {}
    try:
        writer = run_writer(tmp_path, make_plan(rng, files, first), "phase1")
        kill_cycles(instance, rng, cycles // 2)
        assert writer.wait(60) == 0
        catch_up(instance, files)
        # Rotation: the file is renamed out of the transcript pattern, a new one takes its name.
        rotated, truncated = files[0], files[1]
        written[rotated] = [rotated.read_bytes()]
        rotated.rename(rotated.with_suffix(".jsonl.1"))
        # Truncation in place (copytruncate style): the old content is gone, new lines follow.
        written[truncated] = [truncated.read_bytes()]
        with open(truncated, "r+b") as handle:
            handle.truncate(0)
        writer = run_writer(tmp_path, make_plan(rng, files, second + third), "phase2")
        kill_cycles(instance, rng, cycles - cycles // 2)
        assert writer.wait(60) == 0
        catch_up(instance, files)
    finally:
        instance.stop_all()
    for path, data in contents_of(files).items():
        written.setdefault(path, []).extend(data)
    expected = expected_keys(instance.claude, written)
    stored = instance.event_keys()
    assert len(stored) == len(set(stored)), "duplicate natural keys"
    missing = expected - set(stored)
    extra = set(stored) - expected
    assert not missing, f"{len(missing)} events missing, e.g. {sorted(missing)[:3]}"
    assert not extra, f"{len(extra)} unexpected events, e.g. {sorted(extra)[:3]}"
    problems = instance.query("SELECT file_path, offset, reason FROM parse_problems")
    assert problems == [], problems
    for f in files:
        assert instance.committed_offset(f) == f.stat().st_size
    assert len(expected) > 200
