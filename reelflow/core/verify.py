"""Verification, pure: does the object S3 holds match what the database recorded as stored?

The verify flow (flows/verify.py) lists a movie's objects (ListObjectsV2 gives every size, a
thousand keys per request) and HEADs the ones whose size matches (the sha256 that uploads
store in the object's metadata); `judge` names what is wrong, if anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["NOT_CHECKED", "Problem", "StoredObject", "describe", "judge"]

Problem = Literal["missing", "size", "sha256"]

# A HEAD that was not made (size-only runs, or the size already differs).
NOT_CHECKED = "not-checked"


@dataclass(frozen=True)
class StoredObject:
    """An asset row the database says is stored: where its object is and what it holds."""

    asset_id: int
    movie_id: str
    episode: int
    kind: str
    bucket: str
    key: str
    bytes: int | None
    sha256: str | None


def judge(
    recorded_bytes: int | None,
    recorded_sha256: str | None,
    listed_size: int | None,
    found_sha256: str | None = NOT_CHECKED,
) -> Problem | None:
    """What is wrong with a stored object, or None.

    listed_size    the size the listing gave, None when the key was not listed (missing)
    found_sha256   the sha256 in the object's metadata: NOT_CHECKED when no HEAD was made,
                   None when the HEAD found no object or no sha256 metadata
    A recorded value that is unknown (None) is not held against the object.
    """
    if listed_size is None:
        return "missing"
    if recorded_bytes is not None and listed_size != recorded_bytes:
        return "size"
    if found_sha256 == NOT_CHECKED or recorded_sha256 is None:
        return None
    return None if found_sha256 == recorded_sha256 else "sha256"


def describe(
    problem: Problem, recorded_bytes: int | None, listed_size: int | None, bucket: str, key: str
) -> str:
    """The error an asset marked by verify carries (its last_error): what was found where."""
    where = f"s3://{bucket}/{key}"
    if problem == "missing":
        return f"verify: the object is missing from S3 ({where})"
    if problem == "size":
        return (
            f"verify: S3 holds {listed_size} bytes, the database recorded {recorded_bytes} "
            f"({where})"
        )
    return f"verify: the object's sha256 is not the recorded one ({where})"
