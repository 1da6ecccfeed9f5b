"""Tasks of the orphan sweep: list one page, look one page up in the database, count what the
database references, settle a page's deletions. Deleting reuses tasks.purge.delete_objects."""

from __future__ import annotations

from dataclasses import dataclass

from reelflow.adapters.db import sweep
from reelflow.adapters.storage import ObjectPage
from reelflow.services import resources
from tasks.retry import io_task


@dataclass(frozen=True)
class PageRefs:
    """Which keys of a page the database references, and which it owes a purge."""

    referenced: frozenset[str]
    owed: frozenset[str]


@io_task("list-objects-page")
def list_objects_page(bucket: str, prefix: str, token: str | None) -> ObjectPage:
    """Up to 1000 objects under prefix (one listing request)."""
    return resources.store().list_page(bucket, prefix, token)


@io_task("lookup-references")
def lookup_references(bucket: str, page: ObjectPage) -> PageRefs:
    """One query for the whole page: asset keys, episode s3:// URLs and purge_queue rows."""
    referenced, owed = sweep.page_references(resources.engine(), bucket, page.keys)
    return PageRefs(referenced=referenced, owed=owed)


@io_task("count-references")
def count_references(bucket: str) -> int:
    """How many objects of the bucket the database records (the empty/wrong database guard)."""
    return sweep.bucket_reference_count(resources.engine(), bucket)


@io_task("settle-sweep-page")
def settle_sweep_page(bucket: str, deleted: list[str], failed: list[tuple[str, str]]) -> int:
    """Queue what could not be deleted for a retry; flag assets that raced a deletion."""
    return sweep.settle_sweep(resources.engine(), bucket, deleted, failed)
