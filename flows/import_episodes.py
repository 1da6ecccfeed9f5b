"""import-episodes: bring a movie's episode previews from temporary URLs into S3.

0. load the manifest the submit step stored (the run's parameter is its ManifestRef; a small
   manifest typed into the Prefect UI form can be passed inline instead);
1. take the movie's lease (tasks/lease.py: one import or backfill per movie at a time; a second
   one exits saying which run has the movie), then upsert every episode with its temporary
   URLs (one transaction: the "instant" step);
2. skip assets the database records as stored from the same source, once S3 confirms the sha256;
3. move the rest through download -> prepare -> upload -> record in chunks (one task run per
   chunk, `import_concurrency` chunks at a time), each asset with its own retries inside its
   chunk (transient errors only, backoff with jitter);
4. mark what finally failed (episodes keep their temporary URLs) and report.

An import is an explicit request: it tries every asset of its manifest, abandoned ones (dead
letters) included, and never abandons one itself. An abandoned asset that is stored now is
stored; one that fails again from the same URL stays abandoned; from a new URL it becomes
`failed` with its count of failed backfills at 0, for the hourly backfill
(reelflow.core.rules.after_failure).
"""

from __future__ import annotations

import time

from prefect import flow, get_run_logger
from prefect.client.schemas.objects import State

from flows.common.progress import Progress
from flows.common.reporting import artifact_key, finish_transfer
from flows.common.runner import SettingsTaskRunner
from flows.common.transfer import transfer_assets
from reelflow.core.errors import ManifestError
from reelflow.core.manifest import Manifest, ManifestRef
from reelflow.core.reports import TransferReport
from reelflow.services import resources
from reelflow.settings import get_settings
from tasks.cdn import invalidate_cdn
from tasks.episodes import load_manifest, upsert_episodes
from tasks.lease import holding, new_holder, take_movie_leases
from tasks.retry import apply_retry_policy

__all__ = ["import_episodes"]


def _run_name() -> str:
    from prefect.runtime import flow_run

    params = flow_run.parameters
    for name in ("manifest_ref", "manifest"):
        given = params.get(name)
        movie_id = getattr(given, "movie_id", None) or (
            given.get("movie_id") if isinstance(given, dict) else None
        )
        if movie_id:
            return f"import-{movie_id}"
    return "import"


@flow(
    name="import-episodes",
    flow_run_name=_run_name,
    task_runner=SettingsTaskRunner(),
    validate_parameters=True,
)
def import_episodes(
    manifest_ref: ManifestRef | None = None, manifest: Manifest | None = None
) -> State[TransferReport]:
    """Import a movie's thumbnails and video previews into S3 and record them.

    Args:
        manifest_ref: A manifest stored by `reelflow import MANIFEST.json --submit` (any size
            up to 20,000 episodes): its movie_id, sha256 and episode count. Submitting
            through the CLI fills this in.
        manifest: Or the manifest itself, for a small one typed into this form. Prefect limits
            a run's parameters to 512 KB (about 450 episodes with signed URLs), and keeps them
            in its own database: prefer manifest_ref.
    """
    started = time.monotonic()
    settings = get_settings()
    apply_retry_policy(settings)
    if (manifest_ref is None) == (manifest is None):
        raise ManifestError(
            "the import takes exactly one of manifest_ref (a stored manifest) or manifest"
        )
    if manifest is None:
        assert manifest_ref is not None
        manifest = load_manifest(manifest_ref)
    # One run per movie at a time: a second import exits saying which run has the movie.
    holder = new_holder()
    take_movie_leases([manifest.movie_id], holder, _run_name())
    with holding([manifest.movie_id], holder):
        jobs = upsert_episodes(manifest)
        get_run_logger().info(
            "Recorded %d episodes; %d assets to check", len(manifest.episodes), len(jobs)
        )
        progress = Progress(
            len(jobs),
            key=artifact_key("import", manifest.movie_id),
            description=f"Assets of movie {manifest.movie_id} imported",
        )
        moved = transfer_assets(jobs, settings, progress)
        if resources.purger(settings) is not None:
            invalidate_cdn()  # ready-made previews replaced under their key
    return finish_transfer(
        moved.outcomes,
        run="import",
        movie_id=manifest.movie_id,
        episodes=len(manifest.episodes),
        bucket=settings.s3_bucket_name,
        seconds=time.monotonic() - started,
        unrecorded=moved.unrecorded,
        unrecorded_reason=moved.unrecorded_reason,
    )
