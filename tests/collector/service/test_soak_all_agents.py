"""The slow soak: 200 SIGKILLs of the daemon while a real writer process appends real lines of
all four agents (Claude Code, Codex, Copilot, Gemini), with the files renamed out of their glob,
renamed within their root, unlinked, truncated and copy-truncated between the writer's phases.

The expectation is computed independently of the daemon: every generation of every file's
content (as it was before each destructive step, and at the end) is parsed by a fresh parser.
At the end the store holds exactly those events — 0 lost, 0 duplicated — no parse problem (a
partial line read as a whole one would be one) and every offset at the end of its file.
"""

from __future__ import annotations

import random
import shutil
from collections import deque
from pathlib import Path

import pytest

from collector.parsers import make_parser
from collector.parsers.sources import classify
from store.records import Event, SessionStatus
from tests.collector.service.daemon_harness import FIXTURES, Instance
from tests.collector.service.test_exactly_once import catch_up, kill_cycles, make_plan, run_writer

KILLS = 200


def fixture_lines(*relative: str) -> list[bytes]:
    out = []
    for name in relative:
        for line in (FIXTURES / name).read_bytes().split(b"\n"):
            if line.strip():
                out.append(line + b"\n")
    return out


class Layout:
    """Where each agent's transcripts live under the instance's HOME, and what they hold."""

    def __init__(self, instance: Instance) -> None:
        home = instance.home
        self.roots = {
            "claude-code": instance.claude,
            "codex": instance.codex,
            "copilot": home / ".copilot" / "session-state",
            "gemini": home / ".gemini" / "tmp",
        }
        day = instance.codex / "2026" / "01" / "02"
        self.files: dict[str, list[Path]] = {
            "claude-code": [instance.claude / "-work-a" / f"{i:08x}-0000-4000-8000-00000000000{i}"
                            ".jsonl" for i in range(3)],
            "codex": [day / f"rollout-2026-01-02T10-00-0{i}-0199aaaa-bbbb-7ccc-8ddd-00000000000{i}"
                      ".jsonl" for i in range(3)],
            "copilot": [self.roots["copilot"] / f"0000000{i}-75eb-4afe-a1c6-0bd44c47f978"
                        / "events.jsonl" for i in range(2)],
            "gemini": [self.roots["gemini"] / "abc123" / "chats" / f"session-2026-01-0{i}.jsonl"
                       for i in range(2)],
        }  # fmt: skip
        self.lines = {
            "claude-code": fixture_lines("claude/drm-python-to-rust-port.jsonl",
                                         "claude/drm-coverage-test-fix.jsonl"),
            "codex": fixture_lines("codex/codemie-rollout-2026-05-11T13-28-45-desktop.jsonl"),
            "copilot": fixture_lines(
                "copilot/session-state/049410b4-c1df-44ee-87a5-caa1c349091e/events.jsonl"),
            "gemini": fixture_lines("gemini/schema-coverage/jazzyalex-gemini-jsonl_v040.jsonl"),
        }  # fmt: skip
        for agent, paths in self.files.items():
            for path in paths:
                path.parent.mkdir(parents=True, exist_ok=True)
                assert classify(agent, str(self.roots[agent]), str(path)) is not None, path

    def all_files(self) -> list[Path]:
        return [p for paths in self.files.values() for p in paths]

    def plan(self, rng: random.Random, share: slice) -> list[list[str]]:
        """Each agent's lines, in order, spread over its files; the agents interleaved."""
        steps: list[list[str]] = []
        for agent, lines in self.lines.items():
            steps.extend(make_plan(rng, self.files[agent], lines[share]))
        queues: dict[str, deque[list[str]]] = {}
        for step in steps:  # each file's lines in their order
            queues.setdefault(step[0], deque()).append(step)
        rng.shuffle(steps)  # the files interleave at random
        return [queues[step[0]].popleft() for step in steps]


def expected_keys(layout: Layout, generations: dict[Path, list[bytes]]) -> set[tuple[str, str]]:
    keys: set[tuple[str, str]] = set()
    for path, contents in generations.items():
        agent = next(a for a, root in layout.roots.items() if str(path).startswith(str(root)))
        for data in contents:
            source = classify(agent, str(layout.roots[agent]), str(path))
            assert source is not None
            parser, offset = make_parser(source), 0
            for line in data.split(b"\n")[:-1]:
                for record in parser.parse_line(line, offset):
                    if isinstance(record, Event):
                        keys.add((record.session_id, record.agent_event_id))
                    elif isinstance(record, SessionStatus):
                        # A transcript's own end (Copilot's session.shutdown) is a status
                        # change, which the store records as an event under this key.
                        keys.add((record.session_id, f"status:{record.timestamp}:{record.status}"))
                offset += len(line) + 1
    return keys


@pytest.mark.slow
def test_two_hundred_sigkills_across_all_four_agents(tmp_path: Path) -> None:
    """200 kills; renames (out and within), unlink, truncation, copytruncate: exactly once."""
    rng = random.Random(200)
    instance = Instance(tmp_path, tracker__enabled="false")
    layout = Layout(instance)
    files = layout.all_files()
    generations: dict[Path, list[bytes]] = {}
    try:
        writer = run_writer(tmp_path, layout.plan(rng, slice(None, None, 2)), "phase1")
        kill_cycles(instance, rng, KILLS // 2)
        assert writer.wait(120) == 0
        catch_up(instance, files)
        claude0, codex0, codex1 = layout.files["claude-code"][0], *layout.files["codex"][:2]
        copilot0, gemini0 = layout.files["copilot"][0], layout.files["gemini"][0]
        for path in (claude0, codex0, copilot0, gemini0):
            generations.setdefault(path, []).append(path.read_bytes())
        claude0.rename(claude0.with_suffix(".jsonl.1"))  # rotated out of the glob
        codex0.unlink()
        moved = codex1.parent.parent / "03" / codex1.name  # renamed within the root
        moved.parent.mkdir(parents=True)
        codex1.rename(moved)
        with open(copilot0, "r+b") as handle:  # truncated in place
            handle.truncate(0)
        shutil.copyfile(gemini0, gemini0.with_name(gemini0.name + ".bak"))  # copytruncate
        with open(gemini0, "r+b") as handle:
            handle.truncate(0)
        writer = run_writer(tmp_path, layout.plan(rng, slice(1, None, 2)), "phase2")
        kill_cycles(instance, rng, KILLS - KILLS // 2)
        assert writer.wait(120) == 0
        catch_up(instance, [*files, moved])
    finally:
        instance.stop_all()
    for path in [*files, moved]:
        if path.exists():
            generations.setdefault(path, []).append(path.read_bytes())
    expected = expected_keys(layout, generations)
    rows = instance.query("SELECT s.session_key, e.agent_event_id FROM events e "
                          "JOIN sessions s ON s.id = e.session_id", strict=True)  # fmt: skip
    stored = [(str(a), str(b)) for a, b in rows]
    assert len(stored) == len(set(stored)), "duplicate natural keys"
    assert not expected - set(stored), f"{len(expected - set(stored))} events lost"
    assert not set(stored) - expected, f"{len(set(stored) - expected)} unexpected events"
    assert instance.query("SELECT file_path, offset, reason FROM parse_problems") == []
    for path in [*files, moved]:
        if path.exists():
            assert instance.committed_offset(path) == path.stat().st_size, path
    agents = {key.split(":", 1)[0] for key, _ in stored}
    assert agents == {"claude-code", "codex", "copilot", "gemini"}
