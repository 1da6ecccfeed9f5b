"""import-episodes: bring a movie's episode previews from temporary URLs into S3.

1. upsert every episode with its temporary URLs (one transaction: the "instant" step);
2. skip assets the database records as stored from the same source, once S3 confirms the sha256;
3. move the rest through download -> prepare -> upload -> record, `import_concurrency` at a time,
   each step a task run with its own retries (transient errors only, backoff with jitter);
4. mark what finally failed (episodes keep their temporary URLs) and report.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact
from prefect.client.schemas.objects import State
from prefect.states import Completed, Failed

from flows.pipeline import StageResult, run_pipeline
from flows.progress import Progress
from flows.runner import SettingsThreadPoolTaskRunner
from reelflow.manifest import Manifest
from reelflow.models import AssetJob, AssetOutcome, Stored
from reelflow.settings import get_settings
from reelflow.summary import ImportSummary, summarize
from tasks.download import download_asset
from tasks.episodes import upsert_episodes
from tasks.prepare import prepare_asset
from tasks.record import record_failures, record_stored
from tasks.retry import retry_options
from tasks.upload import upload_asset
from tasks.verify import verify_stored


def artifact_key(prefix: str, movie_id: str) -> str:
    return f"{prefix}-{movie_id.lower().replace('_', '-')}"[:100]


def _outcome(result: StageResult) -> AssetOutcome:
    job: AssetJob = result.item
    if result.ok:
        stored: Stored = result.value
        return AssetOutcome(
            job=job,
            status="stored",
            bucket=stored.bucket,
            key=stored.key,
            source_bytes=stored.prepared.source_bytes,
            bytes=stored.prepared.bytes,
            attempts=stored.prepared.attempts,
            uploaded=stored.uploaded,
        )
    error = result.error
    message = f"{result.failed_stage}: {type(error).__name__}: {error}"
    return AssetOutcome(
        job=job, status="failed", error=message, attempts=getattr(error, "attempts", 1)
    )


@flow(
    name="import-episodes",
    flow_run_name="import-{manifest.movie_id}",
    task_runner=SettingsThreadPoolTaskRunner(),  # type: ignore[arg-type]
    validate_parameters=True,
)
def import_episodes(manifest: Manifest) -> State[ImportSummary]:
    """Import a movie's thumbnails and video previews into S3 and record them."""
    started = time.monotonic()
    settings = get_settings()
    logger = get_run_logger()

    jobs = upsert_episodes(manifest)
    logger.info("Recorded %d episodes; %d assets to check", len(manifest.episodes), len(jobs))

    known = [job for job in jobs if job.known_key]
    verified = dict(zip(known, verify_stored.map(known).result(), strict=True)) if known else {}
    skipped = [
        AssetOutcome(job=job, status="skipped", bucket=job.known_bucket, key=job.known_key)
        for job in known
        if verified.get(job)
    ]
    todo = [job for job in jobs if not verified.get(job)]

    progress = Progress(
        len(jobs),
        key=artifact_key("import", manifest.movie_id),
        description=f"Assets of movie {manifest.movie_id} imported",
    )
    for outcome in skipped:
        progress.advance(outcome)

    retry = retry_options(settings)
    spool = Path(tempfile.mkdtemp(prefix="reelflow-", dir=settings.spool_dir))
    outcomes = list(skipped)
    try:
        results = run_pipeline(
            todo,
            [
                (download_asset.with_options(**retry), {"spool_dir": str(spool)}),
                (prepare_asset, {}),
                (upload_asset.with_options(**retry), {}),
                (record_stored, {}),
            ],
            window=settings.import_concurrency * 2,
            on_done=lambda r: progress.advance(_outcome(r)),
        )
    finally:
        shutil.rmtree(spool, ignore_errors=True)
    outcomes += [_outcome(result) for result in results]

    failures = [(o.job, o.error or "", o.attempts) for o in outcomes if o.status == "failed"]
    if failures:
        record_failures(failures)

    summary = summarize(
        manifest.movie_id,
        len(manifest.episodes),
        settings.s3_bucket_name,
        outcomes,
        time.monotonic() - started,
    )
    if summary.lines:
        create_table_artifact(
            key=artifact_key("import-report", manifest.movie_id),
            table=[line.model_dump() for line in summary.lines],
            description=summary.headline(),
        )
    logger.info(summary.headline())
    if summary.failed == 0:
        return Completed(message=summary.headline(), data=summary)
    for line in summary.lines:
        if line.status == "failed":
            logger.error("ep%d %s failed: %s", line.episode, line.kind, line.error)
    name = "Partial" if summary.stored + summary.skipped else "Failed"
    return Failed(name=name, message=summary.headline(), data=summary)
