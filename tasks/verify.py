"""Tasks of verification: prove recorded objects are still in the store with the recorded sha256
(HEADs; an import's check of known-stored assets, and the verify flow's), read the stored
assets in batches, list the key ranges they span, mark what is missing or differs."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial

from reelflow.adapters.db import verify as stored
from reelflow.adapters.storage import list_range
from reelflow.core.models import AssetJob
from reelflow.core.outage import Gate
from reelflow.core.verify import StoredObject
from reelflow.services import resources
from tasks.outage import gate as outage_gate
from tasks.retry import io_task

LIST_CONCURRENCY = 8  # key ranges listed at once
HEAD_CONCURRENCY = 16  # HEADs in flight at once


def _verified(gate: Gate, job: AssetJob) -> bool:
    if not (job.known_bucket and job.known_key and job.known_sha256):
        return False
    bucket, key = job.known_bucket, job.known_key
    found = gate.call(lambda: resources.store().head(bucket, key))
    return found is not None and found.sha256 == job.known_sha256


@io_task("verify-stored")
def verify_stored(jobs: list[AssetJob]) -> list[bool]:
    """For each job: True when the store holds its known key with the known sha256 (nothing to do).

    One task run per batch, HEADs issued concurrently: re-running a 1,000-episode import costs
    a few task runs, not two thousand.
    """
    if not jobs:
        return []
    gate = outage_gate("s3")  # the run's S3 gate: the pool's threads have no run context
    with ThreadPoolExecutor(max_workers=min(HEAD_CONCURRENCY, len(jobs))) as pool:
        return list(pool.map(partial(_verified, gate), jobs))


def as_job(obj: StoredObject) -> AssetJob:
    """A stored object as the known-stored job verify_stored checks (no source to fetch)."""
    return AssetJob(
        episode_id=0,
        movie_id=obj.movie_id,
        number=obj.episode,
        kind=obj.kind,  # type: ignore[arg-type]
        source_url="",
        known_bucket=obj.bucket,
        known_key=obj.key,
        known_sha256=obj.sha256,
    )


@dataclass(frozen=True)
class Listing:
    """Sizes of the listed objects, by (bucket, key), and the requests it took."""

    sizes: dict[tuple[str, str], int] = field(default_factory=dict)
    requests: int = 0


@io_task("count-stored")
def count_stored(movie_id: str | None) -> int:
    return stored.count_stored(resources.engine(), movie_id)


@io_task("load-stored")
def load_stored(
    after: tuple[str, str] | None, limit: int, movie_id: str | None
) -> list[StoredObject]:
    """The next `limit` assets recorded as stored, in (bucket, key) order."""
    return stored.stored_batch(resources.engine(), after=after, limit=limit, movie_id=movie_id)


@io_task("list-ranges")
def list_ranges(ranges: Sequence[tuple[str, str, str]]) -> Listing:
    """List each (bucket, first key, last key) range, side by side: one listing page gives a
    thousand keys with their sizes."""

    def one(item: tuple[str, str, str]) -> tuple[str, dict[str, int], int]:
        bucket, first, last = item
        sizes, requests = list_range(resources.store(), bucket, first, last)
        return bucket, sizes, requests

    sizes: dict[tuple[str, str], int] = {}
    requests = 0
    if ranges:
        with ThreadPoolExecutor(max_workers=min(LIST_CONCURRENCY, len(ranges))) as pool:
            for bucket, found, made in pool.map(one, ranges):
                sizes.update(((bucket, key), size) for key, size in found.items())
                requests += made
    return Listing(sizes=sizes, requests=requests)


@io_task("mark-unverified")
def mark_unverified(found: list[tuple[StoredObject, str]]) -> int:
    """Mark assets whose object is missing or differs, for the next backfill."""
    return stored.mark_unverified(resources.engine(), found)
