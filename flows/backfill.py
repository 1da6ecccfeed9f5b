"""backfill: import the assets that earlier runs left behind.

Candidates are assets that failed, imports that died (pending for longer than
reelflow.cleanup.CLAIM_TTL), assets stored while the episode still shows a temporary URL, and
episodes that show a temporary URL but have no asset row at all. The temporary URL imported is
the episode's *_source_url (the one it last received).

In batches of `batch_size`, up to `limit` assets:
1. claim a batch (PostgreSQL: SELECT ... FOR UPDATE SKIP LOCKED, marking claimed_at, so two
   backfills running at once never take the same asset; SQLite has a single writer);
2. move it with flows.transfer.transfer_assets - the import's own download, prepare, upload
   and record tasks, retries and progress;
3. release the claims; failures are recorded on the asset rows as in an import.
Each asset is tried at most once per run.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Annotated

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.client.schemas.objects import State
from prefect.states import Completed, Failed
from pydantic import Field

from flows.progress import Progress
from flows.runner import SettingsThreadPoolTaskRunner
from flows.transfer import transfer_assets
from reelflow.cleanup import BackfillLine, BackfillReport
from reelflow.models import AssetOutcome
from reelflow.settings import get_settings
from tasks.backfill import claim_backfill, count_backfill, list_backfill, release_backfill

__all__ = ["backfill"]

MAX_REPORT_LINES = 1000


def _lines(outcomes: Sequence[AssetOutcome]) -> list[BackfillLine]:
    return [
        BackfillLine(
            movie_id=o.job.movie_id,
            episode=o.job.number,
            kind=o.job.kind,
            status=o.status,
            key=o.key,
            error=o.error,
        )
        for o in outcomes
    ]


def _publish(report: BackfillReport) -> None:
    if report.lines:
        create_table_artifact(
            key="backfill-report",
            table=[line.model_dump() for line in report.lines],
            description=report.headline(),
        )
    create_markdown_artifact(
        key="backfill-summary",
        markdown="\n".join(
            [
                "# Backfill" + (" (dry run)" if report.dry_run else ""),
                "",
                report.headline(),
                "",
                "| candidates | claimed | stored | uploaded | already stored | failed | batches |",
                "|---|---|---|---|---|---|---|",
                f"| {report.candidates} | {report.claimed} | {report.stored} | {report.uploaded} "
                f"| {report.skipped} | {report.failed} | {report.batches} |",
            ]
        ),
        description=report.headline(),
    )


@flow(
    name="backfill",
    task_runner=SettingsThreadPoolTaskRunner(),  # type: ignore[arg-type]
    validate_parameters=True,
)
def backfill(
    limit: Annotated[int, Field(ge=1)] | None = None,
    batch_size: Annotated[int, Field(ge=1)] | None = None,
    dry_run: bool = False,
) -> State[BackfillReport]:
    """Import up to `limit` assets that are still on temporary URLs or failed before."""
    started = time.monotonic()
    settings = get_settings()
    logger = get_run_logger()
    limit = limit or settings.backfill_limit
    batch_size = batch_size or settings.backfill_batch_size
    candidates = count_backfill()
    logger.info("%d assets need a backfill (this run takes up to %d)", candidates, limit)

    if dry_run:
        found = list_backfill(min(limit, MAX_REPORT_LINES))
        report = BackfillReport(
            dry_run=True,
            candidates=candidates,
            lines=[
                BackfillLine(
                    movie_id=row["movie_id"],
                    episode=row["episode"],
                    kind=row["kind"],
                    status=row["status"],
                    error=row["error"],
                )
                for row in found
            ],
            seconds=round(time.monotonic() - started, 3),
        )
        _publish(report)
        logger.info(report.headline())
        return Completed(message=report.headline(), data=report)

    progress = Progress(
        min(candidates, limit), key="backfill-progress", description="Assets backfilled"
    )
    outcomes: list[AssetOutcome] = []
    after_id, batches = 0, 0
    while len(outcomes) < limit:
        claimed = claim_backfill(after_id, min(batch_size, limit - len(outcomes)))
        if not claimed.items:
            break
        after_id, batches = claimed.last_id, batches + 1
        progress.total = max(progress.total, progress.done + len(claimed.items))
        logger.info("Batch %d: %d assets claimed", batches, len(claimed.items))
        try:
            outcomes += transfer_assets(claimed.jobs, settings, progress)
        finally:
            release_backfill(claimed.asset_ids)

    failed = [o for o in outcomes if o.status == "failed"]
    report = BackfillReport(
        dry_run=False,
        candidates=candidates,
        claimed=len(outcomes),
        stored=sum(1 for o in outcomes if o.status == "stored"),
        uploaded=sum(1 for o in outcomes if o.uploaded),
        skipped=sum(1 for o in outcomes if o.status == "skipped"),
        failed=len(failed),
        batches=batches,
        seconds=round(time.monotonic() - started, 3),
        lines=_lines((failed + [o for o in outcomes if o.status != "failed"])[:MAX_REPORT_LINES]),
    )
    _publish(report)
    logger.info(report.headline())
    for outcome in failed[:50]:
        logger.error("%s failed: %s", outcome.job.label, outcome.error)
    if report.failed:
        name = "Partial" if report.stored + report.skipped else "Failed"
        return Failed(name=name, message=report.headline(), data=report)
    return Completed(message=report.headline(), data=report)
