"""Every parser's records and states on every fixture line stay what they were.

Speed work on the parsers (bench/README.md, "Parse, redaction and hook") must not change a
single record: this test holds the parsers of all four agents to digests of their output on
every fixture transcript, taken from the tree before that work (8c35add). Each file's digest
covers every record of every line and the parser's ``state()`` after each line, so a change
to any field, to the order of records, or to what a restart would resume with shows here.

A deliberate change to what a parser emits must rewrite the digests, and say why in its
commit: ``python tests/collector/parsers/test_fidelity.py --write``.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import msgspec
import pytest

from collector.parsers import make_parser
from collector.parsers.sources import SourceFile, classify
from store.records import Record

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
DIGESTS = Path(__file__).with_name("fidelity_digests.json")
AGENTS = {"claude": "claude-code", "codex": "codex", "copilot": "copilot", "gemini": "gemini"}
ROOT = "/fixtures"  # the records name this root, so the digests do not depend on the checkout


def _source(folder: str, rel: str) -> SourceFile | None:
    """The fixture as its agent's classifier places it; a transcript kept outside the agent's
    own layout (Gemini's ``chats`` folders) as a session of its own."""
    agent, path = AGENTS[folder], f"{ROOT}/{folder}/{rel}"
    found = classify(agent, f"{ROOT}/{folder}", path)
    if found is not None or agent != "gemini" or rel.endswith("logs.json"):
        return found
    kind = "jsonl" if rel.endswith(".jsonl") else "json-document"
    return SourceFile(agent, path, f"gemini:{rel.rsplit('.', 1)[0]}", kind=kind)


def _transcripts() -> list[tuple[str, str]]:
    """(folder, path relative to it) of every fixture file a parser claims."""
    found = []
    for folder in AGENTS:
        base = FIXTURES / folder
        for path in sorted(base.rglob("*.json*")):
            rel = path.relative_to(base).as_posix()
            if _source(folder, rel) is not None:
                found.append((folder, rel))
    return found


def _row(record: Record) -> tuple[str, tuple[tuple[str, object], ...]]:
    """A record as its type and the fields that differ from their defaults, by name: a field
    added later with a default leaves the digests as they are."""
    values = tuple(
        (f.name, getattr(record, f.name))
        for f in msgspec.structs.fields(record)
        if f.required or getattr(record, f.name) != f.default
    )
    return type(record).__name__, values


def _feed(digest: hashlib._Hash, records: Sequence[Record], state: object) -> None:
    for record in records:
        digest.update(repr(_row(record)).encode("utf-8", "surrogatepass"))
    digest.update(json.dumps(state, sort_keys=True).encode("utf-8", "surrogatepass"))


def digest_of(folder: str, rel: str) -> str:
    """The digest of what the agent's parser makes of one fixture, line by line."""
    source = _source(folder, rel)
    assert source is not None
    parser = make_parser(source)
    data = (FIXTURES / folder / rel).read_bytes()
    digest = hashlib.sha256()
    if source.kind == "json-document":
        _feed(digest, parser.parse_document(data), parser.state())
        return digest.hexdigest()
    offset = 0
    for line in data.split(b"\n")[:-1] if data.endswith(b"\n") else data.split(b"\n"):
        _feed(digest, parser.parse_line(line, offset), parser.state())
        offset += len(line) + 1
    return digest.hexdigest()


def _saved() -> dict[str, str]:
    loaded: dict[str, str] = json.loads(DIGESTS.read_text())
    return loaded


def test_every_fixture_transcript_is_covered() -> None:
    """A fixture added later gets a digest too (or the list of files changed by mistake)."""
    files = {f"{folder}/{rel}" for folder, rel in _transcripts()}
    assert files == set(_saved())
    assert {name.split("/", 1)[0] for name in files} == set(AGENTS)


@pytest.mark.parametrize(("folder", "rel"), _transcripts(), ids=str)
def test_records_and_states_are_unchanged(folder: str, rel: str) -> None:
    assert digest_of(folder, rel) == _saved()[f"{folder}/{rel}"]


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    digests = {f"{folder}/{rel}": digest_of(folder, rel) for folder, rel in _transcripts()}
    DIGESTS.write_text(json.dumps(digests, indent=1, sort_keys=True) + "\n")
    print(f"{len(digests)} digests written to {DIGESTS}")
