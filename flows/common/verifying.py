"""The verify loop, shared by the verify flow and `reelflow bench verify` (which runs it with
the tasks' plain functions, without orchestration). Composition only: tasks do the I/O, the
judgement is reelflow.core.verify.judge.

Per batch of stored assets, read in S3's key order:
1. list the key range the batch spans under each managed prefix (ListObjectsV2: a thousand
   objects and their sizes per request, where HEAD costs a request per object), so memory
   holds one batch and its listing;
2. judge presence and size from the listing;
3. unless size_only, HEAD the objects whose size matched (concurrently, tasks.verify.
   verify_stored, the import's own check) for the sha256 their upload stored;
4. with execute, mark what is missing or differs (tasks.verify.mark_unverified).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flows.common.progress import Progress
from reelflow.core.reports import VerifyLine, VerifyReport
from reelflow.core.verify import Problem, StoredObject, describe, judge
from tasks.verify import Listing, as_job, list_ranges, load_stored, mark_unverified, verify_stored

__all__ = ["Steps", "verify_objects"]

MAX_REPORT_LINES = 1000


@dataclass(frozen=True)
class Steps:
    """The I/O steps: Prefect tasks in the flow; the benchmark passes their plain functions."""

    load: Callable[..., list[StoredObject]] = load_stored
    listing: Callable[..., Listing] = list_ranges
    heads: Callable[..., list[bool]] = verify_stored
    mark: Callable[..., int] = mark_unverified


def key_ranges(batch: list[StoredObject]) -> list[tuple[str, str, str]]:
    """(bucket, first key, last key) of the batch per bucket and managed prefix: the batch is
    in key order, so each range holds its keys and, at most, objects the database does not
    record there (which the sweep deals with)."""
    ranges: dict[tuple[str, str], tuple[str, str]] = {}
    for obj in batch:
        group = (obj.bucket, obj.key.split("/", 1)[0])
        first, last = ranges.get(group, (obj.key, obj.key))
        ranges[group] = (min(first, obj.key), max(last, obj.key))
    return [(bucket, first, last) for (bucket, _), (first, last) in ranges.items()]


def _noter(
    found: list[tuple[StoredObject, Problem, str]],
) -> Callable[[StoredObject, Problem | None, int | None], None]:
    def note(obj: StoredObject, problem: Problem | None, listed: int | None) -> None:
        if problem is not None:
            error = describe(problem, obj.bytes, listed, obj.bucket, obj.key)
            found.append((obj, problem, error))

    return note


def verify_objects(
    report: VerifyReport,
    *,
    execute: bool,
    movie_id: str | None,
    limit: int,
    size_only: bool,
    batch_size: int,
    progress: Progress | None,
    steps: Steps = Steps(),  # noqa: B008 - frozen, shared safely
) -> VerifyReport:
    """Check up to `limit` stored objects; fill in and return `report`."""
    after: tuple[str, str] | None = None
    while report.checked < limit:
        batch = steps.load(after, min(batch_size, limit - report.checked), movie_id)
        if not batch:
            break
        report.batches += 1
        after = (batch[-1].bucket, batch[-1].key)
        listing = steps.listing(key_ranges(batch))
        sizes = listing.sizes
        report.listings += listing.requests

        found: list[tuple[StoredObject, Problem, str]] = []
        note = _noter(found)

        to_head: list[StoredObject] = []
        for obj in batch:
            listed = sizes.get((obj.bucket, obj.key))
            problem = judge(obj.bytes, obj.sha256, listed)
            note(obj, problem, listed)
            if problem is None and not size_only and obj.sha256:
                to_head.append(obj)
        if to_head:
            report.heads += len(to_head)
            same = steps.heads([as_job(obj) for obj in to_head])
            for obj, intact in zip(to_head, same, strict=True):
                listed = sizes[(obj.bucket, obj.key)]
                found_sha = obj.sha256 if intact else None
                note(obj, judge(obj.bytes, obj.sha256, listed, found_sha), listed)

        for obj, problem, error in found:
            if problem == "missing":
                report.missing += 1
            elif problem == "size":
                report.size += 1
            else:
                report.sha256_mismatch += 1
            if len(report.lines) < MAX_REPORT_LINES:
                report.lines.append(
                    VerifyLine(
                        status=problem,
                        movie_id=obj.movie_id,
                        episode=obj.episode,
                        kind=obj.kind,
                        error=error,
                        asset_id=obj.asset_id,
                        key=obj.key,
                    )
                )
        if execute and found:
            report.marked += steps.mark([(obj, error) for obj, _, error in found])
        report.checked += len(batch)
        report.intact += len(batch) - len(found)
        if progress is not None:
            for _ in batch:
                progress.advance()
    return report
