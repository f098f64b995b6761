"""The dashboard's front door: Host check, token, methods and security headers (pure ASGI).

- DNS rebinding: a page on ``evil.example`` that re-resolves its name to 127.0.0.1 can make the
  browser send requests to this port with ``Host: evil.example:8765``. Only the bound host and
  the loopback names, with the bound port, are answered; anything else gets 421. A wildcard
  bind (``0.0.0.0``, ``::``) has no single name, so it accepts any Host, and for that reason
  it is only allowed with a token.
- Token: when set, every request needs it, as ``Authorization: Bearer``, the ``avm_token``
  cookie, or ``?token=`` (a page opened that way gets the cookie, which the page's own fetches
  and its event stream then carry: ``EventSource`` cannot send headers).
- No CORS: no ``Access-Control-*`` header is ever sent, so other origins cannot read answers.
  Only GET and HEAD are served: the dashboard never changes anything.
- Every response carries a Content-Security-Policy that allows scripts, styles and connections
  from this origin only (no inline script, no ``eval``), so even a transcript string that
  slipped into markup could not run.
"""

from __future__ import annotations

import hmac
from http.cookies import CookieError, SimpleCookie
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["LOOPBACK_NAMES", "Guard", "allowed_hosts", "is_loopback"]

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
WILDCARDS = ("0.0.0.0", "::", "")
COOKIE = "avm_token"
SECURITY_HEADERS = [
    (b"content-security-policy",
     b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
     b"connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; "
     b"frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]  # fmt: skip


def is_loopback(host: str) -> bool:
    """Is ``host`` a loopback name or address (127.0.0.0/8, ::1, localhost)?"""
    bare = host.strip("[]")
    return bare in ("localhost", "::1") or bare.startswith("127.")


def allowed_hosts(host: str, port: int) -> frozenset[str] | None:
    """The Host header values answered, or None for a wildcard bind (any)."""
    if host in WILDCARDS:
        return None
    name = f"[{host}]" if ":" in host else host
    return frozenset(f"{n}:{port}" for n in (name, *LOOPBACK_NAMES))


class Guard:
    """ASGI middleware applying the rules of this module's docstring."""

    def __init__(self, app: ASGIApp, hosts: frozenset[str] | None, token: str | None) -> None:
        self.app = app
        self.hosts = hosts
        self.token = token.encode() if token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        refusal = self._refusal(scope, headers)
        if refusal is not None:
            await _plain(send, *refusal)
            return
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if self.token and query.get("token") and _is_page(scope["path"]):
            await _set_cookie(send, scope["path"], self.token)
            return

        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, secured)

    def _refusal(self, scope: Scope, headers: dict[bytes, bytes]) -> tuple[int, str] | None:
        if self.hosts is not None:
            host = headers.get(b"host", b"").decode("latin-1").lower()
            if host not in self.hosts:
                return 421, "Host not allowed (this dashboard answers only to its own address)"
        if scope["method"] not in ("GET", "HEAD"):
            return 405, "the dashboard is read-only: GET and HEAD only"
        if self.token is not None and not self._authorised(scope, headers):
            return 401, "token required: open the URL the dashboard printed (?token=...)"
        return None

    def _authorised(self, scope: Scope, headers: dict[bytes, bytes]) -> bool:
        assert self.token is not None
        offered: list[bytes] = []
        auth = headers.get(b"authorization", b"")
        if auth.lower().startswith(b"bearer "):
            offered.append(auth[7:].strip())
        cookie: SimpleCookie = SimpleCookie()
        try:
            cookie.load(headers.get(b"cookie", b"").decode("latin-1"))
        except CookieError:  # a malformed cookie header is simply no token
            cookie = SimpleCookie()
        if COOKIE in cookie:
            offered.append(cookie[COOKIE].value.encode())
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        offered.extend(value.encode() for value in query.get("token", []))
        return any(hmac.compare_digest(value, self.token) for value in offered)


def _is_page(path: str) -> bool:
    return path in ("/", "/usage") or path.startswith("/sessions/")


async def _plain(send: Send, status: int, text: str) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"text/plain; charset=utf-8"), *SECURITY_HEADERS],
        }
    )
    await send({"type": "http.response.body", "body": text.encode() + b"\n"})  # fmt: skip


async def _set_cookie(send: Send, path: str, token: bytes) -> None:
    """Trade ``?token=`` for a same-site cookie and reload the page without it in the URL."""
    cookie = COOKIE.encode() + b"=" + token + b"; Path=/; HttpOnly; SameSite=Strict"
    await send(
        {
            "type": "http.response.start",
            "status": 303,
            "headers": [(b"location", path.encode()), (b"set-cookie", cookie), *SECURITY_HEADERS],
        }
    )
    await send({"type": "http.response.body", "body": b""})  # fmt: skip
