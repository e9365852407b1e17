"""MD5 checksums of files and of byte strings, and a helper that checks them."""
from __future__ import annotations

import hashlib
import os

from .errors import DatasetError

_CHUNK = 1 << 20


def md5_bytes(data: bytes) -> str:
    """Hex MD5 digest of ``data``."""
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def md5_file(path: str | os.PathLike) -> str:
    """Hex MD5 digest of the bytes of the file at ``path`` (as stored, not decompressed)."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_md5(actual: str, expected: str, what: str | os.PathLike, hint: str = "") -> None:
    """Raise :class:`DatasetError` if the digests differ.

    ``what`` names the checked file (and which bytes were hashed) in the message; ``hint``
    is appended to it, e.g. advice to delete the file and download it again.
    """
    if actual.lower() != expected.lower():
        message = f"{what}: MD5 checksum mismatch (expected {expected}, got {actual})"
        if hint:
            message += f". {hint}"
        raise DatasetError(message)


__all__ = ["md5_bytes", "md5_file", "check_md5"]
