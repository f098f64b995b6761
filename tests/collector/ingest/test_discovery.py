"""Tests for collector.ingest.discovery: real trees in tmp_path, one per agent layout."""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from collector.ingest import discovery
from collector.ingest.discovery import FoundFile, ScanRounds, ScanStats, count_dirs, scan_root
from collector.parsers.sources import SourceFile

U1, U2, U3 = (str(uuid.UUID(int=n)) for n in (1, 2, 3))

# agent -> (root below tmp_path, files to create, the subset that are transcripts)
LAYOUTS: dict[str, tuple[str, list[str], set[str]]] = {
    "claude-code": (
        "claude/projects",
        [
            f"-home-u-app/{U1}.jsonl",
            f"-home-u-app/{U1}/subagents/agent-a1.jsonl",
            f"-home-u-app/{U1}/subagents/agent-a1.meta.json",
            "-home-u-app/agent-legacy.jsonl",
            "-home-u-app/notes.txt",
            f"-home-u-other/{U2}.jsonl",
        ],
        {
            f"-home-u-app/{U1}.jsonl",
            f"-home-u-app/{U1}/subagents/agent-a1.jsonl",
            "-home-u-app/agent-legacy.jsonl",
            f"-home-u-other/{U2}.jsonl",
        },
    ),
    "codex": (
        "codex/sessions",
        [
            f"2026/01/02/rollout-2026-01-02T10-11-12-{U1}.jsonl",
            f"2026/01/02/rollout-2026-01-02T09-00-00-{U2}.jsonl.zst",
            "2026/01/03/history.json",
        ],
        {f"2026/01/02/rollout-2026-01-02T10-11-12-{U1}.jsonl"},
    ),
    "copilot": (
        "copilot/session-state",
        [f"{U1}/events.jsonl", f"{U1}/workspace.yaml", f"{U1}/plan.md", f"{U2}.jsonl"],
        {f"{U1}/events.jsonl", f"{U2}.jsonl"},
    ),
    "gemini": (
        "gemini/tmp",
        [
            "proj/chats/session-x.jsonl",
            "proj/chats/session-y.json",
            "proj/chats/session-x/child-1.jsonl",
            "proj/logs.json",
            "proj/chats/logs.json",
            "proj/settings.json",
        ],
        {
            "proj/chats/session-x.jsonl",
            "proj/chats/session-y.json",
            "proj/chats/session-x/child-1.jsonl",
        },
    ),
}


def build(root: Path, files: list[str]) -> None:
    for rel in files:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text('{"n": 1}\n')


def relative(found: list[FoundFile], root: Path) -> set[str]:
    return {os.path.relpath(f.source.path, root) for f in found}


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
def claude_root(tmp_path: Path) -> Path:
    root_rel, files, _ = LAYOUTS["claude-code"]
    build(tmp_path / root_rel, files)
    return tmp_path / root_rel


class TestLayouts:
    """Every agent's layout is found, and nothing else is."""

    @pytest.mark.parametrize("agent", sorted(LAYOUTS))
    def test_finds_each_transcript_and_skips_the_rest(self, tmp_path: Path, agent: str) -> None:
        """Sidecars, archives, logs and notes next to transcripts are not yielded."""
        root_rel, files, expected = LAYOUTS[agent]
        root = tmp_path / root_rel
        build(root, files)
        stats = ScanStats()
        found = list(scan_root(agent, str(root), stats))
        assert relative(found, root) == expected
        assert {f.source.agent for f in found} == {agent}
        assert (stats.files, stats.matched, stats.errors) == (len(files), len(expected), 0)

    def test_other_agents_roots_are_not_mixed_in(self, tmp_path: Path) -> None:
        """Scanning one root never reports a file of a sibling root."""
        for agent, (root_rel, files, _) in LAYOUTS.items():
            build(tmp_path / root_rel, files)
            assert agent  # built for all agents
        found = list(scan_root("codex", str(tmp_path / "codex/sessions")))
        assert [f.source.session_id for f in found] == [f"codex:{U1}"]

    def test_path_facts_come_through_classify(self, claude_root: Path) -> None:
        """Subagent files carry their parent and sidecar, as sources.classify decides."""
        found = {f.source.path: f.source for f in scan_root("claude-code", str(claude_root))}
        child = found[str(claude_root / f"-home-u-app/{U1}/subagents/agent-a1.jsonl")]
        assert child.parent_session_id == f"claude-code:{U1}"
        assert str(child.sidecar_path).endswith("agent-a1.meta.json")

    def test_gemini_whole_file_json_is_a_document(self, tmp_path: Path) -> None:
        """Gemini ``.json`` chats are re-read whole, so they are marked as documents."""
        root_rel, files, _ = LAYOUTS["gemini"]
        build(tmp_path / root_rel, files)
        kinds = {
            Path(f.source.path).name: f.source.kind
            for f in scan_root("gemini", str(tmp_path / root_rel))
        }
        assert kinds["session-y.json"] == "json-document"
        assert kinds["session-x.jsonl"] == "jsonl"

    def test_stat_facts_match_the_file(self, claude_root: Path) -> None:
        """size, mtime_ns, dev and inode are what the tailer compares with its checkpoint."""
        for found in scan_root("claude-code", str(claude_root)):
            st = os.lstat(found.source.path)
            assert (found.size, found.mtime_ns, found.dev, found.inode) == (
                st.st_size,
                st.st_mtime_ns,
                st.st_dev,
                st.st_ino,
            )

    def test_missing_root_yields_nothing_and_is_no_error(self, tmp_path: Path) -> None:
        """A root the agent has not created yet is a normal state, not a failure."""
        stats = ScanStats()
        assert list(scan_root("codex", str(tmp_path / "nope"), stats)) == []
        assert stats.errors == 0


