"""Finding the process of each session, from every source there is, most exact first.

1. The spool (``collector.tracker.spool``): Claude Code hooks spooled by ``agent-viz-monitor hook``
   (exact session id and transcript path, the agent pid found by walking up from the hook) and
   orchestrators' registrations (``register``: a pid and the seed's fields, attached to the
   transcript session when one appears) and stop notices (``register --stopped``).
2. The agents' own per-process records (``collector.tracker.agent_records``: Claude Code's
   ``sessions/<pid>.json``), which also carry the agent's own busy/idle/waiting.
3. A process scan: agent processes recognised by argv whose working directory matches a
   session being appended (``collector.tracker.attribution``).

Sources 2 and 3 run once per ``scan_interval``; the spool is read every tick. Every identity a
record carries is re-checked against the live process before it is attached.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from collector.log import get_logger
from collector.parsers.sources import classify
from collector.tracker.agent_records import AgentRecord, RecordReader
from collector.tracker.attribution import AgentProcess, Candidate, could_own, pair
from collector.tracker.book import SessionBook
from collector.tracker.model import (
    HookEvent,
    Registration,
    StopNotice,
    Tracked,
    parse_spooled,
    waiting_notice,
)
from collector.tracker.process import (
    ProcessIdentity,
    ancestry,
    is_alive,
    read_cwd,
    read_identity,
    read_info,
    recognize_agent,
    worth_reading,
)
from collector.tracker.session_status import TERMINAL
from collector.tracker.spool import read_records, record_names
from collector.tracker.tmux import PaneMap, pane_for

__all__ = ["ProcessScan", "SpoolIntake"]

_log = get_logger(component="tracker")
_STOP_WINDOW = 60.0  # a stop notice applies to an exit this close to it
_HELD_FOR = 24 * 3600.0  # a hook whose session never appears is dropped after this
_MIN_AGE = 0.5  # seconds: a younger process may sit between fork and exec
_REPORT_LINGER = 5.0  # seconds an agent's vanished record still speaks while its process lives
Finish = Callable[[Path], None]


class SpoolIntake:
    """Applies new spool records to the book; ``finish(path)`` deletes a record once applied."""

    def __init__(self, book: SessionBook, folder: Path, claude_root: str, finish: Finish) -> None:
        self.book = book
        self.folder = folder
        self.claude_root = claude_root
        self.finish = finish
        self._seen: set[str] = set()
        self._held: dict[str, list[HookEvent]] = {}  # hooks of sessions not stored yet
        self._stops: list[StopNotice] = []

    def read(self, now: float) -> None:
        """Apply every record not seen before."""
        self._seen &= set(record_names(self.folder))  # forget the deleted ones
        for path, data in read_records(self.folder, skip=self._seen):
            self._seen.add(path.name)
            record = parse_spooled(path, data) if data is not None else None
            if record is None:
                _log.warning("spool_record_invalid", path=str(path))
                self.finish(path)
            elif isinstance(record, HookEvent):
                self._hook(record, now)
            elif isinstance(record, Registration):
                self.book.registrations[record.reg_id] = record
                _log.info("agent_registered", pid=record.identity.pid, id=record.reg_id)
            else:
                self._stops.append(record)
        self._release_held()
        self._apply_stops(now)
        self._expire_held(now)

    @property
    def holding(self) -> bool:
        """Are hooks waiting for their session to be stored (the tracker then ticks fast)?"""
        return bool(self._held)

    def release_held(self) -> None:
        """Apply held hooks whose session the tracker now knows (call after admitting rows)."""
        self._release_held()

    def _release_held(self) -> None:
        """Apply the hooks that waited for a session the tracker now knows."""
        for key in list(self._held):
            t = self.book.by_key(key, load=False)
            if t is None:
                continue
            for event in self._held.pop(key):
                self._apply(t, event)
                self.finish(event.path)

    def key_of(self, event: HookEvent) -> str:
        """Our session key for a hook's session."""
        if event.transcript_path:
            source = classify("claude-code", self.claude_root, event.transcript_path)
            if source is not None:
                return source.session_id
        return f"claude-code:{event.session_id}"

    def _hook(self, event: HookEvent, now: float) -> None:
        key = self.key_of(event)
        t = self.book.by_key(key)
        if t is not None and key in self._held:
            self._release_held()
        if t is None:
            if event.event == "SessionEnd":  # ended before writing anything: nothing to track
                for held in self._held.pop(key, []):
                    self.finish(held.path)
                self.finish(event.path)
            else:
                self._held.setdefault(key, []).append(event)
            return
        self._apply(t, event)
        self.finish(event.path)

    def _apply(self, t: Tracked, event: HookEvent) -> None:
        t.hook_at = max(t.hook_at or 0.0, event.at)
        if event.event in ("SessionStart", "UserPromptSubmit", "Stop", "PostToolUse"):
            t.notice = None
        if event.event in ("Stop", "UserPromptSubmit", "SessionStart"):
            t.stop_at = event.at if event.event == "Stop" else None
        if waiting_notice(event):
            t.notice = (event.detail or "waiting", event.at)
        if event.event == "SessionEnd":
            # The process exits right after (0.5-0.7 s): it stays watched so ended_at is the
            # exit. After /clear it lives on in a new session, so it is let go at once.
            t.end_hook, t.end_at = event.detail or "other", event.at
            if event.detail == "clear":
                self.book.release(t)
            return
        if event.event == "SessionStart":
            t.end_hook, t.superseded = None, False
        if event.identity is not None and is_alive(event.identity):
            self.book.attach(t, event.identity, "hook")

    def _apply_stops(self, now: float) -> None:
        kept = []
        for notice in self._stops:
            if self._stop_applies(notice, now):
                self.finish(notice.path)
            elif now - notice.at < _STOP_WINDOW:
                kept.append(notice)
            else:
                self.finish(notice.path)
        self._stops = kept

    def _stop_applies(self, notice: StopNotice, now: float) -> bool:
        for reg in self.book.registrations.values():
            if reg.identity.pid == notice.pid:
                reg.stop_requested = True
                return True
        for t in self.book:
            process = t.identity or t.last_identity
            if process is None or process.pid != notice.pid:
                continue
            if notice.identity is not None and not notice.identity.matches(process):
                continue
            if t.identity is None and t.exited_at is None:
                ended = t.row.ended_at or 0.0
                if t.stored_status not in TERMINAL or abs(ended - notice.at) > _STOP_WINDOW:
                    continue
                t.exited_at = ended or now  # judge the exit again, as stopped
            t.stop_requested = True
            return True
        return False

    def _expire_held(self, now: float) -> None:
        for key, events in list(self._held.items()):
            live = [e for e in events if now - e.at < _HELD_FOR
                    and (e.identity is None or is_alive(e.identity))]  # fmt: skip
            for gone in events:
                if gone not in live:
                    self.finish(gone.path)
            if live:
                self._held[key] = live
            else:
                del self._held[key]


