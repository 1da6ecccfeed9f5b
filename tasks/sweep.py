"""Tasks of the orphan sweep: list one page, look one page up in the database, count what the
database references, settle a page's deletions. Deleting reuses tasks.purge.delete_objects."""

from __future__ import annotations

from dataclasses import dataclass

from prefect import task
from prefect.cache_policies import NONE

from reelflow import purge, repository, resources


@dataclass(frozen=True)
class PageRefs:
    """Which keys of a page the database references, and which it owes a purge."""

    referenced: frozenset[str]
    owed: frozenset[str]


@task(name="list-objects-page", cache_policy=NONE)
def list_objects_page(bucket: str, prefix: str, token: str | None) -> purge.ObjectPage:
    """Up to 1000 objects under prefix (one ListObjectsV2 request)."""
    return purge.list_page(resources.s3_client(), bucket, prefix, token)


@task(name="lookup-references", cache_policy=NONE, retries=2, retry_delay_seconds=1)
def lookup_references(bucket: str, page: purge.ObjectPage) -> PageRefs:
    """One query for the whole page: asset keys, episode s3:// URLs and purge_queue rows."""
    referenced, owed = repository.page_references(resources.engine(), bucket, page.keys)
    return PageRefs(referenced=referenced, owed=owed)


@task(name="count-references", cache_policy=NONE, retries=2, retry_delay_seconds=1)
def count_references(bucket: str) -> int:
    """How many objects of the bucket the database records (the empty/wrong database guard)."""
    return repository.bucket_reference_count(resources.engine(), bucket)


@task(name="settle-sweep-page", cache_policy=NONE, retries=2, retry_delay_seconds=1)
def settle_sweep_page(bucket: str, deleted: list[str], failed: list[tuple[str, str]]) -> int:
    """Queue what could not be deleted for a retry; flag assets that raced a deletion."""
    return repository.settle_sweep(resources.engine(), bucket, deleted, failed)
