"""Files beside transcripts: Gemini's project marker and its projects.json fallback."""

from __future__ import annotations

import json
from pathlib import Path

from collector.ingest.sidecars import read_sidecar
from collector.parsers.sources import classify


def gemini_home(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / ".gemini" / "tmp"
    chats = root / "proj" / "chats"
    chats.mkdir(parents=True)
    transcript = chats / "session-1.jsonl"
    transcript.write_text("{}\n")
    return root, transcript


def test_project_root_marker(tmp_path: Path) -> None:
    """``<project>/.project_root`` (plain text, no newline) names the project's folder."""
    root, transcript = gemini_home(tmp_path)
    (root / "proj" / ".project_root").write_text("/src/app")
    source = classify("gemini", str(root), str(transcript))
    assert source is not None
    assert source.sidecar_path is not None
    assert read_sidecar(source.sidecar_path) == {"project_root": "/src/app"}


def test_projects_json_when_the_marker_is_missing(tmp_path: Path) -> None:
    """``~/.gemini/projects.json`` maps folders to project names; read the other way."""
    root, transcript = gemini_home(tmp_path)
    projects = {"projects": {"/src/app": "proj", "/src/other": "other"}}
    (tmp_path / ".gemini" / "projects.json").write_text(json.dumps(projects))
    source = classify("gemini", str(root), str(transcript))
    assert source is not None
    assert source.sidecar_path is not None
    assert read_sidecar(source.sidecar_path) == {"project_root": "/src/app"}


def test_nothing_to_read(tmp_path: Path) -> None:
    """No marker and no list, or a bad list: no sidecar, the parser goes on without it."""
    root, _transcript = gemini_home(tmp_path)
    marker = str(root / "proj" / ".project_root")
    assert read_sidecar(marker) is None
    (tmp_path / ".gemini" / "projects.json").write_text("[not json")
    assert read_sidecar(marker) is None
