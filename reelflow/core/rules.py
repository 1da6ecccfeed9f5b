"""Import rules, pure: where each asset of an episode comes from, what an import may skip, what a
replacement owes (a purge, a CDN invalidation), where a backfill reads, and when a backfill
gives up on an asset (dead letters).

The database adapters (reelflow.adapters.db.imports, .claims) ask these functions and act on
the answer inside their transactions; tests/unit/test_import_rules.py holds their tables.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from reelflow.core.cdn import versioned
from reelflow.core.keys import AssetKind

__all__ = [
    "CLAIM_TTL",
    "FailedAs",
    "after_failure",
    "already_stored",
    "asset_sources",
    "is_temporary",
    "owes_invalidation",
    "pick_source_url",
    "replaced_object",
]

# A backfill claim older than this is considered abandoned (its worker died) and may be
# claimed again. Claims are released at the end of every batch, so this only matters after
# a crash.
CLAIM_TTL = dt.timedelta(hours=2)


def is_temporary(url: str | None) -> bool:
    """A URL the app still serves from the source (not yet an s3:// object of ours)."""
    return bool(url) and not str(url).startswith("s3://")


def asset_sources(
    thumbnail_url: str | None, video_preview_url: str | None, video_url: str | None
) -> list[tuple[AssetKind, str, bool]]:
    """(kind, source URL, from the full video) of each asset an episode of a manifest asks
    for: its own URL, or else the full-length video (a poster for the thumbnail, a clip for
    the preview); none for a kind with neither."""
    out: list[tuple[AssetKind, str, bool]] = []
    own: tuple[tuple[AssetKind, str | None], ...] = (
        ("thumbnail", thumbnail_url),
        ("preview", video_preview_url),
    )
    for kind, url in own:
        if url:
            out.append((kind, url, False))
        elif video_url:
            out.append((kind, video_url, True))
    return out


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


def owes_invalidation(
    *,
    cdn: bool,
    uploaded: bool,
    previous: tuple[str | None, str | None] | None,
    new: tuple[str, str],
) -> bool:
    """A stored object whose CDN path must be invalidated in the same transaction: with a CDN
    in front (`cdn`), new bytes were uploaded under the very (bucket, key) the asset already
    had, and that key carries no content version (a ready-made preview's seed key), so edge
    caches may still serve the old bytes. A new key, a versioned key or an upload skipped
    (the same bytes were there) owes nothing; nor does a first upload (no cache holds it)."""
    return cdn and uploaded and previous == new and not versioned(new[1])


def pick_source_url(
    current_url: str | None, episode_source_url: str | None, asset_source_url: str | None
) -> str | None:
    """The temporary URL to import from: the one the episode last received, else the
    episode's current URL if it is still temporary, else the one the asset row remembers."""
    for url in (episode_source_url, current_url, asset_source_url):
        if url and is_temporary(url):
            return url
    return None


@dataclass(frozen=True)
class FailedAs:
    """What an asset row becomes after a run failed to import it."""

    status: Literal["stored", "failed", "abandoned"]
    backfill_failures: int


def after_failure(
    *,
    run: Literal["import", "backfill", "renditions"],
    status: str | None,
    same_source: bool,
    retryable: bool,
    backfill_failures: int,
    max_failures: int,
) -> FailedAs:
    """The dead-letter rule: the row's new status after `run` failed to import an asset that
    was `status`, from the URL it last tried (`same_source`) or a new one.

    - A backfill gives up (`abandoned`, never claimed again until `reelflow retry`) on an
      error that cannot go away (`retryable` False: a 404, unsupported media, a blocked URL)
      or when this is its `max_failures`-th failed backfill in a row; otherwise `failed`,
      for the next backfill. Every failed backfill counts one.
    - An import never abandons: it is an explicit request. An abandoned asset that fails
      again from the *same* URL stays abandoned (the hourly backfill would only fetch that
      URL again); a *new* URL is new content: `failed`, its count starts over, and the
      backfill retries it. A stored asset whose new source failed stays stored (its object
      still serves).
    - A `backfill --renditions` that fails to make an asset's renditions leaves it stored
      (its object still serves) and counts the failure: the renditions claim stops taking it
      after `max_failures` in a row.
    """
    if run == "renditions":
        return FailedAs("stored" if status == "stored" else "failed", backfill_failures + 1)
    if run == "backfill":
        count = backfill_failures + 1
        give_up = not retryable or count >= max_failures
        return FailedAs("abandoned" if give_up else "failed", count)
    if status == "stored":
        return FailedAs("stored", backfill_failures)
    if not same_source:
        return FailedAs("failed", 0)
    if status == "abandoned":
        return FailedAs("abandoned", backfill_failures)
    return FailedAs("failed", backfill_failures)
