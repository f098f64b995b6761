"""A parked file's compact state gives back exactly the checkpoint it was given."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from collector.ingest.checkpoint import Checkpoint
from collector.ingest.parked import SavedFile

HEX = st.binary(min_size=1, max_size=64).map(lambda b: hashlib.sha256(b).hexdigest())
COUNT = st.integers(min_value=0, max_value=(1 << 64) - 1)


CHECKPOINTS = st.builds(Checkpoint, COUNT, COUNT, COUNT, HEX, COUNT, HEX)


@given(cp=CHECKPOINTS)
def test_checkpoint_round_trips(cp: Checkpoint) -> None:
    saved = SavedFile(cp, b"state", True, "claude-code:x")
    assert saved.checkpoint == cp
    assert saved.position() == (cp.dev, cp.inode, cp.offset)
    assert (saved.parser_state, saved.live, saved.session_key) == (b"state", True, "claude-code:x")


def test_unusual_hashes_are_kept_as_they_are() -> None:
    for head in ("", "not-hex", "A" * 64, "0" * 63):
        cp = Checkpoint(1, 2, 3, head, 0, hashlib.sha256(b"").hexdigest())
        assert SavedFile(cp, None).checkpoint == cp


def test_no_checkpoint() -> None:
    saved = SavedFile(None, None)
    assert saved.checkpoint is None
    assert saved.position() is None


def test_without_session_keeps_the_rest() -> None:
    cp = Checkpoint(1, 2, 3, hashlib.sha256(b"a").hexdigest(), 1, hashlib.sha256(b"").hexdigest())
    plain = SavedFile(cp, "{}", True, "codex:x").without_session()
    assert (plain.checkpoint, plain.parser_state, plain.live, plain.session_key) == (
        cp, "{}", True, None,
    )  # fmt: skip
