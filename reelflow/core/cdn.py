"""CDN invalidation, decided: which paths, in which batches, under which reference. Pure.

reelflow's keys carry a content version wherever it cuts or renders (thumbnail rungs, clips):
a replaced source gets new keys, so those never need a purge when replaced. What does:
objects that are deleted (a deleted movie, a replaced rendition's old key), and ready-made
previews, whose seed key (`ep{n}_preview.webm`) stays the same when their bytes change.

A batch's CallerReference is derived from its paths, so a retried request (a timeout, a
crash before the answer was recorded) is the same invalidation to CloudFront, not a second
one billed again.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from urllib.parse import quote

__all__ = ["MAX_PATHS", "batches", "caller_reference", "cdn_path", "versioned"]

# CloudFront allows 3,000 paths in invalidations in progress per distribution; a third of
# that per request leaves room for other writers and for retries.
MAX_PATHS = 1000
_VERSIONED = re.compile(r"_(?:thumb|preview)-[a-z][a-z0-9]{0,15}-[0-9a-f]{10}\.[a-z0-9]{1,8}$")


def cdn_path(key: str) -> str:
    """The invalidation path of an object key: '/' + the key, percent-encoded as CloudFront
    expects (unreserved characters and '/' as they are)."""
    return "/" + quote(key, safe="/-_.~")


def versioned(key: str) -> bool:
    """True for keys that carry a content version (their bytes never change)."""
    return bool(_VERSIONED.search(key))


def batches(paths: Sequence[str], size: int = MAX_PATHS) -> list[list[str]]:
    """The paths, deduplicated and sorted, in batches of at most `size`."""
    ordered = sorted(set(paths))
    return [ordered[i : i + size] for i in range(0, len(ordered), size)]


def caller_reference(paths: Sequence[str]) -> str:
    """The same paths, the same reference (order does not matter)."""
    digest = hashlib.sha256("\n".join(sorted(set(paths))).encode()).hexdigest()
    return f"reelflow-{digest[:40]}"
