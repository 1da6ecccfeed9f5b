"""Task: prove already-recorded objects are still in S3 with the recorded sha256 (HEADs)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from reelflow.adapters import s3
from reelflow.core.models import AssetJob
from reelflow.services import resources
from tasks.outage import ride_out
from tasks.retry import io_task


def _verified(job: AssetJob) -> bool:
    if not (job.known_bucket and job.known_key and job.known_sha256):
        return False
    bucket, key = job.known_bucket, job.known_key
    found = ride_out("s3", lambda: s3.head_sha256(resources.s3_client(), bucket, key))
    return found == job.known_sha256


@io_task("verify-stored")
def verify_stored(jobs: list[AssetJob]) -> list[bool]:
    """For each job: True when S3 holds its known key with the known sha256 (nothing to do).

    One task run per batch, HEADs issued concurrently: re-running a 1,000-episode import costs
    a few task runs, not two thousand.
    """
    if not jobs:
        return []
    with ThreadPoolExecutor(max_workers=min(16, len(jobs))) as pool:
        return list(pool.map(_verified, jobs))
