"""The daemon's hashes: the same digests as hashlib's, without mapping OpenSSL."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import pytest

from collector.digests import blake2b, sha256


@pytest.mark.parametrize("data", [b"", b"abc", bytes(range(256)) * 64, "é✓".encode() * 999])
def test_same_digests_as_hashlib(data: bytes) -> None:
    assert sha256(data).hexdigest() == hashlib.sha256(data).hexdigest()
    assert (
        blake2b(data, digest_size=8).hexdigest() == hashlib.blake2b(data, digest_size=8).hexdigest()
    )


def test_incremental_sha256_matches_one_shot() -> None:
    hasher = sha256()
    for piece in (b"one ", b"two ", b"three"):
        hasher.update(piece)
    assert hasher.hexdigest() == hashlib.sha256(b"one two three").hexdigest()


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc/self/maps")
def test_daemon_imports_do_not_map_openssl() -> None:
    """What `run` imports leaves libcrypto unmapped (3.3 MB of an idle daemon's RSS)."""
    code = (
        "import sys, collector.service.daemon, collector.ingest.documents, "
        "collector.sinks.machine\n"
        "print('_hashlib' in sys.modules, 'libcrypto' in open('/proc/self/maps').read())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
