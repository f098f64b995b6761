"""SHA-256 and BLAKE2b from CPython's own modules, so the daemon never maps OpenSSL.

``hashlib`` (and ``hmac``) import ``_hashlib``, which loads libcrypto: 3.3 MB of an idle
daemon's RSS (bench/bench_idle.py --maps) spent on a handful of small hashes (a checkpoint's
4 KiB head and 256-byte marker, an oversized line, a whole-file document). CPython builds its
own SHA-256 (``_sha256``; ``_sha2`` from 3.12) and BLAKE2 (``_blake2``) into the interpreter;
they give the same digests, so nothing stored changes. ``hashlib`` is the fallback on an
interpreter built without them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Protocol, cast

__all__ = ["Hash", "blake2b", "sha256"]


class Hash(Protocol):
    """What the callers use of a hash object."""

    def update(self, data: bytes | bytearray | memoryview, /) -> None: ...

    def hexdigest(self) -> str: ...


def _constructor(modules: tuple[str, ...], name: str) -> Callable[..., Hash]:
    """``name`` from the first of CPython's own ``modules`` that has it, else hashlib's."""
    for module in modules:
        try:
            return cast(Callable[..., Hash], getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):
            continue
    import hashlib  # only without the builtin modules: it maps OpenSSL

    return cast(Callable[..., Hash], getattr(hashlib, name))


sha256 = _constructor(("_sha2", "_sha256"), "sha256")
blake2b = _constructor(("_blake2",), "blake2b")
