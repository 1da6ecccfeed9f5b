"""Tasks of the backfill: count, list (dry run), claim and release the assets that need one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prefect import task
from prefect.cache_policies import NONE

from reelflow import repository, resources
from reelflow.models import AssetJob


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


@task(name="count-backfill", cache_policy=NONE, retries=2, retry_delay_seconds=1)
def count_backfill() -> int:
    return repository.count_backfill(resources.engine())


@task(name="list-backfill", cache_policy=NONE, retries=2, retry_delay_seconds=1)
def list_backfill(limit: int) -> list[dict[str, Any]]:
    """What a backfill would claim; changes nothing (dry run)."""
    return repository.backfill_candidates(resources.engine(), limit=limit)


@task(name="claim-backfill", cache_policy=NONE, retries=2, retry_delay_seconds=1)
def claim_backfill(after_id: int, limit: int) -> Claimed:
    """Claim up to `limit` assets (FOR UPDATE SKIP LOCKED on PostgreSQL)."""
    items, last_id = repository.claim_backfill(resources.engine(), after_id=after_id, limit=limit)
    return Claimed(items=tuple(items), last_id=last_id)


@task(name="release-backfill", cache_policy=NONE, retries=2, retry_delay_seconds=1)
def release_backfill(asset_ids: list[int]) -> None:
    repository.release_claims(resources.engine(), asset_ids)
