"""The two passes of the orphan sweep, shared by the orphan-cleanup flow and `reelflow bench
sweep` (which runs the census without orchestration): list pages, take the census, delete
what is still an orphan within the approved budget. Composition only: tasks do the I/O."""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Callable, Iterator
from typing import Protocol

from prefect import get_run_logger

from reelflow.adapters.storage import ObjectPage
from reelflow.core.keys import MANAGED_PREFIXES
from reelflow.core.purge import batched
from reelflow.core.reports import PurgeFailure
from reelflow.core.sweep import Census, classify, within_budget
from reelflow.settings import Settings
from tasks.purge import delete_objects
from tasks.sweep import PageRefs, list_objects_page, lookup_references, settle_sweep_page

__all__ = ["delete_orphans", "pages", "take_census"]

LookupFn = Callable[[str, ObjectPage], PageRefs]


class _Pending(Protocol):
    def result(self) -> ObjectPage: ...


SubmitFn = Callable[[str, str, "str | None"], _Pending]


def pages(bucket: str, submit: SubmitFn | None = None) -> Iterator[ObjectPage]:
    """Every page under the managed prefixes. The prefixes are listed side by side and the
    next page of a prefix is requested as soon as its current one arrives, so listing
    overlaps with the caller's work on the page; at most one request per prefix is in flight
    and at most one page per prefix waits: memory stays constant. A listing error raises
    (an incomplete census must never lead to a deletion)."""
    if submit is None:
        submit = list_objects_page.submit
    pending = deque(submit(bucket, prefix, None) for prefix in MANAGED_PREFIXES)
    while pending:
        page = pending.popleft().result()
        if page.next_token:
            pending.append(submit(bucket, page.prefix, page.next_token))
        yield page


def take_census(
    bucket: str,
    cutoff: dt.datetime,
    *,
    submit: SubmitFn | None = None,
    lookup: LookupFn = lookup_references,
) -> Census:
    """Pass 1: classify every listed object; keep tallies only. (The benchmark passes the
    tasks' plain functions to measure this same code without orchestration.)"""
    census = Census()
    for page in pages(bucket, submit):
        refs = lookup(bucket, page)
        for obj in page.objects:
            census.add(
                obj, classify(obj, referenced=refs.referenced, owed=refs.owed, cutoff=cutoff)
            )
    return census


def delete_orphans(
    bucket: str, cutoff: dt.datetime, budget: int, settings: Settings
) -> tuple[int, int, list[PurgeFailure], int]:
    """Pass 2: delete what is still an orphan, page by page, within `budget`.

    Returns (deleted, deleted bytes, failures, deferred)."""
    logger = get_run_logger()
    deleted = deleted_bytes = deferred = 0
    failures: list[PurgeFailure] = []
    for page in pages(bucket):
        refs = lookup_references(bucket, page)  # fresh: rows committed since pass 1 count
        orphans = {
            obj.key: obj.size
            for obj in page.objects
            if classify(obj, referenced=refs.referenced, owed=refs.owed, cutoff=cutoff) == "orphan"
        }
        take, later = within_budget(sorted(orphans), budget - deleted - len(failures))
        deferred += len(later)
        for batch in batched(take, settings.purge_batch_size):
            state = delete_objects(bucket, batch, return_state=True)
            if state.is_completed():
                outcome = state.result()
                gone = list(outcome.deleted)
                failed = [(f.key, f.describe()) for f in outcome.failures]
            else:
                error = state.result(raise_on_failure=False)
                gone, failed = [], [(key, f"{type(error).__name__}: {error}") for key in batch]
            flagged = settle_sweep_page(bucket, gone, failed)
            if flagged:
                logger.warning(
                    "%d assets were recorded while their object was being deleted: marked "
                    "failed so a backfill imports them again",
                    flagged,
                )
            deleted += len(gone)
            deleted_bytes += sum(orphans[key] for key in gone)
            failures += [PurgeFailure(bucket=bucket, key=k, error=e) for k, e in failed]
    return deleted, deleted_bytes, failures, deferred
