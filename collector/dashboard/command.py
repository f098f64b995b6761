"""``agent-viz-monitor dashboard``: serve the dashboard on a local port until SIGINT/SIGTERM.

The socket is bound here, before uvicorn starts, so ``--port 0`` works (the kernel picks a
free port and the printed URL names it) and ``--open`` can point the browser at a socket that
already listens. A host that is not loopback needs a token: the dashboard shows every
transcript's commands and files, so the network must not see it without one.
"""

from __future__ import annotations

import argparse
import re
import signal
import socket
import sys
import webbrowser
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from collector.dashboard.guard import is_loopback
from config import Config

if TYPE_CHECKING:
    from starlette.applications import Starlette

__all__ = ["add_arguments", "run"]

EXIT_OK, EXIT_USAGE = 0, 2
_TOKEN = re.compile(r"[A-Za-z0-9._~-]{16,256}")


def add_arguments(name: str, parser: argparse.ArgumentParser) -> None:
    """Flags of ``dashboard``."""
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    parser.add_argument("--port", type=int, default=8765, help="port (0: any free port)")
    parser.add_argument("--token", help="require this token (needed off loopback)")
    parser.add_argument("--token-file", metavar="FILE", help="read the token from FILE")
    parser.add_argument("--open", action="store_true", help="open the page in a browser")
    parser.add_argument("--db", metavar="PATH", help="database (default: from the config)")


def run(name: str, args: argparse.Namespace, config: Config) -> int:
    """Serve until stopped; 0 after SIGINT/SIGTERM, 2 on a bad option."""
    token, problem = _token(args)
    if problem is None and not is_loopback(args.host) and token is None:
        problem = (f"--host {args.host} is not loopback: anyone on the network could read "
                   "your transcripts; give --token T or --token-file FILE")  # fmt: skip
    if problem is not None:
        print(f"agent-viz-monitor dashboard: {problem}", file=sys.stderr)
        return EXIT_USAGE
    try:
        sock = _bind(args.host, args.port)
    except OSError as exc:
        print(f"agent-viz-monitor dashboard: cannot listen on {args.host}:{args.port}: "
              f"{exc.strerror}", file=sys.stderr)  # fmt: skip
        return EXIT_USAGE
    port = int(sock.getsockname()[1])
    database = Path(args.db) if args.db else config.store.path
    url = _url(args.host, port, token)
    print(f"agent-viz-monitor dashboard: {url} (read-only, {database})", flush=True)
    if args.open:
        webbrowser.open(url)
    # The web stack loads only here: every other command builds this parser too (the Claude
    # Code hook on each event), and must not pay for uvicorn, Starlette and the price list.
    from collector.dashboard.app import build_app

    _serve(sock, build_app(database, host=args.host, port=port, token=token))
    return EXIT_OK


def _token(args: argparse.Namespace) -> tuple[str | None, str | None]:
    token = args.token
    if args.token_file:
        try:
            token = Path(args.token_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            return None, f"--token-file {args.token_file}: {exc.strerror}"
    if token is not None and not _TOKEN.fullmatch(token):
        return None, "the token must be 16-256 characters of A-Z a-z 0-9 . _ ~ -"
    return token, None


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def _url(host: str, port: int, token: str | None) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    shown = "[::1]" if shown == "::" else (f"[{shown}]" if ":" in shown else shown)
    return f"http://{shown}:{port}/" + (f"?token={token}" if token else "")


def _serve(sock: socket.socket, app: Starlette) -> None:
    """Run uvicorn on ``sock``; a stop signal ends the serve loop, and uvicorn's re-raising
    of the captured signal afterwards lands on a no-op handler, so the process exits 0."""
    import uvicorn

    def ignore(signum: int, frame: FrameType | None) -> None:
        pass

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, ignore)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on",
                            timeout_graceful_shutdown=2, server_header=False)  # fmt: skip
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
