"""Object keys: the platform generates every key, and every backend checks them the same way.

Layout (one prefix per owner, so an owner's objects can be listed or removed together):

    datasets/{owner}/{dataset_id}/{filename}
    models/{owner}/{model_id}/{version_id}/...
    jobs/{owner}/{job_id}/...

Each path segment is encoded by `segment()`: `[A-Za-z0-9._-]` is kept and every other byte of its
UTF-8 form becomes `%XX`, so any owner `sub` (`google-oauth2|123`, an e-mail, a UUID) maps to one
segment, deterministically and injectively (`%` itself is always encoded), and never to `.` or
to anything containing `..`.
"""

from __future__ import annotations

import re
import string

__all__ = [
    "MAX_KEY_BYTES",
    "dataset_key",
    "job_prefix",
    "model_prefix",
    "segment",
    "validate_key",
    "validate_prefix",
]

MAX_KEY_BYTES = 1024  # the S3 limit
_SAFE = frozenset(string.ascii_letters + string.digits + "._-")
_DOT_RUNS = re.compile(r"\.{2,}")


def segment(value: str) -> str:
    """Encode one path segment: keep `[A-Za-z0-9._-]`, percent-encode the rest (and `.`, `..`)."""
    if not value:
        raise ValueError("a key segment must not be empty")
    out = "".join(
        ch if ch in _SAFE else "".join(f"%{byte:02X}" for byte in ch.encode("utf-8")) for ch in value
    )
    if out == ".":
        return "%2E"
    # No ".." anywhere, so keys never even look like a parent reference: encode runs of dots.
    return _DOT_RUNS.sub(lambda match: "%2E" * len(match.group()), out)


def dataset_key(owner_sub: str, dataset_id: str, filename: str = "data.csv") -> str:
    """`datasets/{owner}/{dataset_id}/{filename}`."""
    return validate_key(f"datasets/{segment(owner_sub)}/{segment(dataset_id)}/{segment(filename)}")


def model_prefix(owner_sub: str, model_id: str, version_id: str) -> str:
    """`models/{owner}/{model_id}/{version_id}/` (the artifact and its requirements live under it)."""
    return validate_prefix(f"models/{segment(owner_sub)}/{segment(model_id)}/{segment(version_id)}/")


def job_prefix(owner_sub: str, job_id: str) -> str:
    """`jobs/{owner}/{job_id}/` (the trained model and the metrics a job uploads)."""
    return validate_prefix(f"jobs/{segment(owner_sub)}/{segment(job_id)}/")


def validate_key(key: str) -> str:
    """Return `key` unchanged, or raise `ValueError` if it could escape or alias another object.

    Refused: empty keys, absolute keys, backslashes, control characters, `..` anywhere, empty or
    `.` segments (so no leading, trailing or doubled `/`), and keys longer than 1024 bytes.
    """
    if not isinstance(key, str) or not key:
        raise ValueError("storage key must be a non-empty string")
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise ValueError(f"storage key is longer than {MAX_KEY_BYTES} bytes")
    if key.startswith("/"):
        raise ValueError("storage key must be relative (it starts with '/')")
    if "\\" in key:
        raise ValueError("storage key must not contain a backslash")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in key):
        raise ValueError("storage key must not contain control characters")
    if ".." in key:
        raise ValueError("storage key must not contain '..'")
    for part in key.split("/"):
        if part in ("", "."):
            raise ValueError("storage key must not contain empty or '.' segments")
    return key


def validate_prefix(prefix: str) -> str:
    """Return `prefix` unchanged if it is a valid key followed by '/', else raise `ValueError`."""
    if not isinstance(prefix, str) or not prefix.endswith("/"):
        raise ValueError("storage prefix must end with '/'")
    validate_key(prefix[:-1])
    return prefix
