"""Why a PostgreSQL connection or batch failed, in words a person can act on.

Pure: an error's SQLSTATE (when the server sent one) and message in, a ``Diagnosis`` out. The
message libpq gives is kept after the cause, without the DSN (which may hold a password).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Diagnosis", "diagnose"]


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """A failure's kind, its cause in words and what to do."""

    kind: str  # auth | tls | unreachable | dns | no_database | read_only | disk_full | slow |
    # schema | rejected (a row) | too_old | refused | other
    cause: str
    fix: str
    retry: bool = True  # worth retrying by itself (an outage) or not before someone acts


_BY_STATE: dict[str, tuple[str, str, str]] = {
    "28P01": ("auth", "wrong password (the server rejected the credentials)",
              "correct the password in the DSN, dsn_file or PGPASSWORD/.pgpass"),
    "3D000": ("no_database", "the database does not exist",
              "create it (createdb) or correct dbname in the DSN"),
    "25006": ("read_only", "the server is read-only (a standby, or default_transaction_read_only)",
              "point the DSN at the primary (target_session_attrs=read-write)"),
    "53100": ("disk_full", "the server is out of disk space", "free space on the server"),
    "57014": ("slow", "the server did not answer in time (statement timeout)",
              "check the server's load; the batch is retried"),
    "42P01": ("schema", "a central table is missing: the schema was changed under us",
              "restore the schema, or drop it all so the shipper recreates it"),
    "42703": ("schema", "a central column is missing: the schema was changed under us",
              "restore the schema, or drop it all so the shipper recreates it"),
}  # fmt: skip
_LOST = ("unreachable", "the connection to the server was lost", "the batch is retried")
_BY_TEXT: tuple[tuple[str, tuple[str, str, str]], ...] = (
    ("password authentication failed", _BY_STATE["28P01"]),
    ("no password supplied", ("auth", "the server wants a password and none was given",
                              "add password to the DSN, or use PGPASSWORD/.pgpass")),
    ("no encryption", ("tls", "the server requires TLS (its pg_hba.conf refuses unencrypted "
                       "connections)", "add sslmode=require (or verify-full) to the DSN")),
    ("ssl was required", ("tls", "TLS was required by the DSN but the server does not offer it",
                          "enable ssl on the server or relax sslmode in the DSN")),
    ("certificate verify failed", ("tls", "the server's TLS certificate could not be verified",
                                   "set sslrootcert to the server's CA in the DSN")),
    ("connection refused", ("unreachable", "nothing listens at that host and port (server "
                            "down?)", "start the server or correct host/port in the DSN")),
    ("timeout expired", ("unreachable", "the host did not answer in time (unreachable or "
                         "firewalled)", "check the network path to the server")),
    ("no route to host", ("unreachable", "no route to the host", "check the network")),
    ("network is unreachable", ("unreachable", "the network is unreachable", "check the network")),
    ("failed to resolve host", ("dns", "the host name does not resolve", "correct host")),
    ("could not translate host name", ("dns", "the host name does not resolve",
                                       "correct host in the DSN")),
    ("does not exist", _BY_STATE["3D000"]),
    ("read-only transaction", _BY_STATE["25006"]),
    ("no space left", _BY_STATE["53100"]),
    ("server closed the connection", ("unreachable", "the server closed the connection "
                                      "(restarting or crashed?)", "the batch is retried")),
    ("terminating connection", ("unreachable", "the server ended the connection (restart or "
                                "shutdown)", "the batch is retried")),
    ("the database system is", ("unreachable", "the server is starting up or shutting down",
                                "the batch is retried")),
    ("consuming input failed", _LOST),
    ("connection is lost", _LOST),
)  # fmt: skip


def diagnose(sqlstate: str | None, message: str) -> Diagnosis:
    """The cause of a failure from its SQLSTATE and libpq/server message."""
    text = " ".join(message.split())
    if sqlstate and sqlstate[:2] in ("22", "23"):  # data exception, integrity violation
        text = " ".join(message.split())
        fix = "the row is isolated and passed over (see the log for its key)"
        return Diagnosis("rejected", f"PostgreSQL rejected a row: {text}", fix)
    found = _BY_STATE.get(sqlstate or "")
    if found is None:
        low = text.lower()
        found = next((what for needle, what in _BY_TEXT if needle in low), None)
    if found is None:
        return Diagnosis("other", text or "unknown error", "see the message")
    kind, cause, fix = found
    detail = _detail(text)
    return Diagnosis(kind, f"{cause}: {detail}" if detail else cause, fix,
                     retry=kind not in ("auth", "tls", "dns", "no_database"))  # fmt: skip


def _detail(text: str) -> str:
    """libpq's own words, without its "connection failed:" prefix."""
    return text.removeprefix("connection failed: ").strip()