class TestRobustness:
    """Vanishing folders, unreadable folders and symlink loops are counted or skipped."""

    def test_folders_vanishing_mid_walk_are_counted_not_raised(self, tmp_path: Path) -> None:
        """After the first yield the four projects not yet listed are deleted; the walk ends."""
        root = tmp_path / "projects"
        build(root, [f"p{i}/{uuid.UUID(int=i)}.jsonl" for i in range(5)])
        stats = ScanStats()
        walk = scan_root("claude-code", str(root), stats)
        first = Path(next(walk).source.path)
        for project in root.iterdir():
            if project != first.parent:
                shutil.rmtree(project)
        assert list(walk) == []
        assert (stats.matched, stats.errors) == (1, 4)
        assert "FileNotFoundError" in str(stats.last_error)

    def test_file_deleted_between_listing_and_stat_is_counted(self, tmp_path: Path) -> None:
        """A transcript removed after its folder was listed is skipped, not reported."""
        root = tmp_path / "projects"
        build(root, [f"p/{uuid.UUID(int=i)}.jsonl" for i in range(3)])
        stats = ScanStats()
        walk = scan_root("claude-code", str(root), stats)
        first = next(walk)
        for path in (root / "p").iterdir():
            if str(path) != first.source.path:
                path.unlink()
        assert list(walk) == []
        assert (stats.matched, stats.errors) == (1, 2)

    def test_unreadable_folder_is_counted_and_skipped(
        self, claude_root: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Simulated: os.scandir raises EACCES for one folder (tests run as root, so chmod 000
        would not stop the read). The other folders are still scanned."""
        denied = str(claude_root / "-home-u-other")
        real_scandir = os.scandir

        def scandir(path: str) -> Iterator[os.DirEntry[str]]:
            if path == denied:
                raise PermissionError(13, "Permission denied", path)
            return real_scandir(path)

        monkeypatch.setattr(os, "scandir", scandir)
        stats = ScanStats()
        found = relative(list(scan_root("claude-code", str(claude_root), stats)), claude_root)
        assert f"-home-u-other/{U2}.jsonl" not in found
        assert f"-home-u-app/{U1}.jsonl" in found
        assert stats.errors == 1
        assert "Permission denied" in str(stats.last_error)

    def test_symlinks_are_never_followed(self, claude_root: Path, tmp_path: Path) -> None:
        """A symlink back to the root ends the walk instead of looping; linked files are skipped,
        as watchdog (follow_symlink=False) would not report them either."""
        (claude_root / "-home-u-app" / "loop").symlink_to(claude_root, target_is_directory=True)
        outside = tmp_path / "elsewhere.jsonl"
        outside.write_text("{}\n")
        (claude_root / "-home-u-app" / f"{U3}.jsonl").symlink_to(outside)
        found = relative(list(scan_root("claude-code", str(claude_root))), claude_root)
        assert found == LAYOUTS["claude-code"][2]

    def test_root_may_itself_be_a_symlink(self, claude_root: Path, tmp_path: Path) -> None:
        """Users move ~/.claude to another disk and link it back."""
        link = tmp_path / "linked-projects"
        link.symlink_to(claude_root, target_is_directory=True)
        assert (
            relative(list(scan_root("claude-code", str(link))), link) == LAYOUTS["claude-code"][2]
        )

    def test_no_directory_descriptor_is_held_while_yielding(self, claude_root: Path) -> None:
        """A paused consumer keeps no folder open: each listing is read whole and closed first."""
        before = open_fds()
        for _ in scan_root("claude-code", str(claude_root)):
            assert open_fds() == before


class TestCountDirs:
    """count_dirs is what watching a tree costs in inotify watches."""

    def test_counts_the_root_and_every_folder_but_not_links(self, claude_root: Path) -> None:
        """Root, two projects, the session folder and its subagents folder; a link is no folder."""
        (claude_root / "link").symlink_to(claude_root / "-home-u-app", target_is_directory=True)
        assert count_dirs(str(claude_root)) == 5

    def test_missing_root_counts_zero(self, tmp_path: Path) -> None:
        assert count_dirs(str(tmp_path / "nope")) == 0


@pytest.mark.slow
class TestSpeed:
    """The rescan is the truth, so it must be cheap enough to run every minute (R15)."""

    def test_20k_transcripts_rescan_in_well_under_a_second(self, tmp_path: Path) -> None:
        """20 000 files in 100 projects; measured ~130 ms warm (~400 ms for the first scan)."""
        root = tmp_path / "projects"
        for p in range(100):
            folder = root / f"-home-u-p{p}"
            folder.mkdir(parents=True)
            for s in range(200):
                (folder / f"{uuid.UUID(int=p * 1000 + s)}.jsonl").write_bytes(b"{}\n")
        assert sum(1 for _ in scan_root("claude-code", str(root))) == 20_000
        started = time.perf_counter()
        assert sum(1 for _ in scan_root("claude-code", str(root))) == 20_000
        elapsed = time.perf_counter() - started
        print(f"warm scan of 20k files: {elapsed * 1000:.0f} ms")
        assert elapsed < 1.0


class TestRounds:
    """A rescan reuses known classifications and may leave quiet known files unstat'ed."""

    def test_known_files_skip_classification(
        self, claude_root: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        first = {f.source.path: f.source for f in scan_root("claude-code", str(claude_root))}
        classified: list[str] = []
        real = discovery._classify
        monkeypatch.setattr(discovery, "_classify",
                            lambda *a: classified.append(a[2]) or real(*a))  # fmt: skip
        again = {f.source.path: f.source for f in scan_root("claude-code", str(claude_root),
                                                             known=first)}  # fmt: skip
        assert again == first
        assert all(again[p] is first[p] for p in first)  # the same objects, no second copy
        assert classified  # sidecars beside the transcripts are still looked at …
        assert not set(classified) & set(first)  # … but no known transcript is

    def test_unlooked_files_are_listed_not_stated(self, claude_root: Path) -> None:
        """``look`` False: a known file lands in ``unlooked``; a new file is always stat'ed."""
        every = {f.source.path: f.source for f in scan_root("claude-code", str(claude_root))}
        paths = sorted(every)
        quiet, new = paths[0], paths[-1]
        known = {p: s for p, s in every.items() if p != new}
        unlooked: set[str] = set()
        stats = ScanStats()
        found = list(scan_root("claude-code", str(claude_root), stats, known=known,
                               look=lambda p: p == new, unlooked=unlooked))  # fmt: skip
        assert {f.source.path for f in found} == {new}
        assert unlooked == set(known)  # listed, so not vanished; not stat'ed
        assert quiet in unlooked
        assert stats.matched == len(every)


class TestScanRounds:
    """Which known files a rescan stats: warm ones always, the quiet rest in turns."""

    def test_every_quiet_file_is_looked_at_within_the_rounds(self) -> None:
        rounds = ScanRounds(rounds=4, warm_seconds=60.0)
        paths = [f"/r/p/{i}.jsonl" for i in range(200)]
        looked: dict[str, int] = dict.fromkeys(paths, 0)
        fulls = 0
        for _ in range(4):
            look = rounds.next_round(now=1000.0)
            if look is None:
                fulls += 1
                looked = {p: n + 1 for p, n in looked.items()}
                continue
            for p in paths:
                looked[p] += look(p)
        assert fulls == 1
        # Each file in the full round, and in its own turn unless the full round is its turn.
        assert set(looked.values()) == {1, 2}

    def test_a_quiet_round_skips_most_files(self) -> None:
        rounds = ScanRounds(rounds=10)
        look = rounds.next_round(now=1000.0)
        assert look is not None
        share = sum(look(f"/r/{i}.jsonl") for i in range(10_000)) / 10_000
        assert 0.05 < share < 0.15

    def test_warm_files_are_always_looked_at_until_they_cool(self) -> None:
        rounds = ScanRounds(rounds=1_000_000, warm_seconds=60.0)
        rounds.changed("/r/hot.jsonl", 1000.0)
        rounds.saw([FoundFile(SourceFile("claude-code", "/r/m.jsonl", "s"), 1, 990 * 10**9, 1, 2),
                    FoundFile(SourceFile("claude-code", "/r/old.jsonl", "s"), 1, 10**9, 1, 3)],
                   now=1000.0)  # fmt: skip
        look = rounds.next_round(now=1030.0)
        assert look is not None
        assert look("/r/hot.jsonl")
        assert look("/r/m.jsonl")
        assert "/r/old.jsonl" not in rounds._warm  # modified long ago: never warm
        later = rounds.next_round(now=1100.0)
        assert later is not None
        assert not later("/r/hot.jsonl")
        assert not later("/r/m.jsonl")

    def test_full_rounds_when_asked(self) -> None:
        assert ScanRounds().next_round(now=0.0, full=True) is None