class ProcessScan:
    """Registry records, the process scan and tmux panes, once per ``scan_interval``."""

    def __init__(self, book: SessionBook, registry: Path, panes: PaneMap | None) -> None:
        self.book = book
        self.registry = RecordReader(registry)
        self.panes = panes
        self._agents: dict[tuple[int, float, str], str | None] = {}

    def run(self, now: float) -> None:
        """One full scan."""
        self.records(now)
        self._scan(now)
        self._map_panes()

    def records(self, now: float) -> None:
        """Read the agents' own records (also on its own, when the observer saw one change)."""
        reported: set[int] = set()
        for record in self.registry.read():
            identity = read_identity(record.pid)
            if identity is None or not record.names(identity):
                continue  # a stale file of a dead process, or a reused pid
            t = self.book.by_key(record.session_key)
            if t is None or not self.book.attach(t, identity, "registry"):
                continue
            if t.identity is not None and t.identity.matches(identity):
                _note_wait(t, record, now)
                t.report, t.report_lost_at = record, None
                reported.add(t.row.id)
        for t in self.book:
            if t.row.id in reported or t.report is None:
                continue
            # Claude Code removes its record as it exits (/exit): its last word stands for
            # the moment until the exit, rather than a "running" blip in between.
            t.report_lost_at = t.report_lost_at or now
            if t.identity is None or now - t.report_lost_at > _REPORT_LINGER:
                t.report, t.waiting_since, t.report_lost_at = None, None, None

    def _scan(self, now: float) -> None:
        candidates = [c for t in self.book if (c := _candidate(t)) is not None]
        if not candidates and not self.book.registrations:
            # Nothing a process could be paired with: reading every process's name would be
            # the tracker's whole idle cost (~10 ms per 70 processes here, every scan_interval).
            return
        processes = self._agent_processes(now)
        for process, candidate in pair(processes, candidates):
            t = self.book.sessions[candidate.session_id]
            registered = any(r.identity.matches(process.identity)
                             for r in self.book.registrations.values())  # fmt: skip
            self.book.attach(t, process.identity, "registration" if registered else "scan")
        self._late_registrations(candidates, now)

    def _agent_processes(self, now: float) -> list[AgentProcess]:
        import psutil

        owned = self.book.live()
        registered = {r.identity.pid: r for r in self.book.registrations.values()}
        seen: dict[tuple[int, float, str], str | None] = {}
        out: list[AgentProcess] = []
        for proc in psutil.process_iter(["name"]):
            reg = registered.get(proc.pid)
            if reg is None and not worth_reading(proc.info.get("name")):
                continue
            info = read_info(proc.pid, with_argv=False)
            if info is None or any(o.matches(info.identity) for o in owned):
                continue
            identity = info.identity
            if reg is not None and reg.identity.matches(identity):
                cwd = reg.project_dir or read_cwd(proc.pid)
                out.append(AgentProcess(identity, reg.agent, cwd))
                continue
            if now - identity.started_at < _MIN_AGE:
                continue  # maybe forked and not yet exec'd: argv would still be its parent's
            agent = self._recognise(identity, info.comm, seen)
            if agent is not None:
                out.append(AgentProcess(identity, agent, read_cwd(proc.pid)))
        self._agents = seen
        return out

    def _recognise(
        self, identity: ProcessIdentity, comm: str, seen: dict[tuple[int, float, str], str | None]
    ) -> str | None:
        key = (identity.pid, float(identity.start_ticks or identity.started_at), comm)
        if key in self._agents:
            seen[key] = self._agents[key]
        else:
            info = read_info(identity.pid)
            seen[key] = recognize_agent(info.argv) if info is not None else None
        return seen[key]

    def _late_registrations(self, candidates: list[Candidate], now: float) -> None:
        """A registered agent that already exited still claims the session it wrote."""
        for reg in list(self.book.registrations.values()):
            if is_alive(reg.identity):
                continue
            process = AgentProcess(reg.identity, reg.agent, reg.project_dir)
            for candidate in candidates:
                t = self.book.sessions[candidate.session_id]
                if t.identity is None and could_own(process, candidate):
                    t.registration, t.fields_pending = reg, True
                    t.stop_requested = t.stop_requested or reg.stop_requested
                    t.ever_process, t.last_identity = True, reg.identity
                    t.exited_at = now
                    del self.book.registrations[reg.reg_id]
                    break

    def map_new_panes(self) -> None:
        """Find the pane of a process attached since the last scan (its lineage is unknown):
        a short session may be over before the next full scan."""
        if any(t.identity is not None and not t.lineage for t in self.book):
            self._map_panes()

    def _map_panes(self) -> None:
        if self.panes is None or not self.panes.available:
            return
        attached = [t for t in self.book if t.identity is not None]
        if not attached:
            return
        panes = self.panes.refresh()
        for t in attached:
            assert t.identity is not None
            if not t.lineage:
                t.lineage = (t.identity.pid, *(a.identity.pid for a in ancestry(t.identity.pid)))
            t.tmux = pane_for(t.lineage, panes) or t.tmux


def _note_wait(t: Tracked, record: AgentRecord, now: float) -> None:
    """Time the agent's ``waiting`` spells by its own clock: a tool call's permission wait."""
    at = record.status_at or now
    if record.status == "waiting" and "input" in (record.waiting_for or ""):
        return  # waiting for the next prompt, not for a permission
    if record.status == "waiting":
        if t.waiting_since is None:
            t.waiting_since = at
    elif t.waiting_since is not None:
        t.waits.append((t.waiting_since, max(0.0, at - t.waiting_since)))
        t.waiting_since = None


def _candidate(t: Tracked) -> Candidate | None:
    """``t`` as a session a scanned process could own, or None when it cannot be one."""
    row = t.row
    if row.parent_id is not None or t.identity is not None or t.end_hook is not None:
        return None
    if row.last_activity is None or t.exited_at is not None:
        return None
    if t.stored_status in TERMINAL and row.last_activity <= (row.ended_at or 0.0) + 1.0:
        return None  # ended, and nothing was written since: only a hook may revive it
    return Candidate(row.id, row.agent, row.project_dir, row.transcript_path,
                     row.first_activity, row.last_activity)  # fmt: skip
