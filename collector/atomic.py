"""Write a whole file so that a reader sees the old content or the new, never a mix.

The data goes to a temporary file in the same folder (so the final rename stays on one file
system), created with the final permission bits, which are then set exactly whatever the umask;
``os.replace`` then swaps it in. The status snapshot, the tracker's identities, spool records,
Claude Code's settings and the service files all go through here, so a crash or a full disk
never leaves a half-written file where a reader looks, and private files are never briefly
readable by others. The temporary file is removed when the write fails.

Only ``os`` is imported: the ``hook`` command writes its spool record through here on every
Claude Code hook event, and ``pathlib`` alone would add a third to its start-up.
"""

from __future__ import annotations

import os

__all__ = ["write_atomic"]


def write_atomic(
    path: str | os.PathLike[str],
    data: bytes,
    *,
    mode: int = 0o600,
    fsync: bool = False,
    unique_temp: bool = False,
) -> None:
    """Replace ``path`` with ``data`` at permission bits ``mode`` (the folder must exist).

    ``fsync`` flushes the data to disk before the rename (files that must survive a power
    loss). ``unique_temp`` names the temporary file for this write alone, for folders where
    several processes may write the same name at once; otherwise it is ``.<name>.tmp``. Either
    way the temporary name starts with a dot, which readers of a folder skip.
    """
    tag = f"{os.getpid()}-{os.urandom(4).hex()}." if unique_temp else ""
    folder, name = os.path.split(os.fspath(path))
    temp = os.path.join(folder, f".{name}.{tag}tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL if unique_temp else os.O_WRONLY | os.O_CREAT
    try:
        fd = os.open(temp, flags | os.O_TRUNC | os.O_CLOEXEC, mode)
        try:
            os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, path)
    except BaseException:
        _discard(temp)
        raise


def _discard(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        return  # never created
