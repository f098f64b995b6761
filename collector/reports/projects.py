"""A session's project for reports: its directory, with git worktrees folded into the repository
they belong to (a branch worked on in ``repo/.claude/worktrees/x`` costs the repository).

Two signs of a worktree: the layout Claude Code's ``--worktree`` and its isolated subagents use
(``<repo>/.claude/worktrees/<name>``), and git's own link — a worktree's ``.git`` is a file
``gitdir: <repo>/.git/worktrees/<name>`` (how Codex's and hand-made worktrees are recognised).
The second needs the folder to still exist; a transcript often outlives it, so the first is
tried first and both fail soft to the folder.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable

__all__ = ["fold_worktree", "read_gitfile"]

_LAYOUT_MARKER = "/.claude/worktrees/"
_GIT_WORKTREES = "/.git/worktrees/"


def read_gitfile(folder: str) -> str | None:
    """The text of ``folder/.git`` when it is a file (a worktree's link), else None."""
    try:
        with open(f"{folder.rstrip('/')}/.git", encoding="utf-8") as handle:
            return handle.read(4096)
    except (OSError, UnicodeDecodeError):
        return None


def fold_worktree(
    project_dir: str | None, gitfile: Callable[[str], str | None] = read_gitfile
) -> str | None:
    """The repository ``project_dir`` belongs to (itself when it is not a worktree)."""
    if not project_dir:
        return project_dir
    marker = project_dir.find(_LAYOUT_MARKER)
    if marker > 0:
        return project_dir[:marker]
    link = gitfile(project_dir)
    if link and link.startswith("gitdir:"):
        target = link[len("gitdir:") :].strip()
        cut = target.find(_GIT_WORKTREES)
        if cut > 0:
            if not target.startswith("/"):  # a relative link, from the worktree's own folder
                target = posixpath.normpath(posixpath.join(project_dir, target))
                cut = target.find(_GIT_WORKTREES)
            return target[:cut]
    return project_dir
