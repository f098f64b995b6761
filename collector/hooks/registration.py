"""``agent-viz-monitor register``: orchestrators tell the tracker which process is their agent.

An orchestrator that spawns agents knows what no transcript says: the pid, the task file, who
spawned it and how much it matters (the seed's ``--pid --project-dir --task-file --spawned-by
--importance``). ``register`` records that; the tracker attaches it to the session the process
writes once its transcript appears, treating the pid as an agent whatever its argv. A registered
process that exits before any transcript appears is recorded as a session of its own,
``registered:<id>`` (crashed, or stopped when the orchestrator said so).

``register --pid P --stopped`` says the orchestrator ended (or is about to end) P on purpose,
so its session ends ``stopped`` rather than ``crashed``. Call it before signalling the agent,
or within a minute after.

Why a spool file and not a write to SQLite: the daemon's writer thread owns the only write
connection, and its batches hold the write lock for their whole transaction; a second writer
would wait on ``busy_timeout`` and, worse, would have to create or find the session row itself
— but the session it belongs to usually does not exist yet (the agent has not written its
first line). The spool (``collector.tracker.spool``) needs no lock, works while the daemon is down
(the record waits for it), keeps the pending registration across daemon restarts until it is
attached, and leaves every write to the one thread that owns them. The identity is read here,
at registration, so a pid reused later can never inherit the registration.

Python API: ``register(...)`` returns the registration id; ``mark_stopped(pid)``.
"""

from __future__ import annotations

import argparse
import os
import time
import uuid
from collections.abc import Mapping
from pathlib import Path

import psutil

from collector.tracker.process import read_cwd, read_identity
from collector.tracker.spool import write_record
from config import Config
from config.agents import names as agent_names
from config.errors import RegistrationError
from config.paths import database_file, spool_dir

__all__ = ["add_arguments", "mark_stopped", "register", "run"]


def add_arguments(name: str, parser: argparse.ArgumentParser) -> None:
    """Options of ``register``."""
    parser.add_argument("--pid", type=int, required=True, help="the agent's process id")
    parser.add_argument("--project-dir", help="the agent's project (default: its cwd)")
    parser.add_argument("--task-file", help="the task the agent works on")
    parser.add_argument("--spawned-by", help="who spawned it (orchestrator name, parent id)")
    parser.add_argument("--importance", default="normal", help="e.g. low, normal, high")
    parser.add_argument("--agent", choices=agent_names(), help="which agent it runs (default: any)")
    parser.add_argument("--stopped", action="store_true",
                        help="the orchestrator ended this process on purpose")  # fmt: skip
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="print only the registration id (for scripts)")  # fmt: skip


def run(name: str, args: argparse.Namespace, config: Config | None) -> int:
    """Write the registration (or stop notice) to the spool; prints the registration id,
    labelled (``--quiet``: the bare id, for scripts)."""
    database = config.store.path if config is not None else None
    if args.stopped:
        mark_stopped(args.pid, database=database)
        print(f"stop of pid {args.pid} recorded")
        return 0
    reg_id = register(
        args.pid, args.project_dir, task_file=args.task_file, spawned_by=args.spawned_by,
        importance=args.importance, agent=args.agent, database=database,
    )  # fmt: skip
    if getattr(args, "quiet", False):
        print(reg_id)
    else:
        print(f"registered pid {args.pid}: registration id {reg_id}")
    return 0


def register(
    pid: int,
    project_dir: str | os.PathLike[str] | None = None,
    *,
    task_file: str | os.PathLike[str] | None = None,
    spawned_by: str | None = None,
    importance: str | None = "normal",
    agent: str | None = None,
    database: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> str:
    """Register ``pid`` as an agent; returns the registration id.

    Raises ``RegistrationError`` when no process has that pid.
    """
    identity = read_identity(pid)
    if identity is None:
        raise RegistrationError(pid, "no such process (or it cannot be read)")
    if agent is not None and agent not in agent_names():
        known = ", ".join(agent_names())
        raise RegistrationError(pid, f"unknown agent {agent!r} (one of {known})")
    _check_owner(pid)
    folder = project_dir if project_dir is not None else read_cwd(pid)
    reg_id = uuid.uuid4().hex
    record = {
        "kind": "register", "id": reg_id, "ts": time.time(), "identity": identity.to_dict(),
        "project_dir": os.path.abspath(folder) if folder else None,
        "task_file": os.path.abspath(task_file) if task_file else None,
        "spawned_by": spawned_by, "importance": importance, "agent": agent,
    }  # fmt: skip
    write_record(_spool(database, env), record, durable=True)
    return reg_id


def mark_stopped(
    pid: int,
    *,
    database: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> None:
    """Record that an orchestrator ended (or is ending) ``pid`` on purpose."""
    identity = read_identity(pid)  # None when it is already gone: the pid alone then
    record = {"kind": "stop", "ts": time.time(), "pid": pid,
              "identity": identity.to_dict() if identity else None}  # fmt: skip
    write_record(_spool(database, env), record, durable=True)


def _check_owner(pid: int) -> None:
    """Only one's own processes may be registered (root may register any): another user's
    process would otherwise be attached to this user's sessions and store."""
    me = os.geteuid()
    if me == 0:
        return
    try:
        owner = psutil.Process(pid).uids().real
    except psutil.Error:
        raise RegistrationError(pid, "no such process (or it cannot be read)") from None
    if owner != me:
        raise RegistrationError(pid, f"belongs to another user (uid {owner}); only your own "
                                "processes can be registered (root may register any)")  # fmt: skip


def _spool(database: str | os.PathLike[str] | None, env: Mapping[str, str] | None) -> Path:
    return spool_dir(database if database is not None else database_file(env or os.environ))
