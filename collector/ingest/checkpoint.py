"""A transcript file's resumable position, and the checks that it is still the same file.

A ``Checkpoint`` is everything the tail (``collector.ingest.tail``) needs to resume a file; the
writer commits it in the same SQLite transaction as the events of the lines before it.

Identity: a file is known by more than its inode, so a replaced, rewritten or reused file is never
mistaken for the one whose offset we hold, and a renamed one is not read twice. A checkpoint records
the file's ``(dev, inode)``, a hash of its first ``head_len`` bytes (``min(offset, HEAD_BYTES)``: it
grows with the file while small, so a one-line file is fingerprinted too) and a hash of the
up-to-``MARKER_BYTES`` bytes just before ``offset``. Whenever the tail opens the path (first poll,
and every poll after it closed the descriptor at EOF) it re-reads those bytes and decides:

=========================  =========  ==========  ===============  ================================
(dev, inode) vs checkpoint  size       head bytes  marker bytes     decision
=========================  =========  ==========  ===============  ================================
same                       >= offset  match       match            resume at offset
same                       < offset   -           -                restart at 0, ``truncated``
same                       >= offset  differ      -                restart at 0, ``head-changed``
same                       >= offset  match       differ           restart at 0, ``marker-changed``
different                  >= offset  match       match            continue at offset (replaced)
different                  any        otherwise                    restart at 0, ``inode-changed``
=========================  =========  ==========  ===============  ================================

- Inode reuse (delete, then a new file gets the same inode) shows as ``head-changed`` or
  ``marker-changed``: the inode alone is never trusted.
- A rewrite to a *larger* size while the daemon was stopped (copytruncate then re-grow, the
  case Promtail documents as undetectable) fails the head or marker check the same way.
- A rename that keeps the bytes (write-temp-then-rename with the same prefix) keeps its
  position; the old inode was fully drained through its descriptor before it was closed.
- While a partial line is held in memory the tail first checks the bytes just before its read
  position, so a writer pausing mid-line does not cost a re-read; if that check fails it falls
  back to the table above with the committed checkpoint.
- A checkpoint at offset 0 matches any file: nothing was consumed, so nothing can be lost.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import Any

import msgspec

from collector.digests import sha256

__all__ = [
    "HEAD_BYTES", "MARKER_BYTES", "Checkpoint", "Verified", "open_regular", "same_file", "sha",
    "verify",
]  # fmt: skip

HEAD_BYTES = 4096
MARKER_BYTES = 256
_FIELDS = ("dev", "inode", "offset", "head_hash", "head_len", "marker_hash")


# Never follow a link (a symlink to /etc/passwd planted in a root must not be read), never block
# on a FIFO (O_NONBLOCK makes its open return at once; a regular file ignores the flag).
_OPEN_FLAGS = os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK


def open_regular(path: str) -> int:
    """A read descriptor of the regular file at ``path``; ``OSError`` for a symlink (ELOOP), a
    FIFO, a device or a socket, which are never read, whoever put them in a root."""
    fd = os.open(path, _OPEN_FLAGS)
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        os.close(fd)
        raise
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "not a regular file (never read)", path)
    return fd


def sha(data: bytes) -> str:
    return sha256(data).hexdigest()


class Checkpoint(msgspec.Struct, frozen=True):
    """Where to resume one file, and the fingerprints that prove it is still the same file."""

    dev: int
    inode: int
    offset: int
    head_hash: str
    head_len: int
    marker_hash: str

    def to_dict(self) -> dict[str, int | str]:
        """A JSON-able form for the store."""
        return {name: getattr(self, name) for name in _FIELDS}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Checkpoint:
        """Rebuild from ``to_dict`` output; a malformed value raises rather than resetting."""
        missing = [name for name in _FIELDS if name not in data]
        if missing:
            raise ValueError(f"checkpoint lacks {', '.join(missing)}: {data!r}")
        for name in ("dev", "inode", "offset", "head_len"):
            value = data[name]
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"checkpoint {name} must be an int >= 0: {value!r}")
        for name in ("head_hash", "marker_hash"):
            if not isinstance(data[name], str):
                raise ValueError(f"checkpoint {name} must be a str: {data[name]!r}")
        return cls(**{name: data[name] for name in _FIELDS})


class Verified(msgspec.Struct):
    """What an identity check read: the head bytes and the marker bytes, or why it failed."""

    reason: str | None
    head: bytes = b""
    marker: bytes = b""


def verify(fd: int, st: os.stat_result, cp: Checkpoint) -> Verified:
    """Check an open file against ``cp`` (see the module table); reads at most two blocks."""
    same_inode = (st.st_dev, st.st_ino) == (cp.dev, cp.inode)
    failed = "inode-changed" if not same_inode else None
    if st.st_size < cp.offset:
        return Verified(failed or "truncated")
    head = os.pread(fd, min(st.st_size, HEAD_BYTES), 0)
    if len(head) < cp.head_len or sha(head[: cp.head_len]) != cp.head_hash:
        return Verified(failed or "head-changed")
    start = max(0, cp.offset - MARKER_BYTES)
    if cp.offset <= len(head):
        marker = head[start : cp.offset]
    else:
        marker = os.pread(fd, cp.offset - start, start)
    if sha(marker) != cp.marker_hash:
        return Verified(failed or "marker-changed")
    return Verified(None, head, marker)


def same_file(path: str, cp: Checkpoint) -> bool:
    """Is the file at ``path`` the one ``cp`` fingerprints: same device and inode, and its head
    and marker bytes unchanged (a reused inode fails). False when it cannot be read."""
    try:
        fd = open_regular(path)
    except OSError:
        return False
    try:
        st = os.fstat(fd)
        same = (st.st_dev, st.st_ino) == (cp.dev, cp.inode)
        return same and verify(fd, st, cp).reason is None
    except OSError:
        return False
    finally:
        os.close(fd)
