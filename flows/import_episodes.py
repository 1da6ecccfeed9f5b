"""import-episodes: bring a movie's episode previews from temporary URLs into S3.

1. upsert every episode with its temporary URLs (one transaction: the "instant" step);
2. skip assets the database records as stored from the same source, once S3 confirms the sha256;
3. move the rest through download -> prepare -> upload -> record, `import_concurrency` at a time,
   each step a task run with its own retries (transient errors only, backoff with jitter);
4. mark what finally failed (episodes keep their temporary URLs) and report.
"""

from __future__ import annotations

import time

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact
from prefect.client.schemas.objects import State
from prefect.states import Completed, Failed

from flows.progress import Progress
from flows.runner import SettingsThreadPoolTaskRunner
from flows.transfer import artifact_key, transfer_assets
from reelflow.manifest import Manifest
from reelflow.settings import get_settings
from reelflow.summary import ImportSummary, summarize
from tasks.episodes import upsert_episodes


def final_state(summary: ImportSummary) -> State[ImportSummary]:
    """Completed when every asset is stored; otherwise Failed, named Partial if some were."""
    logger = get_run_logger()
    logger.info(summary.headline())
    if summary.failed == 0:
        return Completed(message=summary.headline(), data=summary)
    for line in summary.lines:
        if line.status == "failed":
            logger.error("ep%d %s failed: %s", line.episode, line.kind, line.error)
    name = "Partial" if summary.stored + summary.skipped else "Failed"
    return Failed(name=name, message=summary.headline(), data=summary)


def report(summary: ImportSummary, key: str) -> None:
    if summary.lines:
        create_table_artifact(
            key=key,
            table=[line.model_dump() for line in summary.lines],
            description=summary.headline(),
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
    jobs = upsert_episodes(manifest)
    get_run_logger().info(
        "Recorded %d episodes; %d assets to check", len(manifest.episodes), len(jobs)
    )
    progress = Progress(
        len(jobs),
        key=artifact_key("import", manifest.movie_id),
        description=f"Assets of movie {manifest.movie_id} imported",
    )
    outcomes = transfer_assets(jobs, settings, progress)
    summary = summarize(
        manifest.movie_id,
        len(manifest.episodes),
        settings.s3_bucket_name,
        outcomes,
        time.monotonic() - started,
    )
    report(summary, artifact_key("import-report", manifest.movie_id))
    return final_state(summary)
