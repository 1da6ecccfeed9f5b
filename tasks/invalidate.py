"""Drop cached presigned URLs of objects that were replaced or deleted (best effort)."""

from __future__ import annotations

from collections.abc import Iterable

from reelflow.core.keys import s3_url
from reelflow.services import urls
from tasks.log import run_logger


def forget_cached_urls(bucket: str, keys: Iterable[str]) -> None:
    """Invalidate the keys' cached URLs; a failure is logged, never fails the caller."""
    names = [s3_url(bucket, key) for key in keys]
    if not names:
        return
    try:
        urls.invalidate(names)
    except Exception as exc:
        run_logger().warning(
            "Could not invalidate cached URLs of %d keys (%s...): %s: %s",
            len(names),
            names[0],
            type(exc).__name__,
            exc,
        )
