"""orphan-cleanup: find objects nothing references and, when asked, delete them - safely.

Dry run by default. Two passes, so the safety cap is decided before anything is deleted and
memory stays constant (a page or two at a time, never the whole key list):

1. census (flows/common/sweeping.py): list the managed prefixes page by page (1000 objects;
   both prefixes side by side, the next page requested while the current one is looked up);
   look each page up in the
   database with one query (asset keys, episode s3:// URLs, purge_queue); classify every
   object (reelflow.core.sweep.classify: live, foreign, owed, young, orphan) into tallies;
2. decide (reelflow.core.sweep.decide_cap): refuse when the database records nothing in this
   bucket, or none of the listed objects (the wrong or an empty database: `force` does not
   lift this), or when orphans exceed `max_fraction` of the listed objects (unless `force`).
   An executed sweep that is refused ends Failed with the reason (SweepRefused as its data)
   before any deletion;
3. execute only: drain purge_queue (owed keys, no grace period), then list again and, page by
   page, look each page up again and delete what is *still* an orphan under the same cut-off,
   never more than pass 1 approved; what cannot be deleted is queued in purge_queue.

The grace period protects objects uploaded by an import whose row is not committed yet.
A listing error fails the run: an incomplete census never leads to a deletion.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Annotated

from prefect import flow, get_run_logger
from prefect.client.schemas.objects import State
from prefect.states import Failed
from prefect.task_runners import ThreadPoolTaskRunner
from pydantic import Field

from flows.common.naming import sweep_name
from flows.common.purging import drain
from flows.common.reporting import finish, publish
from flows.common.sweeping import delete_orphans, take_census
from reelflow.core.errors import SweepRefused
from reelflow.core.keys import MANAGED_PREFIXES
from reelflow.core.reports import SweepReport, sweep_report
from reelflow.core.sweep import as_utc, cutoff_for, decide_cap
from reelflow.core.units import human_size
from reelflow.settings import get_settings
from tasks.retry import apply_retry_policy
from tasks.sweep import count_references

__all__ = ["measured_at", "orphan_cleanup"]


def _publish(report: SweepReport) -> None:
    publish(
        "orphan-sweep-report",
        f"Orphan sweep of `{report.bucket}` ({report.mode})",
        report.headline(),
        [{"key": f"`{f.key}`", "error": f.error} for f in report.failures],
        notes=[
            f"cut-off: {report.cutoff.isoformat()} (grace {report.grace_hours} h)",
            f"listed: {report.listed} objects, {human_size(report.listed_bytes)}",
            f"objects the database references in this bucket: {report.references}",
            f"cap: {report.decision}",
        ],
        table_key="orphan-sweep",
        table=[
            {
                "category": line.category,
                "count": line.count,
                "size": human_size(line.bytes),
                "meaning": line.meaning,
                "sample keys": ", ".join(line.samples[:5]),
            }
            for line in report.categories
        ],
    )


# The moment the grace period is measured from: the run's start, unless a test moves it with
# `measured_at`. Not a parameter, so no deployment form can move an operator's clock.
_CLOCK: ContextVar[dt.datetime | None] = ContextVar("reelflow_sweep_clock", default=None)


@contextmanager
def measured_at(moment: dt.datetime) -> Iterator[None]:
    """Sweeps run in this block measure the grace period from `moment` (tests, what-ifs)."""
    token = _CLOCK.set(moment)
    try:
        yield
    finally:
        _CLOCK.reset(token)


@flow(
    name="orphan-cleanup",
    flow_run_name=sweep_name,
    task_runner=ThreadPoolTaskRunner(max_workers=len(MANAGED_PREFIXES) + 1),  # type: ignore[arg-type]
    validate_parameters=True,
)
def orphan_cleanup(
    execute: bool = False,
    grace_hours: Annotated[float, Field(ge=0)] | None = None,
    max_fraction: Annotated[float, Field(gt=0, le=1)] | None = None,
    force: bool = False,
) -> State[SweepReport]:
    """Report (and with execute=True delete) objects under the managed prefixes that nothing
    references and that are older than the grace period.

    grace_hours / max_fraction default to REELFLOW_ORPHAN_GRACE_HOURS (24) and
    REELFLOW_ORPHAN_MAX_FRACTION (0.10). `force` lifts the fraction cap only; a database that
    records nothing in the bucket always refuses. The grace period is measured from the start
    of the run (`measured_at` moves that moment for tests; no form can).
    """
    started = time.monotonic()
    settings = get_settings()
    apply_retry_policy(settings)
    logger = get_run_logger()
    bucket = settings.s3_bucket_name
    grace = settings.orphan_grace_hours if grace_hours is None else grace_hours
    cap = settings.orphan_max_fraction if max_fraction is None else max_fraction
    moment = as_utc(_CLOCK.get() or dt.datetime.now(dt.UTC))
    cutoff = cutoff_for(moment, grace)

    references = count_references(bucket)
    census = take_census(bucket, cutoff)
    decision = decide_cap(
        listed=census.listed,
        managed=census.managed,
        live=census.count("live"),
        orphans=census.count("orphan"),
        references=references,
        max_fraction=cap,
        force=force,
    )
    report = sweep_report(
        census,
        decision,
        bucket=bucket,
        execute=execute,
        now=moment,
        cutoff=cutoff,
        grace_hours=grace,
        max_fraction=cap,
        force=force,
        references=references,
    )
    logger.info(
        "Listed %d objects in %s: %s",
        census.listed,
        bucket,
        ", ".join(f"{n} {c.count}" for n, c in census.tallies.items()),
    )
    if not decision.allowed:
        report = report.model_copy(update={"seconds": round(time.monotonic() - started, 3)})
        _publish(report)
        if execute:  # an expected refusal: the run fails with the reason, not a traceback;
            # the reason is said once, as the Failed state's message (Prefect logs it)
            return Failed(message=decision.reason, data=SweepRefused(decision.reason, report))
        logger.warning("An executed sweep would be refused: %s", decision.reason)
        return finish(report)
    if not execute:
        report = report.model_copy(update={"seconds": round(time.monotonic() - started, 3)})
        _publish(report)
        return finish(report)

    if decision.forced:
        logger.warning("Cap lifted by force: %s", decision.reason)
    owed = drain(None, settings.purge_batch_size)
    deleted, deleted_bytes, failures, deferred = delete_orphans(
        bucket, cutoff, census.count("orphan"), settings
    )
    report = report.model_copy(
        update={
            "owed_purge": owed,
            "deleted": deleted,
            "deleted_bytes": deleted_bytes,
            "failed": len(failures),
            "deferred": deferred,
            "failures": failures[:100],
            "seconds": round(time.monotonic() - started, 3),
        }
    )
    _publish(report)
    return finish(report)
