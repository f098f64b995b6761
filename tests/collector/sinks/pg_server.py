"""A throwaway PostgreSQL server for tests: initdb + pg_ctl from Debian's package into a temp
folder, listening on 127.0.0.1 at a free port and on a Unix socket in that folder.

PostgreSQL refuses to run as root (CI runs as root), so there the server runs as the package's
``postgres`` user and the folder is handed to it. Access: the socket trusts everyone (tests
connect as superuser ``postgres`` to create databases); TCP asks the ``avm`` role for its
password (scram), and the ``tlsonly`` role may connect only over TLS (the server has none, so
its clients get "no encryption" — what a TLS-only managed server says).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

PASSWORD = "s3cret-pw"
_HBA = """\
local all all trust
hostssl all tlsonly 127.0.0.1/32 trust
host all tlsonly 127.0.0.1/32 reject
host all all 127.0.0.1/32 scram-sha-256
"""


def bin_dir() -> Path | None:
    """The newest installed server's bin folder, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_major)
    return Path(found[-1]).parent if found else None


def _major(path: str) -> int:
    try:
        return int(Path(path).parent.parent.name)
    except ValueError:
        return 0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PgServer:
    """One server; ``start()``, ``stop()``, ``restart()``, ``close()`` (removes everything)."""

    def __init__(self) -> None:
        found = bin_dir()
        if found is None:
            raise RuntimeError(
                "PostgreSQL server binaries not installed (apt-get install postgresql)"
            )
        self.bin = found
        self.folder = Path(tempfile.mkdtemp(prefix="avm-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self.user = _run_as()
        if self.user is not None:
            os.chmod(self.folder, 0o755)
            entry = pwd.getpwnam(self.user)
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)
        self._cmd([str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres",
                   "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"])  # fmt: skip
        conf = self.data / "postgresql.conf"
        with conf.open("a") as handle:
            handle.write(
                f"port = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.folder}'\nfsync = off\n"
                "synchronous_commit = off\nfull_page_writes = off\nshared_buffers = 32MB\n"
                "max_connections = 40\n"
            )
        (self.data / "pg_hba.conf").write_text(_HBA)
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            os.chown(self.data / "pg_hba.conf", entry.pw_uid, entry.pw_gid)
        self.start()
        with self.admin() as conn:
            conn.execute(f"CREATE ROLE avm LOGIN SUPERUSER PASSWORD '{PASSWORD}'")
            conn.execute("CREATE ROLE tlsonly LOGIN")

    def _cmd(self, argv: list[str]) -> None:
        subprocess.run(argv, check=True, capture_output=True, user=self.user, timeout=120)

    def start(self) -> None:
        """Start and wait until it accepts connections."""
        self._cmd([str(self.bin / "pg_ctl"), "-D", str(self.data), "-l",
                   str(self.folder / "log"), "-w", "-t", "60", "start"])  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """Stop (``fast`` ends sessions; ``immediate`` is a crash)."""
        self._cmd([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"])

    def running(self) -> bool:
        """Does the server answer."""
        argv = [str(self.bin / "pg_isready"), "-h", str(self.folder), "-p", str(self.port)]
        done = subprocess.run([*argv, "-t", "2"], capture_output=True, check=False)
        return done.returncode == 0

    def restart(self) -> None:
        """Stop (fast) and start again."""
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop it and remove the folder."""
        with contextlib.suppress(subprocess.SubprocessError):
            self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)

    def admin_dsn(self, dbname: str = "postgres") -> str:
        """Superuser over the Unix socket."""
        return f"host={self.folder} port={self.port} user=postgres dbname={dbname}"

    def admin(self, dbname: str = "postgres") -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(self.admin_dsn(dbname), autocommit=True)

    def tcp_dsn(self, dbname: str, password: str = PASSWORD, user: str = "avm") -> str:
        """The ``avm`` role over TCP with a password (what a team's server looks like)."""
        return (f"host=127.0.0.1 port={self.port} user={user} password={password} "
                f"dbname={dbname} connect_timeout=5")  # fmt: skip

    def new_database(self) -> str:
        """A fresh, empty database; its name."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        with self.admin() as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return name


def _run_as() -> str | None:
    """The user the server runs as: ourselves, or ``postgres`` when we are root."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise RuntimeError("running as root and no 'postgres' user to run the server") from None
    return "postgres"


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.02):  # type: ignore[no-untyped-def]
    """Poll ``predicate`` until it returns a truthy value or ``timeout`` passes (returns it)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)
