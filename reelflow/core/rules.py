"""Import rules, pure: what an import may skip, what a replacement owes, where a backfill reads.

The database adapters (reelflow.adapters.db.imports, .claims) ask these functions and act on
the answer inside their transactions; tests/unit/test_import_rules.py holds their tables.
"""

from __future__ import annotations

import datetime as dt

__all__ = ["CLAIM_TTL", "already_stored", "is_temporary", "pick_source_url", "replaced_object"]

# A backfill claim older than this is considered abandoned (its worker died) and may be
# claimed again. Claims are released at the end of every batch, so this only matters after
# a crash.
CLAIM_TTL = dt.timedelta(hours=2)


def is_temporary(url: str | None) -> bool:
    """A URL the app still serves from the source (not yet an s3:// object of ours)."""
    return bool(url) and not str(url).startswith("s3://")


def already_stored(status: str | None, stored_source_url: str | None, wanted_url: str) -> bool:
    """An import may skip an asset (after S3 confirms its sha256) only when the row says it is
    stored *from the same temporary URL*: a new URL means new content to import."""
    return status == "stored" and stored_source_url == wanted_url


def replaced_object(
    previous: tuple[str | None, str | None] | None, new: tuple[str, str]
) -> tuple[str, str] | None:
    """The (bucket, key) a new upload leaves behind, which the same transaction must queue for
    purge (say the thumbnail moved from .jpg to .webp); None when nothing is left behind."""
    if previous is None:
        return None
    bucket, key = previous
    if not bucket or not key or (bucket, key) == new:
        return None
    return bucket, key


def pick_source_url(
    current_url: str | None, episode_source_url: str | None, asset_source_url: str | None
) -> str | None:
    """The temporary URL to import from: the one the episode last received, else the
    episode's current URL if it is still temporary, else the one the asset row remembers."""
    for url in (episode_source_url, current_url, asset_source_url):
        if url and is_temporary(url):
            return url
    return None
