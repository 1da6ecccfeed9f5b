"""Tasks of the backfill: count, list (dry run), claim and release the assets that need one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reelflow.adapters.db import claims
from reelflow.core.models import AssetJob
from reelflow.services import resources
from reelflow.settings import get_settings
from tasks.outage import ride_out
from tasks.retry import io_task


@dataclass(frozen=True)
class Claimed:
    """Assets this worker owns until it releases them: (asset id, job) and where to go on."""

    items: tuple[tuple[int, AssetJob], ...]
    last_id: int

    @property
    def jobs(self) -> list[AssetJob]:
        return [job for _, job in self.items]

    @property
    def asset_ids(self) -> list[int]:
        return [asset_id for asset_id, _ in self.items]


@io_task("count-backfill")
def count_backfill(renditions: bool = False) -> int:
    """Assets a backfill would take; `renditions`: stored thumbnails whose ladder or
    placeholder is incomplete (`backfill --renditions`)."""
    if renditions:
        settings = get_settings()
        return claims.count_renditions(
            resources.engine(),
            settings.image_ladder(),
            max_failures=settings.backfill_max_failures,
        )
    return claims.count_backfill(resources.engine())


@io_task("list-backfill")
def list_backfill(limit: int, renditions: bool = False) -> list[dict[str, Any]]:
    """What a backfill would claim; changes nothing (dry run)."""
    if renditions:
        settings = get_settings()
        return claims.renditions_candidates(
            resources.engine(),
            settings.image_ladder(),
            limit=limit,
            max_failures=settings.backfill_max_failures,
        )
    return claims.backfill_candidates(resources.engine(), limit=limit)


@io_task("claim-backfill")
def claim_backfill(after_id: int, limit: int, renditions: bool = False) -> Claimed:
    """Claim up to `limit` assets (FOR UPDATE SKIP LOCKED on PostgreSQL)."""
    settings = get_settings()
    if renditions:
        items, last_id = ride_out(
            "database",
            lambda: claims.claim_renditions(
                resources.engine(),
                settings.image_ladder(),
                after_id=after_id,
                limit=limit,
                max_failures=settings.backfill_max_failures,
            ),
        )
    else:
        items, last_id = ride_out(
            "database",
            lambda: claims.claim_backfill(resources.engine(), after_id=after_id, limit=limit),
        )
    return Claimed(items=tuple(items), last_id=last_id)


@io_task("release-backfill")
def release_backfill(asset_ids: list[int], untouched: bool = False) -> None:
    """Give claims back; `untouched`: the batch did not start on them (their movie is busy)."""
    ride_out(
        "database",
        lambda: claims.release_claims(resources.engine(), asset_ids, untouched=untouched),
    )
